package memcachestore

import (
	"testing"

	"github.com/corralcache/corral/backend"
)

// TestVersionNamesServer: a Store on a Pool hands out versions that name
// the server of their key, and refuses one whose key maps to another
// server now, as after a failover to a stand-in whose CAS values met.
func TestVersionNamesServer(t *testing.T) {
	p, err := NewPool(PoolOptions{}, "127.0.0.1:20001", "127.0.0.1:20002")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := New(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Two keys on different servers.
	var a, b string
	for i := 0; a == "" || b == ""; i++ {
		k := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if p.serverOf(k) == p.servers[0] {
			a = k
		} else {
			b = k
		}
	}
	if p.servers[0].tag == p.servers[1].tag {
		t.Skip("the two addresses' tags collide")
	}
	for _, cas := range []uint64{1, 42, versionCASMask} {
		v := s.version(a, cas)
		if uint64(v)&versionTagged == 0 {
			t.Fatalf("version of CAS %d on a Pool is not tagged: %#x", cas, v)
		}
		if got, ok := s.casOf(a, v); !ok || got != cas {
			t.Fatalf("casOf(version(%d)) = %d, %t", cas, got, ok)
		}
		if _, ok := s.casOf(b, v); ok {
			t.Fatalf("a version of %q's server was accepted for %q, on the other server", a, b)
		}
		if s.version(b, cas) == v {
			t.Fatalf("one CAS value on two servers gave one version %#x", v)
		}
	}
	// A CAS value too large for the tag, and the zero version, pass as
	// they are.
	if v := s.version(a, versionCASMask+1); v != backend.Version(versionCASMask+1) {
		t.Fatalf("version of a 49-bit CAS value = %#x", v)
	}
	if got, ok := s.casOf(b, backend.Version(versionCASMask+1)); !ok || got != versionCASMask+1 {
		t.Fatalf("casOf(untagged) = %d, %t", got, ok)
	}
	if v := s.version(a, 0); v != 0 {
		t.Fatalf("version of CAS 0 = %#x, want 0", v)
	}
	// A Store on another client takes the CAS value of a tagged version.
	text, err := New(p.Client(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := text.casOf(b, s.version(a, 42)); !ok || got != 42 {
		t.Fatalf("text store's casOf = %d, %t", got, ok)
	}
}
