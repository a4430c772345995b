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

func TestParseHTTPDate(t *testing.T) {
	ref := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	tests := []struct {
		v  string
		t  time.Time
		ok bool
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", want, true},
		{"sUN, 06 nov 1994 08:49:37 gmt", want, true},
		{"Sunday, 06-Nov-94 08:49:37 GMT", want, true},
		{"Sun Nov  6 08:49:37 1994", want, true},
		{"Sun Nov 06 08:49:37 1994", want, true},
		{"Mon, 06 Nov 1994 08:49:37 GMT", want, true}, // the day name is not checked
		{"Tue, 31 Dec 2024 23:59:60 GMT", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"Thu, 29 Feb 2024 00:00:00 GMT", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"Wednesday, 01-Jan-73 00:00:00 GMT", time.Date(2073, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"Monday, 01-Jan-74 00:00:00 GMT", time.Date(1974, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"Monday, 01-Jan-00 00:00:00 GMT", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"Sun, 06 Nov 1994 08:49:37 GMT ", time.Time{}, false},
		{" Sun, 06 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun,  06 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 8:49:37 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49 GMT", time.Time{}, false},
		{"Sun, 6 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06 Nov 94 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06 November 1994 08:49:37 GMT", time.Time{}, false},
		{"Sunday, 06 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06-Nov-94 08:49:37 GMT", time.Time{}, false},
		{"Sunday, 06-Nov-1994 08:49:37 GMT", time.Time{}, false},
		{"Sun Nov 6 08:49:37 1994", time.Time{}, false},
		{"Sun Nov  6 08:49:37 1994 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49:37 UTC", time.Time{}, false},
		{"Sun, 00 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun, 31 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun, 29 Feb 2023 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 24:00:00 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:60:00 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49:61 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49:37 GMT\x00", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseHTTPDate(tt.v, ref)
		if !got.Equal(tt.t) || ok != tt.ok {
			t.Errorf("parseHTTPDate(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.t, tt.ok)
		}
	}
}

// FuzzParseHTTPDate checks that a date read is one of the three formats:
// written back in its IMF-fixdate form, it reads as the same time.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Thu, 18  Aug  2050 2:01:18 GMT"} {
		f.Add(s)
	}
	ref := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := parseHTTPDate(v, ref)
		if !ok {
			return
		}
		if got.Location() != time.UTC || got.Nanosecond() != 0 {
			t.Fatalf("parseHTTPDate(%q) = %v", v, got)
		}
		if again, ok := parseHTTPDate(got.Format(http.TimeFormat), ref); got.Year() >= 1000 && got.Year() <= 9999 && (!ok || !again.Equal(got)) {
			t.Fatalf("parseHTTPDate(%q) = %v, which reads back as %v, %v", v, got, again, ok)
		}
	})
}
