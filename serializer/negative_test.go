package serializer_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/corralcache/corral/serializer"
)

// A negative entry round-trips its metadata, carries no payload whatever
// value it is given, and leaves the decoded-into value untouched; the flag
// combinations it does not define are rejected.
func TestCodecNegativeEntry(t *testing.T) {
	c, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 1})
	if err != nil {
		t.Fatal(err)
	}
	meta := serializer.Meta{Created: 42, Expiration: time.Second, Gens: serializer.Gens{Hard: 1, Soft: 2, Func: 3}, Negative: true}
	env, err := c.Encode("ignored value, long enough to be compressed if it were written", meta)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := c.Encode(nil, meta)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(env, empty) {
		t.Fatalf("a negative entry depends on the value given: %x vs %x", env, empty)
	}
	got := "untouched"
	m, err := c.Decode(env, &got)
	if err != nil || m != meta || got != "untouched" {
		t.Fatalf("Decode = %+v, %v, value %q; want %+v and the value untouched", m, err, got, meta)
	}
	if m, err := c.DecodeMeta(env); err != nil || m != meta {
		t.Fatalf("DecodeMeta = %+v, %v; want %+v", m, err, meta)
	}
	positive, err := c.Encode("v", serializer.Meta{Created: 42})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := c.Decode(positive, &got); err != nil || m.Negative {
		t.Fatalf("a value decodes as negative: %+v, %v", m, err)
	}

	for name, data := range map[string][]byte{
		"negative and compressed": func() []byte { b := bytes.Clone(env); b[6] |= 0x01; return b }(),
		"negative with a payload": append(bytes.Clone(env), 0x01),
	} {
		if _, err := c.Decode(data, &got); !errors.Is(err, serializer.ErrDecode) {
			t.Errorf("%s: Decode error = %v, want ErrDecode", name, err)
		}
		if _, err := c.DecodeMeta(data); !errors.Is(err, serializer.ErrDecode) {
			t.Errorf("%s: DecodeMeta error = %v, want ErrDecode", name, err)
		}
	}
}
