package serializer_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/corralcache/corral/serializer"
)

func TestSerializersRoundTrip(t *testing.T) {
	for _, sz := range serializers() {
		for _, tc := range roundTripCases() {
			t.Run(sz.name+"/"+tc.name, func(t *testing.T) {
				b, err := sz.s.Marshal(tc.in)
				if err != nil {
					t.Fatalf("Marshal: %v", err)
				}
				out := tc.out()
				if err := sz.s.Unmarshal(b, out); err != nil {
					t.Fatalf("Unmarshal: %v", err)
				}
				want := tc.want
				if want == nil {
					want = tc.in
				}
				if got := reflect.ValueOf(out).Elem().Interface(); !equal(got, want) {
					t.Errorf("Unmarshal value = %#v, want %#v", got, want)
				}
			})
		}
	}
}

func TestMsgPackCompatible(t *testing.T) {
	s := serializer.NewMsgPack()
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			ours, err := s.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := msgpack.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			appended, err := s.AppendMarshal([]byte("prefix"), tc.in)
			if err != nil || string(appended[:6]) != "prefix" {
				t.Fatalf("AppendMarshal = %x, %v; want prefix + encoding", appended, err)
			}
			// Maps iterate in random order, so compare what the bytes mean.
			for name, b := range map[string][]byte{"Marshal": ours, "AppendMarshal": appended[6:]} {
				if len(b) != len(theirs) {
					t.Errorf("%s = %x, msgpack.Marshal = %x", name, b, theirs)
				}
				out, want := tc.out(), tc.out()
				if err := msgpack.Unmarshal(b, out); err != nil {
					t.Fatalf("msgpack.Unmarshal(%s output): %v", name, err)
				}
				if err := msgpack.Unmarshal(theirs, want); err != nil {
					t.Fatal(err)
				}
				if !equal(reflect.ValueOf(out).Elem().Interface(), reflect.ValueOf(want).Elem().Interface()) {
					t.Errorf("%s = %x, msgpack.Marshal = %x", name, b, theirs)
				}
			}
		})
	}
}

func TestMsgPackUnmarshalErrors(t *testing.T) {
	s := serializer.NewMsgPack()
	valid, err := s.Marshal([]int{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	deep := append(bytes.Repeat([]byte{0x91}, serializer.MaxMsgPackDepth+1), 0xc0)
	tests := []struct {
		name string
		data []byte
		into any
	}{
		{"empty", nil, new(any)},
		{"truncated", valid[:len(valid)-1], new([]int)},
		{"trailing bytes", append(bytes.Clone(valid), 0x01), new([]int)},
		{"reserved code c1", []byte{0xc1}, new(any)},
		// Lengths that declare far more than the data holds must fail before
		// anything of that size is allocated.
		{"array32 of 4G elements", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, new([]int64)},
		{"map32 of 4G entries", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}, new(map[int]int)},
		{"bin32 of 4 GiB", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 0x01}, new([]byte)},
		{"str32 of 4 GiB", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 0x01}, new(string)},
		{"ext32 of 4 GiB", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}, new(any)},
		{"too deep", deep, new(any)},
		// msgpack reads a map header from inside an extension body.
		{"map32 inside fixext8", []byte("\xd70\xdf 0000\xff0"), new(map[string]any)},
		{"map32 nested inside fixext8", []byte("\xd70\x87\xc0\x95\xdf0000"), new(map[string]any)},
		{"bin32 inside ext-wrapped map", []byte("\xc7\x08\x05\x81\xa1k\xc6\xff\xff\xff\xff"), new(map[string]any)},
		{"wrong type", valid, new(string)},
		{"non-pointer", valid, []int{}},
		{"nil", valid, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Unmarshal(tc.data, tc.into); !errors.Is(err, serializer.ErrDecode) {
				t.Errorf("Unmarshal error = %v, want ErrDecode", err)
			}
		})
	}
	// An extension-wrapped map that tells the truth decodes.
	var m map[string]any
	if err := s.Unmarshal([]byte{0xd4, 0x05, 0x80}, &m); err != nil || m == nil || len(m) != 0 {
		t.Errorf("Unmarshal of an extension-wrapped empty map = %v, %v; want an empty map", m, err)
	}
	// Timestamps whose bytes look like a map header are still times.
	for _, ns := range []int{936_000_000, 927_000_000, 537_000_000} {
		in := time.Date(2025, 3, 4, 5, 6, 7, ns, time.UTC)
		b, err := s.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out time.Time
		if err := s.Unmarshal(b, &out); err != nil || !out.Equal(in) {
			t.Errorf("time %v (%x) decoded as %v, %v", in, b, out, err)
		}
	}
	// Depth exactly at the limit is fine.
	ok := append(bytes.Repeat([]byte{0x91}, serializer.MaxMsgPackDepth), 0xc0)
	var v any
	if err := s.Unmarshal(ok, &v); err != nil {
		t.Errorf("Unmarshal at depth %d: %v", serializer.MaxMsgPackDepth, err)
	}
}

