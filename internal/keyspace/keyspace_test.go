package keyspace

import (
	"strings"
	"testing"
)

// hashTag is the part of key Redis Cluster hashes: the bytes between the
// first '{' and the first '}' after it, when there are any; else the key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// layoutKeys lists every key the layout builds for (ns, key), by kind.
func layoutKeys(ns, key string) map[string]string {
	return map[string]string{
		"value": Key(ns, key, SuffixValue),
		"lock":  Key(ns, key, SuffixLock),
		"hard":  Mark(ns, false),
		"soft":  Mark(ns, true),
		"func":  FuncGen(ns, key), // key as a function's name
	}
}

func TestKeyLayoutExamples(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Key("users", "user:42", SuffixValue), "c1:{5:users:user:42}:v"},
		{Key("users", "user:42", SuffixLock), "c1:{5:users:user:42}:l"},
		{Mark("users", false), "c1:{5:users}:g:hard"},
		{Mark("users", true), "c1:{5:users}:g:soft"},
		{RegistryScope("users", "db.LoadUser"), "5:users:db.LoadUser"},
		{FuncGen("users", "db.LoadUser"), "c1:{5:users:11:db.LoadUser}:f"},
		// The overlaps the old "name:" + key layout had.
		{Key("users", "v2:1", SuffixValue), "c1:{5:users:v2:1}:v"},
		{Key("users:v2", "1", SuffixValue), "c1:{8:users:v2:1}:v"},
		{Key("users", "door:lock", SuffixValue), "c1:{5:users:door:lock}:v"},
		{Key("users", "door", SuffixLock), "c1:{5:users:door}:l"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// FuzzKeyLayout checks that no (namespace, key) pair reaches another pair's
// value, lock or invalidation mark, nor another pair's registry scope, and
// that a value and its lock always share a Redis Cluster hash slot.
func FuzzKeyLayout(f *testing.F) {
	f.Add("users", "v2:1", "users:v2", "1")
	f.Add("users", "door:lock", "users", "door")
	f.Add("a", "}:g:hard", "a", "")
	f.Add("a}", ":v", "a", "}:v")
	f.Add("1:a", "b", "1", "a:b")
	f.Add("", "}x{", "x", "{}")
	f.Add("users", "\x00invalidated:hard", "users", "x")
	f.Fuzz(func(t *testing.T, ns1, key1, ns2, key2 string) {
		k1, k2 := layoutKeys(ns1, key1), layoutKeys(ns2, key2)
		for kind1, a := range k1 {
			for kind2, b := range k2 {
				if a != b {
					continue
				}
				same := kind1 == kind2 && ns1 == ns2
				if kind1 == "value" || kind1 == "lock" || kind1 == "func" {
					same = same && key1 == key2
				}
				if !same {
					t.Fatalf("%s of (%q, %q) and %s of (%q, %q) are one key %q", kind1, ns1, key1, kind2, ns2, key2, a)
				}
			}
		}
		if s1, s2 := RegistryScope(ns1, key1), RegistryScope(ns2, key2); s1 == s2 && (ns1 != ns2 || key1 != key2) {
			t.Fatalf("registry scopes of (%q, %q) and (%q, %q) are one: %q", ns1, key1, ns2, key2, s1)
		}
		if v, l := hashTag(k1["value"]), hashTag(k1["lock"]); v != l {
			t.Fatalf("value %q and lock %q of (%q, %q) hash to different slots", k1["value"], k1["lock"], ns1, key1)
		}
	})
}
