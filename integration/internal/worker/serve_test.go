package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"", nil},
		{"  \t ", nil},
		{"call 42", []string{"call", "42"}},
		{"  set\tk  v 1ms ", []string{"set", "k", "v", "1ms"}},
		{`set "a key with spaces" "from A"`, []string{"set", "a key with spaces", "from A"}},
		{`get "" "tab\tnl\n"`, []string{"get", "", "tab\tnl\n"}},
	} {
		t.Run(tc.line, func(t *testing.T) {
			got, err := splitArgs(tc.line)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("splitArgs(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
			}
		})
	}
	if got, err := splitArgs(`set "unterminated`); err == nil {
		t.Fatalf("splitArgs of an unterminated quote = %q, want an error", got)
	}
}

// FuzzSplitArgs checks that quoted arguments come back as they were.
func FuzzSplitArgs(f *testing.F) {
	f.Add("a key with spaces", "v")
	f.Add("", "\x00\n\"")
	f.Fuzz(func(t *testing.T, a, b string) {
		line := "set " + strconv.Quote(a) + " " + strconv.Quote(b)
		got, err := splitArgs(line)
		if err != nil || !slices.Equal(got, []string{"set", a, b}) {
			t.Fatalf("splitArgs(%q) = %q, %v", line, got, err)
		}
		_, _ = splitArgs(a + " " + strings.Repeat(`"`, len(b)%3)) // must not panic
	})
}
