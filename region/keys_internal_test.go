package region

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
		"value": layoutKey(ns, key, suffixValue),
		"lock":  layoutKey(ns, key, suffixLock),
		"hard":  markKey(ns, Hard),
		"soft":  markKey(ns, Soft),
		"func":  funcGenKey(ns, key), // key as a function's name
	}
}

func TestKeyLayoutExamples(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{layoutKey("users", "user:42", suffixValue), "c1:{5:users:user:42}:v"},
		{layoutKey("users", "user:42", suffixLock), "c1:{5:users:user:42}:l"},
		{markKey("users", Hard), "c1:{5:users}:g:hard"},
		{markKey("users", Soft), "c1:{5:users}:g:soft"},
		{registryScope("users", "db.LoadUser"), "5:users:db.LoadUser"},
		{funcGenKey("users", "db.LoadUser"), "c1:{5:users:11:db.LoadUser}:f"},
		// The overlaps the old "name:" + key layout had.
		{layoutKey("users", "v2:1", suffixValue), "c1:{5:users:v2:1}:v"},
		{layoutKey("users:v2", "1", suffixValue), "c1:{8:users:v2:1}:v"},
		{layoutKey("users", "door:lock", suffixValue), "c1:{5:users:door:lock}:v"},
		{layoutKey("users", "door", suffixLock), "c1:{5:users:door}:l"},
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
		if s1, s2 := registryScope(ns1, key1), registryScope(ns2, key2); s1 == s2 && (ns1 != ns2 || key1 != key2) {
			t.Fatalf("registry scopes of (%q, %q) and (%q, %q) are one: %q", ns1, key1, ns2, key2, s1)
		}
		if v, l := hashTag(k1["value"]), hashTag(k1["lock"]); v != l {
			t.Fatalf("value %q and lock %q of (%q, %q) hash to different slots", k1["value"], k1["lock"], ns1, key1)
		}
	})
}
