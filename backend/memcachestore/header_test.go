package memcachestore

import (
	"bytes"
	"testing"
	"time"
)

func TestHeaderRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 5)
	tests := []struct {
		name  string
		h     header
		value []byte
	}{
		{"Value", header{kind: kindValue, deadline: deadline(time.Hour, now), tag: 7}, []byte("v")},
		{"EmptyValue", header{kind: kindValue}, []byte{}},
		{"Placeholder", header{kind: kindPlaceholder, deadline: deadline(time.Second, now), tag: newTag()}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := frame(tc.h, tc.value)
			if len(b) != headerLen+len(tc.value) {
				t.Fatalf("framed %d bytes, want %d", len(b), headerLen+len(tc.value))
			}
			h, v, ok := parse(b)
			if !ok || h != tc.h || !bytes.Equal(v, tc.value) {
				t.Fatalf("parse = %+v, %q, %t; want %+v, %q", h, v, ok, tc.h, tc.value)
			}
		})
	}
	if deadline(0, now) != 0 || deadline(-time.Second, now) != 0 {
		t.Fatal("a write without a TTL has a deadline")
	}
	for _, b := range [][]byte{nil, []byte("short"), append([]byte{0xF7}, make([]byte, 20)...), append(frame(header{kind: kindPlaceholder}, nil), 'x')} {
		if _, _, ok := parse(b); ok {
			t.Errorf("parse(%q) = ok, want not ours", b)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(frame(header{kind: kindValue, deadline: 1, tag: 2}, []byte("v")))
	f.Add(frame(header{kind: kindPlaceholder}, nil))
	f.Add([]byte("not ours"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, v, ok := parse(b)
		if !ok {
			return
		}
		if again := frame(h, v); !bytes.Equal(again, b) {
			t.Fatalf("frame(parse(%q)) = %q", b, again)
		}
	})
}
