package serializer_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/corralcache/corral/serializer"
)

type address struct {
	Street string `msgpack:"street" json:"street"`
	Zip    int    `msgpack:"zip" json:"zip"`
}

type person struct {
	Name    string            `msgpack:"name" json:"name"`
	Age     int               `msgpack:"age" json:"age"`
	Emails  []string          `msgpack:"emails" json:"emails"`
	Home    *address          `msgpack:"home" json:"home"`
	Labels  map[string]string `msgpack:"labels" json:"labels"`
	private int
}

// roundTripCase encodes in and decodes into a fresh *T, then compares with
// want (in when want is nil).
type roundTripCase struct {
	name string
	in   any
	out  func() any // returns a pointer to decode into
	want any
}

func roundTripCases() []roundTripCase {
	when := time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.UTC)
	return []roundTripCase{
		{name: "int", in: 42, out: func() any { return new(int) }},
		{name: "negative int64", in: int64(-1 << 40), out: func() any { return new(int64) }},
		{name: "uint64 max", in: uint64(1<<64 - 1), out: func() any { return new(uint64) }},
		{name: "float64", in: 3.25, out: func() any { return new(float64) }},
		{name: "bool", in: true, out: func() any { return new(bool) }},
		{name: "empty string", in: "", out: func() any { return new(string) }},
		{name: "string", in: "héllo, corral", out: func() any { return new(string) }},
		{name: "struct", in: person{Name: "Ada", Age: 36, Emails: []string{"a@x", "b@y"}, Home: &address{"Main St", 12345}, Labels: map[string]string{"k": "v"}}, out: func() any { return new(person) }},
		{name: "struct pointer", in: &person{Name: "Bob"}, out: func() any { return new(person) }, want: person{Name: "Bob"}},
		{name: "map", in: map[string]int{"a": 1, "b": 2, "c": 3}, out: func() any { return new(map[string]int) }},
		{name: "slice of structs", in: []address{{"A", 1}, {"B", 2}}, out: func() any { return new([]address) }},
		{name: "slice of ints", in: []int{1, 2, 3, 1 << 33}, out: func() any { return new([]int) }},
		{name: "nil into any", in: nil, out: func() any { return new(any) }},
		{name: "nil slice", in: []int(nil), out: func() any { return new([]int) }},
		{name: "time", in: when, out: func() any { return new(time.Time) }},
		{name: "long string", in: strings.Repeat("abc", 30000), out: func() any { return new(string) }},
	}
}

// equal compares a decoded value with the expected one; times compare with
// Equal because their location may differ.
func equal(got, want any) bool {
	if wt, ok := want.(time.Time); ok {
		gt, ok := got.(time.Time)
		return ok && gt.Equal(wt)
	}
	return reflect.DeepEqual(got, want)
}

