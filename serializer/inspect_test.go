package serializer_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/corralcache/corral/serializer"
)

func TestInspectEnvelope(t *testing.T) {
	meta := serializer.Meta{Created: 1234, Expiration: time.Minute, Type: 7, Gens: serializer.Gens{Hard: 1, Soft: 2, Func: 3}}
	for _, tc := range []struct {
		name          string
		compressAbove int
		value         string
		compressed    bool
		sealed        bool
	}{
		{"plain", 0, "hello", false, false},
		{"compressed", 16, string(bytes.Repeat([]byte("abcd"), 200)), true, false},
		{"sealed", 0, "hello", false, true},
		{"compressed and sealed", 16, string(bytes.Repeat([]byte("abcd"), 200)), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := serializer.CodecOptions{CompressAbove: tc.compressAbove}
			if tc.sealed {
				ring, err := serializer.NewKeyring(1, map[uint32][]byte{1: bytes.Repeat([]byte{7}, serializer.KeySize)})
				if err != nil {
					t.Fatal(err)
				}
				opts.Keyring = ring
			}
			c, err := serializer.NewCodec(serializer.NewMsgPack(), opts)
			if err != nil {
				t.Fatal(err)
			}
			env, err := c.EncodeFor("k", tc.value, meta)
			if err != nil {
				t.Fatal(err)
			}
			info, err := serializer.InspectEnvelope(env)
			if err != nil {
				t.Fatal(err)
			}
			if info.Meta != meta || info.Compressed != tc.compressed || info.Sealed != tc.sealed || info.Size != len(env) {
				t.Fatalf("InspectEnvelope = %+v, want meta %+v, compressed %v, sealed %v, size %d", info, meta, tc.compressed, tc.sealed, len(env))
			}
			if info.PayloadSize <= 0 || info.PayloadSize >= len(env) {
				t.Fatalf("PayloadSize %d of a %d-byte envelope", info.PayloadSize, len(env))
			}
		})
	}
	if _, err := serializer.InspectEnvelope([]byte("not an envelope")); !errors.Is(err, serializer.ErrDecode) {
		t.Fatalf("foreign bytes: err %v, want ErrDecode", err)
	}
}
