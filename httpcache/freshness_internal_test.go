package httpcache

import (
	"net/http"
	"testing"
	"time"
)

func TestAgeField(t *testing.T) {
	tests := []struct {
		lines []string
		age   time.Duration
		ok    bool
	}{
		{nil, 0, false},
		{[]string{"30"}, 30 * time.Second, true},
		{[]string{"0030"}, 30 * time.Second, true},
		{[]string{" 30 "}, 30 * time.Second, true},
		{[]string{"30, 7200"}, 30 * time.Second, true},
		{[]string{"7200,30"}, 7200 * time.Second, true},
		{[]string{"30", "7200"}, 30 * time.Second, true},
		{[]string{"", " , 30"}, 30 * time.Second, true},
		{[]string{"abc, 30"}, 0, false},
		{[]string{"-30"}, 0, false},
		{[]string{"30.0"}, 0, false},
		{[]string{"30;a=b"}, 0, false},
		{[]string{"3 0"}, 0, false},
		{[]string{""}, 0, false},
		{[]string{"2147483647"}, (1<<31 - 1) * time.Second, true},
		{[]string{"2147483648"}, 1 << 31 * time.Second, true},
		{[]string{"99999999999999999999999"}, 1 << 31 * time.Second, true},
	}
	for _, tt := range tests {
		age, ok := ageField(http.Header{"Age": tt.lines})
		if age != tt.age || ok != tt.ok {
			t.Errorf("ageField(%q) = %v, %v; want %v, %v", tt.lines, age, ok, tt.age, tt.ok)
		}
	}
}

// FuzzAgeField checks that any Age is either ignored or an age between 0
// and 2^31 seconds.
func FuzzAgeField(f *testing.F) {
	for _, s := range []string{"0", "30, 7200", "abc", "-1", "99999999999999999999", " ,,7"} {
		f.Add(s, "")
		f.Add(s, "0")
	}
	f.Fuzz(func(t *testing.T, first, second string) {
		age, ok := ageField(http.Header{"Age": {first, second}})
		if !ok && age != 0 || age < 0 || age > maxDeltaSeconds*time.Second {
			t.Fatalf("ageField(%q, %q) = %v, %v", first, second, age, ok)
		}
	})
}
