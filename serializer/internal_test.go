package serializer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/vmihailenco/msgpack/v5"
)

func TestCheckMsgPackAcceptsEncoderOutput(t *testing.T) {
	big := make([]int, 70000)
	bigMap := make(map[int]bool, 70000)
	for i := range big {
		big[i] = i
		bigMap[i] = true
	}
	values := map[string]any{
		"nil": nil, "true": true, "false": false,
		"fixint": 7, "negfixint": -7, "int8": -100, "uint8": 200, "int16": -30000, "uint16": 60000,
		"int32": -1 << 30, "uint32": uint32(1 << 31), "int64": int64(-1 << 60), "uint64": uint64(math.MaxUint64),
		"float32": float32(1.5), "float64": math.Pi,
		"fixstr": "abc", "str8": strings.Repeat("a", 200), "str16": strings.Repeat("a", 60000), "str32": strings.Repeat("a", 70000),
		"bin8": []byte("abc"), "bin16": make([]byte, 300), "bin32": make([]byte, 70000),
		"fixarray": []int{1, 2}, "array16": make([]int, 300), "array32": big,
		"fixmap": map[string]int{"a": 1}, "map16": make(map[int]int, 0), "map32": bigMap,
		"time": time.Unix(1, 2), "time64": time.Unix(1<<33, 0), "time96": time.Unix(-1<<40, 5),
		"nested":      map[string]any{"a": []any{1, "b", map[string]any{"c": []any{nil, 1.5}}}},
		"empty array": []int{}, "empty map": map[string]int{},
	}
	for i := range 300 {
		values["map16"].(map[int]int)[i] = i
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			b, err := msgpack.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkMsgPack(b, MaxMsgPackDepth); err != nil {
				t.Errorf("checkMsgPack(%x…) = %v, want nil", b[:min(len(b), 16)], err)
			}
			for cut := range min(len(b), 64) {
				if err := checkMsgPack(b[:cut], MaxMsgPackDepth); err == nil {
					t.Errorf("checkMsgPack accepts %d of %d bytes", cut, len(b))
				}
			}
		})
	}
	// Extension codes, which msgpack emits only for registered types.
	for _, b := range [][]byte{
		{0xd4, 1, 0}, {0xd5, 1, 0, 0}, {0xd6, 1, 0, 0, 0, 0}, {0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		append([]byte{0xd8, 1}, make([]byte, 16)...), {0xc7, 2, 1, 0, 0}, {0xc8, 0, 1, 1, 0}, {0xc9, 0, 0, 0, 1, 1, 0},
	} {
		if err := checkMsgPack(b, MaxMsgPackDepth); err != nil {
			t.Errorf("checkMsgPack(%x) = %v, want nil", b, err)
		}
		if err := checkMsgPack(b[:len(b)-1], MaxMsgPackDepth); err == nil {
			t.Errorf("checkMsgPack(%x) accepts a truncated extension", b[:len(b)-1])
		}
	}
}

// envelope builds a sealed envelope with the given flags and raw body.
func envelope(flags byte, m Meta, body []byte) []byte {
	return sealEnvelope(append(appendHeader(nil, flags, m), body...))
}

func TestDecodeCompressedGuards(t *testing.T) {
	c, err := NewCodec(NewMsgPack(), CodecOptions{CompressAbove: 1})
	if err != nil {
		t.Fatal(err)
	}
	bomb := binary.AppendUvarint(nil, MaxDecodedSize+1)
	bomb = append(bomb, 0xfe, 0xff, 0xff) // would be a long copy
	atLimit := binary.AppendUvarint(nil, MaxDecodedSize)
	atLimit = append(atLimit, 0x00)
	plain, _ := msgpack.Marshal(strings.Repeat("x", 100))
	good := s2.Encode(nil, plain)
	garbled := bytes.Clone(good)
	garbled[len(garbled)-1] = 0xff
	garbled[len(garbled)-2] = 0xff

	tests := []struct {
		name     string
		body     []byte
		contains string
	}{
		{"declares more than the limit", bomb, "limit"},
		{"declares the limit but holds nothing", atLimit, "corrupt compressed payload"},
		{"bad length varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "corrupt compressed payload"},
		{"empty block", nil, "corrupt compressed payload"},
		{"garbled block", garbled, "corrupt compressed payload"},
		{"uncompressed bytes flagged compressed", plain, "corrupt compressed payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s string
			_, err := c.Decode(envelope(flagS2, Meta{}, tc.body), &s)
			if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("Decode error = %v, want ErrDecode mentioning %q", err, tc.contains)
			}
		})
	}
	var s string
	if _, err := c.Decode(envelope(flagS2, Meta{}, good), &s); err != nil || s != strings.Repeat("x", 100) {
		t.Errorf("Decode of a hand-built compressed envelope = %q, %v", s, err)
	}
}

