package serializer

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// MsgPack is the default [Serializer]: MessagePack through
// github.com/vmihailenco/msgpack/v5 with that library's default settings, so
// its bytes are what msgpack.Marshal produces and msgpack.Unmarshal reads.
//
// MsgPack reuses encoders, decoders and scratch buffers through pools:
// Marshal allocates only its result, and Unmarshal only what the decoded
// value needs.
//
// Before decoding, Unmarshal checks that data holds exactly one well-formed
// MessagePack value (no trailing bytes) whose declared lengths fit in data and
// whose nesting is at most [MaxMsgPackDepth] deep, so a corrupt or hostile
// length prefix cannot make it allocate far more than len(data).
//
// The zero value is ready to use; [NewMsgPack] returns one. A MsgPack is safe
// for concurrent use and must not be copied after first use.
type MsgPack struct {
	encs sync.Pool // of *msgpackEncoder
	decs sync.Pool // of *msgpackDecoder
}

// MaxMsgPackDepth is how deeply arrays and maps may nest in data given to
// [MsgPack.Unmarshal].
const MaxMsgPackDepth = 1000

var (
	_ Serializer      = (*MsgPack)(nil)
	_ AppendMarshaler = (*MsgPack)(nil)
)

// NewMsgPack returns a ready MsgPack serializer.
func NewMsgPack() *MsgPack {
	return &MsgPack{}
}

// msgpackEncoder is a pooled encoder bound to its own appendWriter.
type msgpackEncoder struct {
	enc *msgpack.Encoder
	w   appendWriter
	// scratch is the buffer Marshal encodes into before copying the result
	// out; kept between uses.
	scratch []byte
}

// msgpackDecoder is a pooled decoder bound to its own bytes.Reader.
type msgpackDecoder struct {
	dec *msgpack.Decoder
	r   bytes.Reader
}

func (s *MsgPack) getEncoder() *msgpackEncoder {
	if e, ok := s.encs.Get().(*msgpackEncoder); ok {
		return e
	}
	e := &msgpackEncoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	return e
}

func (s *MsgPack) getDecoder() *msgpackDecoder {
	if d, ok := s.decs.Get().(*msgpackDecoder); ok {
		return d
	}
	d := &msgpackDecoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}

// Marshal encodes v as MessagePack. The returned slice is newly allocated
// and owned by the caller.
func (s *MsgPack) Marshal(v any) ([]byte, error) {
	e := s.getEncoder()
	e.w.b = e.scratch[:0]
	err := e.enc.Encode(v)
	enc := e.w.b
	e.w.b = nil
	if cap(enc) <= maxPooledBuf {
		e.scratch = enc
	} else {
		e.scratch = nil
	}
	var out []byte
	if err == nil {
		out = make([]byte, len(enc))
		copy(out, enc)
	}
	s.encs.Put(e)
	if err != nil {
		return nil, fmt.Errorf("serializer: msgpack: %w", err)
	}
	return out, nil
}

// AppendMarshal appends the MessagePack encoding of v to dst.
func (s *MsgPack) AppendMarshal(dst []byte, v any) ([]byte, error) {
	e := s.getEncoder()
	e.w.b = dst
	err := e.enc.Encode(v)
	out := e.w.b
	e.w.b = nil
	s.encs.Put(e)
	if err != nil {
		return dst, fmt.Errorf("serializer: msgpack: %w", err)
	}
	return out, nil
}

// Unmarshal decodes the MessagePack value in data into v, a non-nil pointer.
// It never keeps a reference to data. Every error wraps [ErrDecode]: data
// that is not exactly one well-formed value, a value that does not fit v, or
// a v that is not a non-nil pointer.
func (s *MsgPack) Unmarshal(data []byte, v any) (err error) {
	if cerr := checkMsgPack(data, MaxMsgPackDepth); cerr != nil {
		return fmt.Errorf("%w: msgpack: %w", ErrDecode, cerr)
	}
	d := s.getDecoder()
	d.r.Reset(data)
	defer func() {
		if r := recover(); r != nil {
			// The decoder's state is unknown after a panic: drop it.
			err = fmt.Errorf("%w: msgpack: panic while decoding %T: %v", ErrDecode, v, r)
		}
	}()
	err = d.dec.Decode(v)
	d.r.Reset(nil)
	if err != nil {
		// A decoder that failed half-way is not reused.
		return fmt.Errorf("%w: msgpack: %w", ErrDecode, err)
	}
	s.decs.Put(d)
	return nil
}