func TestMsgPackConcurrent(t *testing.T) {
	s := serializer.NewMsgPack()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				in := person{Name: strings.Repeat("x", g*10+i%7), Age: g*1000 + i}
				b, err := s.Marshal(in)
				if err != nil {
					errs <- err
					return
				}
				var out person
				if err := s.Unmarshal(b, &out); err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(in, out) {
					errs <- errors.New("concurrent round trip changed the value")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestJSONUnmarshalErrors(t *testing.T) {
	var p person
	for _, data := range []string{"", "{", `{"name":1}`, `{} x`, "\xc1"} {
		if err := (serializer.JSON{}).Unmarshal([]byte(data), &p); !errors.Is(err, serializer.ErrDecode) {
			t.Errorf("Unmarshal(%q) error = %v, want ErrDecode", data, err)
		}
	}
	if _, err := (serializer.JSON{}).Marshal(func() {}); err == nil || errors.Is(err, serializer.ErrDecode) {
		t.Errorf("Marshal(func) error = %v, want a non-decode error", err)
	}
}

func TestRaw(t *testing.T) {
	b := []byte("bytes")
	s := "string"
	var r serializer.Raw
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"bytes", b, "bytes"},
		{"string", s, "string"},
		{"bytes pointer", &b, "bytes"},
		{"string pointer", &s, "string"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Marshal(tc.in)
			if err != nil || string(got) != tc.want || got == nil {
				t.Fatalf("Marshal = %q, %v; want %q", got, err, tc.want)
			}
			var asBytes []byte
			var asString string
			if err := r.Unmarshal(got, &asBytes); err != nil || string(asBytes) != tc.want {
				t.Errorf("Unmarshal into *[]byte = %q, %v", asBytes, err)
			}
			if err := r.Unmarshal(got, &asString); err != nil || asString != tc.want {
				t.Errorf("Unmarshal into *string = %q, %v", asString, err)
			}
		})
	}

	t.Run("copies", func(t *testing.T) {
		src := []byte("original")
		out, _ := r.Marshal(src)
		src[0] = 'X'
		var dst []byte
		if err := r.Unmarshal(out, &dst); err != nil {
			t.Fatal(err)
		}
		out[1] = 'Y'
		if string(dst) != "original" {
			t.Errorf("Marshal or Unmarshal aliased its input: got %q", dst)
		}
	})

	var nilBytes *[]byte
	var nilString *string
	for _, v := range []any{42, nil, nilBytes, nilString, []rune("x"), struct{}{}} {
		_, err := r.Marshal(v)
		if !errors.Is(err, serializer.ErrRawType) {
			t.Errorf("Marshal(%T) error = %v, want ErrRawType", v, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "serializer: raw supports only []byte and string") {
			t.Errorf("Marshal(%T) error text = %q", v, err)
		}
	}
	for _, v := range []any{new(int), new(any), []byte{}, nil, nilBytes, nilString} {
		err := r.Unmarshal([]byte("x"), v)
		if !errors.Is(err, serializer.ErrDecode) || !errors.Is(err, serializer.ErrRawType) {
			t.Errorf("Unmarshal into %T error = %v, want ErrDecode and ErrRawType", v, err)
		}
	}
}
