package serializer_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/corralcache/corral/serializer"
)

type fuzzRecord struct {
	S string
	B []byte
	N int64
	L []string
	M map[string]int64
}

// FuzzCodecDecode feeds arbitrary bytes to Codec.Decode and DecodeMeta, which
// must fail with ErrDecode or return a value that survives re-encoding, on
// plain, compressed and sealing codecs; and it round-trips a record built
// from the same input through plain, compressed and sealing codecs, a
// sealed one of which must not decode under another key.
func FuzzCodecDecode(f *testing.F) {
	mp, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 32})
	if err != nil {
		f.Fatal(err)
	}
	plain, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{})
	if err != nil {
		f.Fatal(err)
	}
	js, err := serializer.NewCodec(serializer.JSON{}, serializer.CodecOptions{CompressAbove: 32})
	if err != nil {
		f.Fatal(err)
	}
	keys, err := serializer.NewKeyring(2, map[uint32][]byte{1: bytes.Repeat([]byte{1}, serializer.KeySize), 2: bytes.Repeat([]byte{2}, serializer.KeySize)})
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 32, Keyring: keys})
	if err != nil {
		f.Fatal(err)
	}
	sealedPlain, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{Keyring: keys})
	if err != nil {
		f.Fatal(err)
	}
	meta := serializer.Meta{Delta: time.Second, Created: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano(), Expiration: time.Minute}
	for _, v := range []any{
		nil, 42, "short", bytes.Repeat([]byte("compressible "), 20),
		map[string]any{"a": []any{1, "b", 2.5, nil, true}}, time.Unix(5, 6),
		fuzzRecord{S: "s", B: []byte{1, 2}, N: -5, L: []string{"x"}, M: map[string]int64{"k": 1}},
	} {
		for _, c := range []*serializer.Codec{mp, js, sealed} {
			env, err := c.Encode(v, meta)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(env, meta.Created, int64(meta.Expiration))
			f.Add(env[:len(env)/2], int64(0), int64(0))
		}
	}
	neg, err := mp.Encode(nil, serializer.Meta{Created: meta.Created, Expiration: time.Second, Negative: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(neg, meta.Created, int64(time.Second))
	sealedNeg, err := sealed.Encode(nil, serializer.Meta{Created: meta.Created, Expiration: time.Second, Negative: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealedNeg, meta.Created, int64(time.Second))
	f.Add([]byte("plain string from another client"), int64(-1), int64(-1))
	f.Add([]byte{0xC1, 1}, int64(1), int64(1))
	f.Add([]byte{}, int64(0), int64(0))

	f.Fuzz(func(t *testing.T, data []byte, created, exp int64) {
		for _, c := range []*serializer.Codec{mp, js, sealed} {
			hdr, hdrErr := c.DecodeMeta(data)
			if hdrErr != nil && !errors.Is(hdrErr, serializer.ErrDecode) {
				t.Fatalf("DecodeMeta error %v does not wrap ErrDecode", hdrErr)
			}
			var typed fuzzRecord
			if _, err := c.Decode(data, &typed); err != nil && !errors.Is(err, serializer.ErrDecode) {
				t.Fatalf("Decode into struct: error %v does not wrap ErrDecode", err)
			}
			var v any
			m, err := c.Decode(data, &v)
			if err != nil {
				if !errors.Is(err, serializer.ErrDecode) {
					t.Fatalf("Decode: error %v does not wrap ErrDecode", err)
				}
				continue
			}
			if hdrErr != nil || hdr != m {
				t.Fatalf("Decode meta %+v, DecodeMeta %+v, %v", m, hdr, hdrErr)
			}
			env, err := c.Encode(v, m)
			if err != nil {
				t.Fatalf("re-Encode of decoded %T: %v", v, err)
			}
			var again any
			if m2, err := c.Decode(env, &again); err != nil || m2 != m {
				t.Fatalf("Decode of re-encoded value = %+v, %v; want meta %+v", m2, err, m)
			}
		}

		in := fuzzRecord{S: string(data), B: data, N: created, L: []string{string(data), ""}, M: map[string]int64{string(data): exp}}
		m := serializer.Meta{Created: created, Expiration: time.Duration(exp)}
		for _, c := range []*serializer.Codec{mp, plain, sealed, sealedPlain} {
			env, err := c.EncodeFor(string(data), in, m)
			if err != nil {
				t.Fatal(err)
			}
			if c.Seals() {
				var moved fuzzRecord
				if _, err := c.DecodeFor(string(data)+"x", env, &moved); !errors.Is(err, serializer.ErrDecode) {
					t.Fatalf("a sealed envelope decoded under another key: %v", err)
				}
			}
			var out fuzzRecord
			got, err := c.DecodeFor(string(data), env, &out)
			if err != nil {
				t.Fatalf("Decode of a valid envelope: %v", err)
			}
			if got != m || !reflect.DeepEqual(normalize(out), normalize(in)) {
				t.Fatalf("round trip = %+v %+v, want %+v %+v", got, out, m, in)
			}
		}
	})
}

// normalize maps an empty B to nil, which msgpack does not distinguish.
func normalize(r fuzzRecord) fuzzRecord {
	if len(r.B) == 0 {
		r.B = nil
	}
	return r
}
