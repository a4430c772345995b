package serializer_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/serializer"
)

func keyOf(b byte) []byte { return bytes.Repeat([]byte{b}, serializer.KeySize) }

func mustKeyring(t testing.TB, current uint32, keys map[uint32][]byte) *serializer.Keyring {
	t.Helper()
	k, err := serializer.NewKeyring(current, keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCodec(t testing.TB, o serializer.CodecOptions) *serializer.Codec {
	t.Helper()
	c, err := serializer.NewCodec(serializer.NewMsgPack(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSealedRoundTrip(t *testing.T) {
	secret := "card 4111-1111-1111-1111 " + strings.Repeat("padding ", 40)
	m := serializer.Meta{Created: 1, Expiration: time.Minute, Type: 3, Gens: serializer.Gens{Hard: 1, Soft: 2, Func: 3}, Delta: 40 * time.Millisecond}
	for _, compress := range []int{0, 64} {
		t.Run(fmt.Sprintf("CompressAbove=%d", compress), func(t *testing.T) {
			c := mustCodec(t, serializer.CodecOptions{CompressAbove: compress, Keyring: mustKeyring(t, 1, map[uint32][]byte{1: keyOf(1)})})
			if !c.Seals() {
				t.Fatal("Seals() = false with a keyring")
			}
			env, err := c.EncodeFor("c1:{5:users:u1}:v", secret, m)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(env, []byte("4111")) || bytes.Contains(env, []byte("padding")) {
				t.Fatal("the sealed envelope holds plaintext")
			}
			if compress > 0 && len(env) >= len(secret) {
				t.Errorf("compressible value sealed into %d bytes, no shorter than its %d", len(env), len(secret))
			}
			var got string
			gm, err := c.DecodeFor("c1:{5:users:u1}:v", env, &got)
			if err != nil || got != secret || gm != m {
				t.Fatalf("DecodeFor = %q, %+v, %v", got, gm, err)
			}
			if hm, err := c.DecodeMeta(env); err != nil || hm != m {
				t.Fatalf("DecodeMeta = %+v, %v", hm, err)
			}
			// Two seals of one value differ (random nonces).
			env2, _ := c.EncodeFor("c1:{5:users:u1}:v", secret, m)
			if bytes.Equal(env, env2) {
				t.Error("two seals of one value are equal")
			}
		})
	}
}

// TestSealedBoundToKey: an entry copied to another key does not decode.
func TestSealedBoundToKey(t *testing.T) {
	c := mustCodec(t, serializer.CodecOptions{Keyring: mustKeyring(t, 1, map[uint32][]byte{1: keyOf(1)})})
	env, err := c.EncodeFor("c1:{5:users:alice}:v", "alice's data", serializer.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"c1:{5:users:mallory}:v", "c1:{5:users:alice}:v ", "", "c1:{5:users:alic}:v"} {
		var s string
		if _, err := c.DecodeFor(other, env, &s); !errors.Is(err, serializer.ErrDecode) || s != "" {
			t.Errorf("decoded under %q: %q, %v; want ErrDecode", other, s, err)
		}
	}
}

// TestKeyRotation writes with key 1, rotates to key 2 (key 1 kept), reads
// both, then retires key 1.
func TestKeyRotation(t *testing.T) {
	v1 := mustCodec(t, serializer.CodecOptions{Keyring: mustKeyring(t, 1, map[uint32][]byte{1: keyOf(1)})})
	rotated := mustCodec(t, serializer.CodecOptions{Keyring: mustKeyring(t, 2, map[uint32][]byte{1: keyOf(1), 2: keyOf(2)})})
	retired := mustCodec(t, serializer.CodecOptions{Keyring: mustKeyring(t, 2, map[uint32][]byte{2: keyOf(2)})})

	old, err := v1.EncodeFor("k", "old", serializer.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := rotated.EncodeFor("k", "new", serializer.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *serializer.Codec
		env  []byte
		want string // "" for an ErrUnknownKey
	}{
		{"rotated reads old", rotated, old, "old"},
		{"rotated reads new", rotated, fresh, "new"},
		{"retired reads new", retired, fresh, "new"},
		{"retired refuses old", retired, old, ""},
		{"old codec refuses new", v1, fresh, ""},
	} {
		var s string
		_, err := tc.c.DecodeFor("k", tc.env, &s)
		switch {
		case tc.want != "" && (err != nil || s != tc.want):
			t.Errorf("%s: %q, %v; want %q", tc.name, s, err, tc.want)
		case tc.want == "" && (!errors.Is(err, serializer.ErrDecode) || !errors.Is(err, serializer.ErrUnknownKey)):
			t.Errorf("%s: %q, %v; want ErrDecode and ErrUnknownKey", tc.name, s, err)
		}
	}
}

// TestWrongKeyAndMixedModes: a key of the right ID but other bytes, a
// plain entry read by a sealing codec and a sealed one read by a plain
// codec are all decode errors.
func TestWrongKeyAndMixedModes(t *testing.T) {
	sealing := mustCodec(t, serializer.CodecOptions{Keyring: mustKeyring(t, 1, map[uint32][]byte{1: keyOf(1)})})
	impostor := mustCodec(t, serializer.CodecOptions{Keyring: mustKeyring(t, 1, map[uint32][]byte{1: keyOf(9)})})
	plain := mustCodec(t, serializer.CodecOptions{})
	sealed, _ := sealing.EncodeFor("k", "v", serializer.Meta{})
	unsealed, _ := plain.EncodeFor("k", "v", serializer.Meta{})
	for name, tc := range map[string]struct {
		c   *serializer.Codec
		env []byte
	}{
		"wrong key bytes":    {impostor, sealed},
		"plain into sealing": {sealing, unsealed},
		"sealed into plain":  {plain, sealed},
	} {
		var s string
		if _, err := tc.c.DecodeFor("k", tc.env, &s); !errors.Is(err, serializer.ErrDecode) || s != "" {
			t.Errorf("%s: %q, %v; want ErrDecode", name, s, err)
		}
	}
}

func TestNewKeyringErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		current uint32
		keys    map[uint32][]byte
	}{
		"no keys":         {1, nil},
		"current missing": {2, map[uint32][]byte{1: keyOf(1)}},
		"short key":       {1, map[uint32][]byte{1: keyOf(1)[:16]}},
		"long key":        {1, map[uint32][]byte{1: append(keyOf(1), 0)}},
	} {
		if k, err := serializer.NewKeyring(tc.current, tc.keys); !errors.Is(err, serializer.ErrInvalidKeyring) || k != nil {
			t.Errorf("%s: %v, %v; want ErrInvalidKeyring", name, k, err)
		}
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	k := mustKeyring(t, 3, map[uint32][]byte{3: secret, 1: keyOf(1)})
	for _, s := range []string{k.String(), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, "0123456789") || strings.Contains(s, string(keyOf(1))) {
			t.Errorf("keyring printed a key: %s", s)
		}
	}
	if k.String() != "serializer.Keyring{current: 3, ids: [1 3]}" {
		t.Errorf("String() = %s", k)
	}
	// The keyring copied the key: zeroing the caller's slice changes nothing.
	c := mustCodec(t, serializer.CodecOptions{Keyring: k})
	env, _ := c.EncodeFor("k", "v", serializer.Meta{})
	clear(secret)
	var s string
	if _, err := c.DecodeFor("k", env, &s); err != nil || s != "v" {
		t.Errorf("after the caller zeroed its key: %q, %v", s, err)
	}
}
