package serializer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// testKeyring returns a keyring of the given IDs, each key filled with its
// ID's low byte + seed, whose current key is current.
func testKeyring(t testing.TB, current uint32, seed byte, ids ...uint32) *Keyring {
	t.Helper()
	keys := make(map[uint32][]byte, len(ids))
	for _, id := range ids {
		keys[id] = bytes.Repeat([]byte{byte(id) + seed}, KeySize)
	}
	k, err := NewKeyring(current, keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSealedTamperIsDecodeError flips every bit of a sealed envelope in
// turn, with the checksum recomputed so that only the AEAD stands in the
// way: every flip must be a decode error, never a value. It also cuts the
// envelope at every length.
func TestSealedTamperIsDecodeError(t *testing.T) {
	for _, compress := range []int{0, 16} {
		c, err := NewCodec(NewMsgPack(), CodecOptions{CompressAbove: compress, Keyring: testKeyring(t, 7, 0, 7)})
		if err != nil {
			t.Fatal(err)
		}
		m := Meta{Created: 12345, Expiration: time.Minute, Type: 9, Gens: Gens{Hard: 1, Soft: 2, Func: 3}, Delta: time.Second}
		env, err := c.EncodeFor("k", strings.Repeat("secret ", 10), m)
		if err != nil {
			t.Fatal(err)
		}
		if compress > 0 && env[envFlagsOff]&flagS2 == 0 {
			t.Fatal("a compressible sealed payload was not compressed")
		}
		for i := range len(env) {
			if i >= envChecksumOff && i < envChecksumOff+4 {
				continue // the checksum itself: caught by the checksum
			}
			for bit := range 8 {
				bad := bytes.Clone(env)
				bad[i] ^= 1 << bit
				sealEnvelope(bad)
				var s string
				if got, err := c.DecodeFor("k", bad, &s); err == nil {
					t.Fatalf("compress %d: byte %d bit %d flipped: decoded %q, meta %+v", compress, i, bit, s, got)
				} else if !errors.Is(err, ErrDecode) {
					t.Fatalf("byte %d bit %d: error %v does not wrap ErrDecode", i, bit, err)
				}
			}
		}
		for n := range len(env) {
			cut := env[:n]
			if n > envFlagsOff {
				cut = sealEnvelope(bytes.Clone(cut))
			}
			var s string
			if _, err := c.DecodeFor("k", cut, &s); !errors.Is(err, ErrDecode) {
				t.Fatalf("cut at %d of %d: error %v, want ErrDecode", n, len(env), err)
			}
		}
		var s string
		if got, err := c.DecodeFor("k", env, &s); err != nil || got != m || s != strings.Repeat("secret ", 10) {
			t.Fatalf("untampered: %q %+v %v", s, got, err)
		}
	}
}

// TestDecodesVersion2 checks that entries of the previous envelope version
// (no Delta, no sealing) still decode, with a zero Delta, and that a
// version 2 envelope claiming the sealed flag is refused.
func TestDecodesVersion2(t *testing.T) {
	c, err := NewCodec(NewMsgPack(), CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := Meta{Created: 99, Expiration: time.Hour, Type: 5, Gens: Gens{Hard: 4}}
	v2 := func(flags byte, body []byte) []byte {
		h := []byte{envMagic, envVersionV2, 0, 0, 0, 0, flags}
		h = binary.BigEndian.AppendUint64(h, uint64(m.Created))
		h = binary.BigEndian.AppendUint32(h, m.Type)
		h = binary.AppendVarint(h, int64(m.Expiration))
		h = binary.AppendUvarint(h, m.Gens.Hard)
		h = binary.AppendUvarint(h, m.Gens.Soft)
		h = binary.AppendUvarint(h, m.Gens.Func)
		return sealEnvelope(append(h, body...))
	}
	body, _ := NewMsgPack().Marshal("old")
	var s string
	if got, err := c.Decode(v2(0, body), &s); err != nil || got != m || s != "old" {
		t.Fatalf("version 2 envelope: %q %+v %v, want %+v", s, got, err, m)
	}
	if _, err := c.Decode(v2(flagSealed, body), &s); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "flags") {
		t.Fatalf("version 2 envelope with the sealed flag: %v, want ErrDecode about flags", err)
	}
	sealing, err := NewCodec(NewMsgPack(), CodecOptions{Keyring: testKeyring(t, 1, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealing.Decode(v2(0, body), &s); !errors.Is(err, ErrDecode) {
		t.Fatalf("unsealed version 2 envelope through a sealing codec: %v, want ErrDecode", err)
	}
}

// TestSealedNegativeEntry checks that a codec with a keyring seals a
// negative entry (an empty payload bound to its key): it decodes under its
// key, leaving the value untouched; it does not under another key; every
// bit flipped (checksum recomputed) is a decode error, never a value or a
// negative entry; an unsealed negative entry is refused by a sealing codec
// and a sealed one by a plain codec; a sealed negative entry whose
// encrypted payload is not empty is refused.
func TestSealedNegativeEntry(t *testing.T) {
	c, err := NewCodec(NewMsgPack(), CodecOptions{CompressAbove: 1, Keyring: testKeyring(t, 3, 0, 3)})
	if err != nil {
		t.Fatal(err)
	}
	m := Meta{Created: 777, Expiration: time.Minute, Gens: Gens{Hard: 1, Soft: 2, Func: 3}, Delta: time.Millisecond, Negative: true}
	env, err := c.EncodeFor("k", "ignored, long enough to be compressed if it were written", m)
	if err != nil {
		t.Fatal(err)
	}
	if f := env[envFlagsOff]; f != flagSealed|flagNegative {
		t.Fatalf("flags of a sealed negative entry = %#02x, want %#02x", f, flagSealed|flagNegative)
	}
	s := "untouched"
	if got, err := c.DecodeFor("k", env, &s); err != nil || got != m || s != "untouched" {
		t.Fatalf("DecodeFor = %+v, %v, value %q; want %+v and the value untouched", got, err, s, m)
	}
	if info, err := InspectEnvelope(env); err != nil || !info.Sealed || !info.Meta.Negative || info.Compressed {
		t.Fatalf("InspectEnvelope = %+v, %v; want sealed, negative, not compressed", info, err)
	}
	if _, err := c.DecodeFor("other", env, &s); !errors.Is(err, ErrDecode) {
		t.Fatalf("a sealed negative entry decoded under another key: %v", err)
	}
	for i := range len(env) {
		if i >= envChecksumOff && i < envChecksumOff+4 {
			continue
		}
		for bit := range 8 {
			bad := bytes.Clone(env)
			bad[i] ^= 1 << bit
			sealEnvelope(bad)
			if got, err := c.DecodeFor("k", bad, &s); !errors.Is(err, ErrDecode) {
				t.Fatalf("byte %d bit %d flipped: meta %+v, error %v; want ErrDecode", i, bit, got, err)
			}
		}
	}

	plainCodec, err := NewCodec(NewMsgPack(), CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unsealed, err := plainCodec.EncodeFor("k", nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecodeFor("k", unsealed, &s); !errors.Is(err, ErrDecode) {
		t.Fatalf("an unsealed negative entry through a sealing codec: %v, want ErrDecode", err)
	}
	if _, err := plainCodec.DecodeFor("k", env, &s); !errors.Is(err, ErrDecode) {
		t.Fatalf("a sealed negative entry through a plain codec: %v, want ErrDecode", err)
	}

	head := appendHeader(nil, flagNegative, m)
	withPayload := sealEnvelope(c.seal("k", append(head, 0xa1, 'x'), len(head)))
	if _, err := c.DecodeFor("k", withPayload, &s); !errors.Is(err, ErrDecode) || s != "untouched" {
		t.Fatalf("a sealed negative entry with a payload: value %q, error %v; want ErrDecode", s, err)
	}
}

// TestVerify checks that Verify authenticates a sealed envelope's header
// without decoding it: the untampered envelope gives its metadata, one with
// any header bit flipped (checksum recomputed) or read under another key is
// a decode error; through a plain codec, a well-formed envelope verifies.
func TestVerify(t *testing.T) {
	c, err := NewCodec(NewMsgPack(), CodecOptions{Keyring: testKeyring(t, 1, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := Meta{Created: 5, Expiration: time.Minute, Type: 42, Delta: time.Second}
	env, err := c.EncodeFor("k", "value", m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Verify("k", env); err != nil || got != m {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, m)
	}
	if _, err := c.Verify("other", env); !errors.Is(err, ErrDecode) {
		t.Fatalf("Verify under another key: %v, want ErrDecode", err)
	}
	for i := envFlagsOff; i < envExpOff; i++ {
		bad := bytes.Clone(env)
		bad[i] ^= 1
		sealEnvelope(bad)
		if got, err := c.Verify("k", bad); !errors.Is(err, ErrDecode) {
			t.Fatalf("byte %d flipped: Verify = %+v, %v; want ErrDecode", i, got, err)
		}
	}
	plain, err := NewCodec(NewMsgPack(), CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	penv, err := plain.Encode("value", m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := plain.Verify("", penv); err != nil || got != m {
		t.Fatalf("plain Verify = %+v, %v", got, err)
	}
	if _, err := c.Verify("k", penv); !errors.Is(err, ErrDecode) {
		t.Fatalf("an unsealed envelope verified by a sealing codec: %v", err)
	}
}