func serializers() []struct {
	name string
	s    serializer.Serializer
} {
	return []struct {
		name string
		s    serializer.Serializer
	}{
		{"msgpack", serializer.NewMsgPack()},
		{"msgpack-zero-value", &serializer.MsgPack{}},
		{"json", serializer.JSON{}},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	meta := serializer.Meta{Created: 1_700_000_000_123_456_789, Expiration: 90 * time.Second}
	for _, sz := range serializers() {
		for _, compress := range []int{0, 16} {
			c, err := serializer.NewCodec(sz.s, serializer.CodecOptions{CompressAbove: compress})
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range roundTripCases() {
				name := sz.name + "/" + tc.name
				if compress > 0 {
					name += "/compressed"
				}
				t.Run(name, func(t *testing.T) {
					env, err := c.Encode(tc.in, meta)
					if err != nil {
						t.Fatalf("Encode: %v", err)
					}
					out := tc.out()
					gotMeta, err := c.Decode(env, out)
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					if gotMeta != meta {
						t.Errorf("Decode meta = %+v, want %+v", gotMeta, meta)
					}
					want := tc.want
					if want == nil {
						want = tc.in
					}
					got := reflect.ValueOf(out).Elem().Interface()
					if !equal(got, want) {
						t.Errorf("Decode value = %#v, want %#v", got, want)
					}
					m, err := c.DecodeMeta(env)
					if err != nil || m != meta {
						t.Errorf("DecodeMeta = %+v, %v; want %+v", m, err, meta)
					}
				})
			}
		}
	}
}

func TestCodecMeta(t *testing.T) {
	c, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	metas := []serializer.Meta{
		{},
		{Created: -1, Expiration: -1},
		{Created: 1<<63 - 1, Expiration: 1<<63 - 1},
		{Created: -1 << 63, Expiration: -1 << 63},
		{Created: time.Now().UnixNano(), Expiration: 24 * time.Hour},
		{Created: 1, Gens: serializer.Gens{Hard: 1, Tags: serializer.MakeTags([]serializer.Tag{{Name: "user:42", Gen: 7}, {Name: "", Gen: 1 << 63}})}},
		{Gens: serializer.Gens{Tags: serializer.MakeTags([]serializer.Tag{{Name: strings.Repeat("t", serializer.MaxTagLen), Gen: 0}})}},
	}
	for _, m := range metas {
		t.Run("", func(t *testing.T) {
			env, err := c.Encode("v", m)
			if err != nil {
				t.Fatal(err)
			}
			var s string
			got, err := c.Decode(env, &s)
			if err != nil || got != m || s != "v" {
				t.Errorf("Decode = %+v, %q, %v; want %+v, %q", got, s, err, m, "v")
			}
			got, err = c.DecodeMeta(env)
			if err != nil || got != m {
				t.Errorf("DecodeMeta = %+v, %v; want %+v", got, err, m)
			}
		})
	}
}

func TestCodecCompression(t *testing.T) {
	incompressible := make([]byte, 64<<10)
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := range incompressible {
		incompressible[i] = byte(rng.Uint32())
	}
	compressible := []byte(strings.Repeat("corral caches values; ", 3000))

	tests := []struct {
		name     string
		compress int
		in       []byte
		maxLen   int // the envelope must be at most this long
		minLen   int // and at least this long
	}{
		{"compressible compressed", 1024, compressible, len(compressible) / 10, 0},
		{"compressible below threshold", len(compressible) + 16, compressible, len(compressible) + 32, len(compressible)},
		{"compression disabled", 0, compressible, len(compressible) + 32, len(compressible)},
		{"compression negative", -1, compressible, len(compressible) + 32, len(compressible)},
		{"incompressible stored plain", 1024, incompressible, len(incompressible) + 32, len(incompressible)},
	}
	for _, tc := range tests {
		for _, sz := range []struct {
			name string
			s    serializer.Serializer
		}{{"raw", serializer.Raw{}}, {"msgpack", serializer.NewMsgPack()}} {
			t.Run(sz.name+"/"+tc.name, func(t *testing.T) {
				c, err := serializer.NewCodec(sz.s, serializer.CodecOptions{CompressAbove: tc.compress})
				if err != nil {
					t.Fatal(err)
				}
				env, err := c.Encode(tc.in, serializer.Meta{Created: 7})
				if err != nil {
					t.Fatal(err)
				}
				if len(env) > tc.maxLen || len(env) < tc.minLen {
					t.Errorf("envelope is %d bytes for a %d-byte value, want between %d and %d", len(env), len(tc.in), tc.minLen, tc.maxLen)
				}
				var got []byte
				m, err := c.Decode(env, &got)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !bytes.Equal(got, tc.in) || m.Created != 7 {
					t.Errorf("Decode returned %d bytes (meta %+v), want the %d bytes written (Created 7)", len(got), m, len(tc.in))
				}
			})
		}
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	c, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 64})
	if err != nil {
		t.Fatal(err)
	}
	meta := serializer.Meta{Created: 99, Expiration: time.Hour}
	small, err := c.Encode(person{Name: "Ada", Age: 36}, meta)
	if err != nil {
		t.Fatal(err)
	}
	big, err := c.Encode(strings.Repeat("compress me ", 100), meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(big) > 300 {
		t.Fatalf("big envelope is %d bytes; want it compressed", len(big))
	}
	foreignMsgpack, err := msgpack.Marshal(person{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(b []byte, f func([]byte)) []byte {
		b = bytes.Clone(b)
		f(b)
		return b
	}

	tests := []struct {
		name     string
		data     []byte
		metaOK   bool   // DecodeMeta returns the written meta: the damage is past the header
		metaBad  bool   // DecodeMeta returns no error but wrong meta: it does not verify the checksum
		contains string // the error message contains this
	}{
		{name: "nil", data: nil, contains: "truncated"},
		{name: "empty", data: []byte{}, contains: "truncated"},
		{name: "plain string", data: []byte("hello world, written by another client"), contains: "not a corral envelope"},
		{name: "plain msgpack", data: foreignMsgpack, contains: "not a corral envelope"},
		{name: "json", data: []byte(`{"name":"Ada"}`), contains: "not a corral envelope"},
		{name: "magic only", data: []byte{0xC1}, contains: "truncated"},
		{name: "header truncated", data: small[:10], contains: "truncated"},
		{name: "payload truncated", data: small[:len(small)-1], metaOK: true, contains: "checksum"},
		{name: "compressed truncated", data: big[:len(big)-3], metaOK: true, contains: "checksum"},
		{name: "payload byte flipped", data: edit(small, func(b []byte) { b[len(b)-1] ^= 0x40 }), metaOK: true, contains: "checksum"},
		{name: "compressed byte flipped", data: edit(big, func(b []byte) { b[len(b)-5] ^= 0x01 }), metaOK: true, contains: "checksum"},
		{name: "created flipped", data: edit(small, func(b []byte) { b[9] ^= 0x01 }), metaBad: true, contains: "checksum"},
		{name: "checksum flipped", data: edit(small, func(b []byte) { b[3] ^= 0x01 }), metaOK: true, contains: "checksum"},
		{name: "trailing byte", data: append(bytes.Clone(small), 0), metaOK: true, contains: "checksum"},
		{name: "unknown version", data: edit(small, func(b []byte) { b[1] = 4 }), contains: "version 4"},
		{name: "older version", data: edit(small, func(b []byte) { b[1] = 1 }), contains: "version 1"},
		{name: "unknown flag", data: edit(small, func(b []byte) { b[6] |= 0x80 }), contains: "flags"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p person
			m, err := c.Decode(tc.data, &p)
			if !errors.Is(err, serializer.ErrDecode) {
				t.Fatalf("Decode error = %v, want ErrDecode", err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("Decode error %q does not mention %q", err, tc.contains)
			}
			if m != (serializer.Meta{}) {
				t.Errorf("Decode meta = %+v on error, want zero", m)
			}
			m, err = c.DecodeMeta(tc.data)
			switch {
			case tc.metaBad:
				if err != nil || m == meta {
					t.Errorf("DecodeMeta = %+v, %v; want corrupt meta and no error", m, err)
				}
			case tc.metaOK:
				if err != nil || m != meta {
					t.Errorf("DecodeMeta = %+v, %v; want %+v (header intact)", m, err, meta)
				}
			default:
				if !errors.Is(err, serializer.ErrDecode) {
					t.Errorf("DecodeMeta error = %v, want ErrDecode", err)
				}
			}
		})
	}
}

func TestCodecDecodeWrongType(t *testing.T) {
	for _, sz := range serializers() {
		c, err := serializer.NewCodec(sz.s, serializer.CodecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			in   any
			out  any
		}{
			{"string into int", "forty-two", new(int)},
			{"struct into slice", person{Name: "Ada"}, new([]int)},
			{"slice into struct", []int{1, 2}, new(person)},
			{"map into string", map[string]int{"a": 1}, new(string)},
			{"non-pointer", 42, 0},
			{"nil target", 42, nil},
		}
		for _, tc := range tests {
			t.Run(sz.name+"/"+tc.name, func(t *testing.T) {
				env, err := c.Encode(tc.in, serializer.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Decode(env, tc.out); !errors.Is(err, serializer.ErrDecode) {
					t.Errorf("Decode error = %v, want ErrDecode", err)
				}
			})
		}
	}
}

func TestCodecEncodeError(t *testing.T) {
	for _, sz := range serializers() {
		c, err := serializer.NewCodec(sz.s, serializer.CodecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Run(sz.name, func(t *testing.T) {
			env, err := c.Encode(make(chan int), serializer.Meta{})
			if err == nil || env != nil {
				t.Fatalf("Encode(chan) = %d bytes, %v; want an error", len(env), err)
			}
			if errors.Is(err, serializer.ErrDecode) {
				t.Errorf("Encode error %v wraps ErrDecode", err)
			}
			// The codec still works after a failed encode.
			env, err = c.Encode(1, serializer.Meta{})
			var n int
			if err == nil {
				_, err = c.Decode(env, &n)
			}
			if err != nil || n != 1 {
				t.Errorf("round trip after failed Encode = %d, %v; want 1", n, err)
			}
		})
	}
	c, err := serializer.NewCodec(serializer.Raw{}, serializer.CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Encode(42, serializer.Meta{}); !errors.Is(err, serializer.ErrRawType) {
		t.Errorf("raw Encode(42) error = %v, want ErrRawType", err)
	}
}

func TestNewCodec(t *testing.T) {
	c, err := serializer.NewCodec(nil, serializer.CodecOptions{})
	if !errors.Is(err, serializer.ErrNilSerializer) || c != nil {
		t.Errorf("NewCodec(nil) = %v, %v; want nil, ErrNilSerializer", c, err)
	}
	if err == nil || err.Error() != "serializer: nil serializer" {
		t.Errorf("NewCodec(nil) error text = %v", err)
	}
	s := serializer.NewMsgPack()
	c, err = serializer.NewCodec(s, serializer.CodecOptions{})
	if err != nil || c.Serializer() != serializer.Serializer(s) {
		t.Errorf("NewCodec(s).Serializer() = %v, %v; want s", c.Serializer(), err)
	}
}

// plainSerializer hides MsgPack's optional interfaces, to exercise the codec
// path for third-party serializers.
type plainSerializer struct{ s serializer.Serializer }

func (p plainSerializer) Marshal(v any) ([]byte, error)      { return p.s.Marshal(v) }
func (p plainSerializer) Unmarshal(data []byte, v any) error { return p.s.Unmarshal(data, v) }

// retainingSerializer keeps the bytes Unmarshal was given, which the
// Serializer contract does not forbid.
type retainingSerializer struct{ last *[]byte }

func (retainingSerializer) Marshal(v any) ([]byte, error) { return serializer.Raw{}.Marshal(v) }
func (r retainingSerializer) Unmarshal(data []byte, v any) error {
	*r.last = data
	*(v.(*[]byte)) = data
	return nil
}

func TestCodecThirdPartySerializer(t *testing.T) {
	for _, compress := range []int{0, 8} {
		c, err := serializer.NewCodec(plainSerializer{serializer.NewMsgPack()}, serializer.CodecOptions{CompressAbove: compress})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range roundTripCases() {
			t.Run(tc.name, func(t *testing.T) {
				env, err := c.Encode(tc.in, serializer.Meta{Created: 1})
				if err != nil {
					t.Fatal(err)
				}
				out := tc.out()
				if _, err := c.Decode(env, out); err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if want == nil {
					want = tc.in
				}
				if got := reflect.ValueOf(out).Elem().Interface(); !equal(got, want) {
					t.Errorf("Decode value = %#v, want %#v", got, want)
				}
			})
		}
	}

	// A serializer that keeps its input must not see a reused buffer.
	var last []byte
	c, err := serializer.NewCodec(retainingSerializer{&last}, serializer.CodecOptions{CompressAbove: 8})
	if err != nil {
		t.Fatal(err)
	}
	first := strings.Repeat("a", 1000)
	env1, _ := c.Encode(first, serializer.Meta{})
	env2, _ := c.Encode(strings.Repeat("b", 1000), serializer.Meta{})
	var got1, got2 []byte
	if _, err := c.Decode(env1, &got1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decode(env2, &got2); err != nil {
		t.Fatal(err)
	}
	if string(got1) != first {
		t.Errorf("first decoded value was overwritten by the second decode")
	}
}

func TestCodecEncodeAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -cover and -race")
	}
	type flat struct {
		ID   int64
		Name string
		Tags []byte
		OK   bool
	}
	v := &flat{ID: 1, Name: strings.Repeat("n", 500), Tags: make([]byte, 300), OK: true}
	c, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 256})
	if err != nil {
		t.Fatal(err)
	}
	m := serializer.Meta{Created: 1, Expiration: time.Minute}
	env, _ := c.Encode(v, m)
	if a := testing.AllocsPerRun(200, func() { _, _ = c.Encode(v, m) }); a > 1 {
		t.Errorf("Codec.Encode allocates %.1f times per call, want 1 (the result)", a)
	}
	var got flat
	if a := testing.AllocsPerRun(200, func() { _, _ = c.Decode(env, &got) }); a > 2 {
		t.Errorf("Codec.Decode allocates %.1f times per call, want at most 2 (the string and the slice)", a)
	}
	s := serializer.NewMsgPack()
	if a := testing.AllocsPerRun(200, func() { _, _ = s.Marshal(v) }); a > 1 {
		t.Errorf("MsgPack.Marshal allocates %.1f times per call, want 1 (the result)", a)
	}
}

func TestCodecConcurrent(t *testing.T) {
	c, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 64})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, rounds = 8, 300
	errs := make(chan error, goroutines)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range rounds {
					// Alternate small (plain) and large (compressed) values.
					in := person{Name: strings.Repeat(string(rune('a'+g)), 1+(i%3)*200), Age: g*rounds + i}
					m := serializer.Meta{Created: int64(g), Expiration: time.Duration(i)}
					env, err := c.Encode(in, m)
					if err != nil {
						errs <- err
						return
					}
					var out person
					got, err := c.Decode(env, &out)
					if err != nil {
						errs <- err
						return
					}
					if got != m || !reflect.DeepEqual(out, in) {
						errs <- fmt.Errorf("goroutine %d round %d: got %+v %+v, want %+v %+v", g, i, got, out.Age, m, in.Age)
						return
					}
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("concurrent round trips did not finish within a minute")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestTags: tags keep their names, generations and order, and Meta stays
// comparable.
func TestTags(t *testing.T) {
	in := []serializer.Tag{{Name: "user:42", Gen: 3}, {Name: "tenant:acme", Gen: 1 << 40}}
	tags := serializer.MakeTags(in)
	if tags.Len() != 2 || !reflect.DeepEqual(tags.Slice(), in) {
		t.Fatalf("tags %v (%d), want %v", tags.Slice(), tags.Len(), in)
	}
	if got := tags.String(); got != "user:42@3 tenant:acme@1099511627776" {
		t.Fatalf("String = %q", got)
	}
	if serializer.MakeTags(in) != tags || (serializer.Tags{}).Len() != 0 || serializer.MakeTags(nil) != (serializer.Tags{}) {
		t.Fatal("Tags do not compare by content")
	}
}
