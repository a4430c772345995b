package httpcache

import (
	"maps"
	"net/http"
	"testing"
)

func TestParseTargeted(t *testing.T) {
	tests := []struct {
		lines []string
		want  directives // nil: the field is ignored
	}{
		{[]string{"max-age=60"}, directives{"max-age": "60"}},
		{[]string{"max-age=60, no-store"}, directives{"max-age": "60", "no-store": ""}},
		{[]string{"  max-age=60 ,\tprivate  "}, directives{"max-age": "60", "private": ""}},
		{[]string{"max-age=60", "must-revalidate"}, directives{"max-age": "60", "must-revalidate": ""}},
		{[]string{"max-age=1, max-age=2"}, directives{"max-age": "2"}},
		{[]string{"max-age=99999999999"}, directives{"max-age": "99999999999"}},
		{[]string{"max-age=60;a=1;b"}, directives{"max-age": "60"}},
		{[]string{"private=?0, max-age=60"}, directives{"max-age": "60"}},
		{[]string{"no-cache=?1"}, directives{"no-cache": ""}},
		{[]string{`no-cache="set-cookie, x-a"`}, directives{"no-cache": "set-cookie, x-a"}},
		{[]string{`ext="a\"b\\c"`}, directives{"ext": `a"b\c`}},
		{[]string{"ext=tok/en:x, ext2=:aGk=:, ext3=1.5, ext4=(a \"b\" 1);p=2"}, directives{"ext": "tok/en:x", "ext2": ":aGk=:", "ext3": "1.5", "ext4": "a, b, 1"}},
		{[]string{"none"}, directives{"none": ""}},
		{[]string{"*x"}, directives{"*x": ""}},
		// Ignored: empty, not a Dictionary, or a delta-seconds directive
		// of another type than a non-negative Integer.
		{nil, nil},
		{[]string{""}, nil},
		{[]string{"   "}, nil},
		{[]string{"max-age=60,"}, nil},
		{[]string{"max-age=60,,private"}, nil},
		{[]string{"max-age=60", ""}, nil},
		{[]string{"max-age=10000, &&&&&"}, nil},
		{[]string{"Max-Age=60"}, nil},
		{[]string{"max-age =60"}, nil},
		{[]string{"max-age= 60"}, nil},
		{[]string{"max-age=60 private"}, nil},
		{[]string{`max-age="60"`}, nil},
		{[]string{"max-age=60.0"}, nil},
		{[]string{"max-age=-1"}, nil},
		{[]string{"max-age=?1"}, nil},
		{[]string{"max-age=(60)"}, nil},
		{[]string{"s-maxage=a"}, nil},
		{[]string{"stale-while-revalidate"}, nil},
		{[]string{"stale-if-error=1.5"}, nil},
		{[]string{"max-age=1234567890123456"}, nil},
		{[]string{"ext=1234567890123.1"}, nil},
		{[]string{"ext=1.1234"}, nil},
		{[]string{"ext=1."}, nil},
		{[]string{"ext=-"}, nil},
		{[]string{`ext="unterminated`}, nil},
		{[]string{`ext="bad\escape"`}, nil},
		{[]string{"ext=\"tab\there\""}, nil},
		{[]string{"ext=:not base64!:"}, nil},
		{[]string{"ext=:open"}, nil},
		{[]string{"ext=?2"}, nil},
		{[]string{"ext=(a b"}, nil},
		{[]string{"ext=(a,b)"}, nil},
		{[]string{"ext=@1"}, nil},
		{[]string{"ext;=1"}, nil},
		{[]string{"_x"}, nil},
	}
	for _, tt := range tests {
		got, ok := parseTargeted(tt.lines)
		if ok != (tt.want != nil) || !maps.Equal(got, tt.want) {
			t.Errorf("parseTargeted(%q) = %q, %v; want %q", tt.lines, got, ok, tt.want)
		}
	}
}

// FuzzParseTargeted checks that a field read gives directives, and that
// the delta-seconds ones hold delta-seconds.
func FuzzParseTargeted(f *testing.F) {
	for _, s := range []string{"max-age=60, no-store", `no-cache="a, b"`, "ext=(a \"b\" 1);p=2, x=:aGk=:", "max-age=1.5", "a=?0, b=-12.125"} {
		f.Add(s, "")
		f.Add(s, "private")
	}
	f.Fuzz(func(t *testing.T, first, second string) {
		d, ok := parseTargeted([]string{first, second})
		if !ok {
			if d != nil {
				t.Fatalf("parseTargeted(%q, %q) = %q, false", first, second, d)
			}
			return
		}
		for _, name := range []string{"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"} {
			if _, has := d[name]; has {
				if _, ok := d.seconds(name); !ok {
					t.Fatalf("parseTargeted(%q, %q): %s=%q", first, second, name, d[name])
				}
			}
		}
	})
}

func TestTargetList(t *testing.T) {
	c := &Cache{}
	var err error
	if c.targets, err = targetList(nil); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("CDN-Cache-Control", "max-age=1")
	h.Set("Cache-Control", "no-store")
	if d, field := c.responseDirectives(h); field != "Cdn-Cache-Control" || d["max-age"] != "1" {
		t.Fatalf("default target list: %q from %q", d, field)
	}
	if c.targets, err = targetList([]string{"cache-control"}); err != nil || len(c.targets) != 0 {
		t.Fatalf("targetList(Cache-Control) = %q, %v", c.targets, err)
	}
	if d, field := c.responseDirectives(h); field != "" || !d.has("no-store") {
		t.Fatalf("no target list: %q from %q", d, field)
	}
}
