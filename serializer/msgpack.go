package serializer

import (
	"bytes"
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
// length prefix cannot make it allocate far more than len(data). (One gap is
// left in msgpack v5.4.1 itself: a timestamp stored where the reader expects a
// map[string]interface{} is read as a map sized by the timestamp's bits.)
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
	e, ok := s.encs.Get().(*msgpackEncoder)
	if !ok {
		e = &msgpackEncoder{enc: msgpack.NewEncoder(nil)}
	}
	// Reset every time: a custom EncodeMsgpack method may have changed the
	// encoder's settings during the previous use.
	e.enc.Reset(&e.w)
	return e
}

func (s *MsgPack) getDecoder() *msgpackDecoder {
	d, ok := s.decs.Get().(*msgpackDecoder)
	if !ok {
		d = &msgpackDecoder{dec: msgpack.NewDecoder(nil)}
	}
	d.dec.Reset(&d.r)
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
	// The decoder's scratch buffer grows to the longest string it read, up
	// to len(data): keep only decoders that served small inputs.
	if len(data) <= maxPooledBuf {
		s.decs.Put(d)
	}
	return nil
}

func (*MsgPack) unmarshalCopiesInput() {}