func (*MsgPack) unmarshalCopiesInput() {}

// errMsgPackTruncated and errMsgPackTrailing describe malformed data found by
// checkMsgPack; callers wrap them in ErrDecode.
var (
	errMsgPackTruncated = errors.New("truncated data")
	errMsgPackTrailing  = errors.New("trailing bytes after the value")
)

// checkMsgPack walks data without recursion and reports whether it holds
// exactly one well-formed MessagePack value: every declared string, binary
// and extension length fits in the bytes left, every array or map declares no
// more elements than bytes left (each element takes at least one byte), the
// nesting is at most maxDepth, and no bytes follow the value.
func checkMsgPack(data []byte, maxDepth int) error {
	var stackBuf [16]uint64
	stack := stackBuf[:0] // items still to read in each enclosing container
	need := uint64(1)     // items still to read at the current level
	i := 0
	for {
		for need == 0 {
			if len(stack) == 0 {
				if i != len(data) {
					return fmt.Errorf("%w (%d of %d bytes unused)", errMsgPackTrailing, len(data)-i, len(data))
				}
				return nil
			}
			need = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
		if i >= len(data) {
			return errMsgPackTruncated
		}
		c := data[i]
		i++
		need--

		var skip uint64  // bytes of data to skip after the code
		var items uint64 // elements of a container that starts here
		container := false
		switch {
		case c <= 0x7f, c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			items, container = 2*uint64(c&0x0f), true
		case c <= 0x9f: // fixarray
			items, container = uint64(c&0x0f), true
		case c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		default:
			var n uint64
			var lenBytes int
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc1:
				return fmt.Errorf("invalid code 0xc1 at offset %d", i-1)
			case 0xc4, 0xd9: // bin8, str8
				lenBytes = 1
			case 0xc5, 0xda: // bin16, str16
				lenBytes = 2
			case 0xc6, 0xdb: // bin32, str32
				lenBytes = 4
			case 0xc7: // ext8: length, type
				lenBytes = 1
				skip = 1
			case 0xc8: // ext16
				lenBytes = 2
				skip = 1
			case 0xc9: // ext32
				lenBytes = 4
				skip = 1
			case 0xca: // float32
				skip = 4
			case 0xcb: // float64
				skip = 8
			case 0xcc, 0xd0: // uint8, int8
				skip = 1
			case 0xcd, 0xd1: // uint16, int16
				skip = 2
			case 0xce, 0xd2: // uint32, int32
				skip = 4
			case 0xcf, 0xd3: // uint64, int64
				skip = 8
			case 0xd4: // fixext1: type + data
				skip = 2
			case 0xd5: // fixext2
				skip = 3
			case 0xd6: // fixext4
				skip = 5
			case 0xd7: // fixext8
				skip = 9
			case 0xd8: // fixext16
				skip = 17
			case 0xdc: // array16
				lenBytes, container = 2, true
			case 0xdd: // array32
				lenBytes, container = 4, true
			case 0xde: // map16
				lenBytes, container = 2, true
			case 0xdf: // map32
				lenBytes, container = 4, true
			}
			if lenBytes > 0 {
				if len(data)-i < lenBytes {
					return errMsgPackTruncated
				}
				for _, b := range data[i : i+lenBytes] {
					n = n<<8 | uint64(b)
				}
				i += lenBytes
				if container {
					items = n
					if c == 0xde || c == 0xdf {
						items = 2 * n
					}
				} else {
					skip += n
				}
			}
		}
		if skip > uint64(len(data)-i) {
			return errMsgPackTruncated
		}
		i += int(skip)
		if container && items > 0 {
			if items > uint64(len(data)-i) {
				return fmt.Errorf("%w: container declares %d items, %d bytes left", errMsgPackTruncated, items, len(data)-i)
			}
			if len(stack) >= maxDepth {
				return fmt.Errorf("nesting deeper than %d", maxDepth)
			}
			stack = append(stack, need)
			need = items
		}
	}
}
