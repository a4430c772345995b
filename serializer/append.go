package serializer

// AppendMarshaler is implemented by serializers that can encode a value
// straight onto the end of a byte slice. [Codec] uses it to write the payload
// right after the envelope header in one buffer; serializers without it are
// called through [Serializer.Marshal] and their result is copied.
type AppendMarshaler interface {
	// AppendMarshal appends the encoding of v to dst and returns the extended
	// slice. On error the contents of dst beyond its original length are
	// unspecified.
	AppendMarshal(dst []byte, v any) ([]byte, error)
}

// inputCopier is implemented by the serializers of this package, whose
// Unmarshal never keeps a reference to the bytes it is given. Only for them
// does [Codec] decompress into a reused buffer.
type inputCopier interface {
	unmarshalCopiesInput()
}

// maxPooledBuf is the largest buffer kept in a pool for reuse; larger ones
// are left to the garbage collector so one huge value does not pin memory.
const maxPooledBuf = 64 << 10

// appendWriter is an io.Writer and io.ByteWriter that appends to b.
type appendWriter struct {
	b []byte
}

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}
