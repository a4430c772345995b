package redisstore

import (
	"bytes"
	"testing"

	"github.com/corralcache/corral/backend"
)

func TestHeader(t *testing.T) {
	tests := []struct {
		name    string
		s       string
		ok      bool
		kind    byte
		version backend.Version
		value   string
	}{
		{"Empty", "", false, 0, 0, ""},
		{"Short", "\xf5\x00\x00\x00\x00\x00\x00\x01", false, 0, 0, ""},
		{"Foreign", "\xc1\x01 corral's envelope", false, 0, 0, ""},
		{"EmptyValue", "\xf5\x00\x00\x00\x00\x00\x00\x01\x02", true, kindValue, 0x102, ""},
		{"Value", "\xf5\x01\x02\x03\x04\x05\x06\x07\x08value", true, kindValue, 0x0102030405060708, "value"},
		{"Placeholder", "\xf6\xff\xff\xff\xff\xff\xff\xff\xff", true, kindPlaceholder, 1<<64 - 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, v, value, ok := parse(tc.s)
			if ok != tc.ok || kind != tc.kind || v != tc.version || value != tc.value {
				t.Fatalf("parse = %#x, %#x, %q, %t; want %#x, %#x, %q, %t", kind, v, value, ok, tc.kind, tc.version, tc.value, tc.ok)
			}
			p, isValue := payload([]byte(tc.s))
			if isValue != (tc.ok && tc.kind == kindValue) || isValue && (p == nil || string(p) != tc.value) {
				t.Fatalf("payload = %q (nil %t), %t", p, p == nil, isValue)
			}
		})
	}
}

// FuzzHeader: parse never panics, reads what appendHeader wrote, and agrees
// on strings and byte slices.
func FuzzHeader(f *testing.F) {
	f.Add([]byte{}, uint64(1), []byte("v"))
	f.Add([]byte("\xf5\x00\x00\x00\x00\x00\x00\x00\x01v"), uint64(1<<63), []byte{})
	f.Add([]byte("\xf6\x00\x00"), uint64(42), []byte("\x00\xf5"))
	f.Fuzz(func(t *testing.T, raw []byte, version uint64, value []byte) {
		k1, v1, p1, ok1 := parse(raw)
		k2, v2, p2, ok2 := parse(string(raw))
		if k1 != k2 || v1 != v2 || string(p1) != p2 || ok1 != ok2 {
			t.Fatalf("parse of bytes and string differ on %q", raw)
		}
		if ok1 && !bytes.Equal(append(appendHeader(nil, k1, v1), p1...), raw) {
			t.Fatalf("parse of %q does not split it", raw)
		}
		for _, kind := range []byte{kindValue, kindPlaceholder} {
			s := append(appendHeader(nil, kind, backend.Version(version)), value...)
			k, v, p, ok := parse(s)
			if !ok || k != kind || v != backend.Version(version) || !bytes.Equal(p, value) {
				t.Fatalf("parse(appendHeader(%#x, %#x) + %q) = %#x, %#x, %q, %t", kind, version, value, k, v, p, ok)
			}
		}
		if v := withHeader(value); len(v) != headerLen+len(value) {
			t.Fatalf("withHeader of %d bytes = %d bytes", len(value), len(v))
		} else if p, ok := payload(v); !ok || !bytes.Equal(p, value) {
			t.Fatalf("payload(withHeader(%q)) = %q, %t", value, p, ok)
		}
	})
}