func TestEncodeSetsCompressedFlag(t *testing.T) {
	c, err := NewCodec(Raw{}, CodecOptions{CompressAbove: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want byte
	}{
		{strings.Repeat("a", 100), 0},
		{strings.Repeat("a", 101), flagS2},
		{"short", 0},
	} {
		env, err := c.Encode(tc.in, Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if env[0] != envMagic || env[1] != envVersion || env[envFlagsOff] != tc.want {
			t.Errorf("Encode(%d bytes) header = %x, want magic %x version %d flags %d", len(tc.in), env[:envFlagsOff+1], envMagic, envVersion, tc.want)
		}
	}
}

// FuzzMsgPackUnmarshal feeds arbitrary bytes to MsgPack.Unmarshal, which must
// fail with ErrDecode or return a value that survives re-encoding; it checks
// that whatever checkMsgPack accepts, msgpack can skip over exactly; and it
// round-trips values built from the input.
func FuzzMsgPackUnmarshal(f *testing.F) {
	for _, v := range []any{
		nil, true, -1, 1 << 40, 2.5, "str", []byte("bin"), []any{1, "a", nil},
		map[string]any{"k": map[string]any{"n": []int{1, 2}}}, time.Unix(1, 2),
		map[int]string{1: "a"}, []float32{1.5},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Add(bytes.Repeat([]byte{0x91}, 50))
	f.Add([]byte{0x81, 0x90, 0x01}) // map with an array key
	f.Add([]byte{0xd4, 0x05, 0x00}) // unregistered extension

	s := NewMsgPack()
	f.Fuzz(func(t *testing.T, data []byte) {
		if checkMsgPack(data, MaxMsgPackDepth) == nil {
			d := msgpack.NewDecoder(bytes.NewReader(data))
			if err := d.Skip(); err != nil {
				t.Fatalf("checkMsgPack accepted %x but msgpack cannot skip it: %v", data, err)
			}
			if n, _ := d.Buffered().Read(make([]byte, 1)); n != 0 {
				t.Fatalf("checkMsgPack accepted %x with trailing bytes", data)
			}
		}

		// No *map[string]any target: msgpack sizes such a map by the bits of
		// a timestamp found where the map should be (see msgpackChecker).
		targets := []any{new(any), new(fuzzTarget), new([]int), new(map[string]int), new(string), new([]byte), new(time.Time), new(map[int][]string)}
		for _, p := range targets {
			if err := s.Unmarshal(data, p); err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("Unmarshal into %T: error %v does not wrap ErrDecode", p, err)
			}
		}
		var v any
		if err := s.Unmarshal(data, &v); err == nil {
			b, err := s.Marshal(v)
			if err != nil {
				t.Fatalf("Marshal of decoded %T: %v", v, err)
			}
			var again any
			if err := s.Unmarshal(b, &again); err != nil {
				t.Fatalf("Unmarshal of re-encoded %x: %v", b, err)
			}
		}

		in := fuzzTarget{Name: string(data), Raw: data, List: []any{string(data), len(data)}}
		b, err := s.AppendMarshal(data[:0:0], in)
		if err != nil {
			t.Fatal(err)
		}
		var out fuzzTarget
		if err := s.Unmarshal(b, &out); err != nil {
			t.Fatalf("Unmarshal of a valid encoding %x: %v", b, err)
		}
		if out.Name != in.Name || !bytes.Equal(out.Raw, in.Raw) || len(out.List) != 2 {
			t.Fatalf("round trip = %+v, want %+v", out, in)
		}
	})
}

type fuzzTarget struct {
	Name string
	Raw  []byte
	List []any
	Sub  *fuzzTarget
	When time.Time
	Tags map[string]int
}
