package memcachekey_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/internal/memcachekey"
)

// legal mirrors memcached's key rules.
func legal(k string) bool {
	if len(k) == 0 || len(k) > memcachekey.MaxLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return true
}

func TestMangleGolden(t *testing.T) {
	// The hashes were computed with sha256sum. These values are part of the storage format: every process, build and
	// version must map a key to the same memcached key. Changing them
	// orphans every cached entry with such a key.
	tests := []struct {
		name, key, want string
	}{
		{"Legal", "users:42", "users:42"},
		{"LegalUnicode", "ключ-鍵", "ключ-鍵"},
		{"Legal250", strings.Repeat("k", 250), strings.Repeat("k", 250)},
		{"Spaces", "a key with spaces",
			"a_key_with_spaces~4c7c4ce4c1d202513b89461164edc15f31680c95ee7375fb569da0891b0fedf6"},
		{"NUL", "region:\x00invalidated:hard",
			"region:_invalidated:hard~b6ccae471f1bdcd875ce39c7f9150f81abe050ada04c0371ffc99fd9ecadef45"},
		{"Empty", "",
			"~e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := memcachekey.Mangle(tc.key); got != tc.want {
				t.Errorf("Mangle(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestMangleShape(t *testing.T) {
	long := strings.Repeat("0123456789", 40) // 400 bytes
	tests := []struct {
		name, key string
		mangled   bool
	}{
		{"Long251", strings.Repeat("k", 251), true},
		{"Long400", long, true},
		{"Tab", "a\tb", true},
		{"DEL", "a\x7fb", true},
		{"LooksMangled", "x~" + strings.Repeat("ab", 32), true},
		{"UpperHexIsLegal", "x~" + strings.Repeat("AB", 32), false},
		{"LongUnicode", strings.Repeat("鍵", 100), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := memcachekey.Mangle(tc.key)
			if (got != tc.key) != tc.mangled {
				t.Fatalf("Mangle(%q) = %q; mangled %t, want %t", tc.key, got, got != tc.key, tc.mangled)
			}
			if !legal(got) {
				t.Fatalf("Mangle(%q) = %q is not a legal memcached key", tc.key, got)
			}
			if again := memcachekey.Mangle(tc.key); again != got {
				t.Fatalf("Mangle is not deterministic: %q then %q", got, again)
			}
			if tc.mangled && memcachekey.Mangle(got) == got {
				t.Fatalf("a mangled key %q maps to itself: a legal key could collide with it", got)
			}
		})
	}
	// Two long keys that differ only past the readable prefix stay apart.
	a, b := memcachekey.Mangle(long+"a"), memcachekey.Mangle(long+"b")
	if a == b {
		t.Fatalf("keys differing in their last byte mangle to the same key %q", a)
	}
	if !strings.HasPrefix(a, long[:100]) {
		t.Errorf("mangled key %q does not keep a readable prefix of the key", a)
	}
}

func FuzzMangle(f *testing.F) {
	for _, s := range []string{"", "k", "a b", "\x00", strings.Repeat("x", 300), "x~" + strings.Repeat("0", 64)} {
		f.Add(s, "other")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ma, mb := memcachekey.Mangle(a), memcachekey.Mangle(b)
		if !legal(ma) {
			t.Fatalf("Mangle(%q) = %q is illegal", a, ma)
		}
		if a != b && ma == mb {
			t.Fatalf("Mangle(%q) == Mangle(%q) == %q", a, b, ma)
		}
		if legal(a) && ma != a && memcachekey.Mangle(ma) == ma {
			t.Fatalf("Mangle(%q) = %q, a fixed point of a legal key", a, ma)
		}
	})
}

func TestExpiration(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	const month = 30 * 24 * time.Hour
	tests := []struct {
		name string
		ttl  time.Duration
		want int32
	}{
		{"None", 0, 0},
		{"Negative", -time.Second, -1},
		{"Nanosecond", 1, 1},
		{"SubSecond", 300 * time.Millisecond, 1},
		{"OneSecond", time.Second, 1},
		{"RoundUp", 1500 * time.Millisecond, 2},
		{"ThirtyDays", month, int32(month / time.Second)},
		{"OverThirtyDays", month + time.Second, int32(now.Unix() + int64(month/time.Second) + 1)},
		{"Year", 365 * 24 * time.Hour, int32(now.Unix() + 365*24*3600)},
		{"Huge", math.MaxInt64, math.MaxInt32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := memcachekey.Expiration(tc.ttl, now); got != tc.want {
				t.Errorf("Expiration(%v) = %d, want %d", tc.ttl, got, tc.want)
			}
		})
	}
}
