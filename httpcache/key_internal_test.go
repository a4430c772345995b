package httpcache

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestVariant(t *testing.T) {
	k := newKeyer(Options{Vary: []string{"accept-language", "X-Tenant"}})
	resp := http.Header{"Vary": {"accept-encoding, X-Tenant", "Accept-Language"}}
	names, star := k.varyNames(resp)
	if want := []string{"Accept-Encoding", "Accept-Language", "X-Tenant"}; !slices.Equal(names, want) || star {
		t.Fatalf("varyNames = %q, %v; want %q", names, star, want)
	}
	if _, star := k.varyNames(http.Header{"Vary": {"Accept, *"}}); !star {
		t.Fatal("Vary: * not seen")
	}
	h := http.Header{}
	h.Add("Accept-Language", "en")
	h.Add("Accept-Language", "fr")
	h.Set("X-Other", "ignored")
	idx := &response{Nonce: "n1", Vary: []string{"Accept-Language", "X-Tenant"}}
	if got, want := variant(idx, "Example.COM", h), "v\nn1\nHost: example.com\nAccept-Language: en, fr\nX-Tenant: \n"; got != want {
		t.Fatalf("variant = %q, want %q", got, want)
	}
}

// FuzzTarget checks the canonical target of a URL: reordering the
// parameters, adding ignored ones, or canonicalising twice changes nothing.
func FuzzTarget(f *testing.F) {
	for _, s := range []string{"", "a=1", "b=2&a=1&a=0", "q=a%20b+c", "x", "=", "_dc=1&z=&y=%2F", "a=1;b=2", "%zz"} {
		f.Add("p", s)
	}
	k := newKeyer(Options{IgnoreParams: []string{"_dc"}})
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		path = "/" + path // requests to a server have absolute paths
		u := &url.URL{Path: path, RawQuery: rawQuery}
		got, err := k.target("GET", u)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "GET /") {
			t.Fatalf("target %q lacks the method", got)
		}
		q, _ := url.ParseQuery(rawQuery)
		// The same parameters, names in reverse order, an ignored one added.
		var parts []string
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range q {
				if !yield(n) {
					return
				}
			}
		})
		slices.Reverse(names)
		for _, n := range names {
			for _, v := range q[n] {
				parts = append(parts, url.QueryEscape(n)+"="+url.QueryEscape(v))
			}
		}
		parts = append(parts, "_dc=12345")
		other, err := k.target("GET", &url.URL{Path: path, RawQuery: strings.Join(parts, "&")})
		if err != nil {
			t.Fatalf("reordered query %q: %v", strings.Join(parts, "&"), err)
		}
		if other != got {
			t.Fatalf("reordered target %q != %q", other, got)
		}
		// Canonicalising the canonical form is the identity.
		_, rest, _ := strings.Cut(got, " ")
		again, err := url.ParseRequestURI(rest)
		if err == nil {
			if twice, err := k.target("GET", again); err != nil || twice != got {
				t.Fatalf("canonical %q gives %q, %v", got, twice, err)
			}
		}
	})
}
