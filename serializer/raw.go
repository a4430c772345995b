package serializer

import (
	"errors"
	"fmt"
)

// ErrRawType is returned by [Raw] for a value that is not a []byte or a
// string (or a non-nil pointer to one).
var ErrRawType = errors.New("serializer: raw supports only []byte and string")

// Raw is a [Serializer] that stores bytes and strings as they are, with no
// encoding, so other clients can read them unchanged. Marshal accepts
// []byte, string, *[]byte and *string; Unmarshal fills a *[]byte or a
// *string with a copy of the data. Its zero value is ready to use and it is
// safe for concurrent use.
type Raw struct{}

var (
	_ Serializer      = Raw{}
	_ AppendMarshaler = Raw{}
)

// Marshal returns a copy of v's bytes. Any other type than []byte, string,
// *[]byte or *string gives an error wrapping [ErrRawType].
func (r Raw) Marshal(v any) ([]byte, error) {
	out, err := r.AppendMarshal(nil, v)
	if err == nil && out == nil {
		out = []byte{}
	}
	return out, err
}

// AppendMarshal appends v's bytes to dst. Any other type than []byte,
// string, *[]byte or *string gives an error wrapping [ErrRawType].
func (Raw) AppendMarshal(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return append(dst, x...), nil
	case string:
		return append(dst, x...), nil
	case *[]byte:
		if x != nil {
			return append(dst, *x...), nil
		}
	case *string:
		if x != nil {
			return append(dst, *x...), nil
		}
	}
	return dst, fmt.Errorf("%w: got %T", ErrRawType, v)
}

// Unmarshal stores a copy of data in v, which is a non-nil *[]byte or
// *string. Any other v gives an error wrapping both [ErrDecode] and
// [ErrRawType].
func (Raw) Unmarshal(data []byte, v any) error {
	switch x := v.(type) {
	case *[]byte:
		if x != nil {
			*x = append(make([]byte, 0, len(data)), data...)
			return nil
		}
	case *string:
		if x != nil {
			*x = string(data)
			return nil
		}
	}
	return fmt.Errorf("%w: %w: cannot decode into %T", ErrDecode, ErrRawType, v)
}

func (Raw) unmarshalCopiesInput() {}
