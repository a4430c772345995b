package serializer

import (
	"encoding/json"
	"fmt"
)

// JSON is a [Serializer] that uses encoding/json. It is slower and larger
// than [MsgPack] but readable by any client. Its zero value is ready to use
// and it is safe for concurrent use.
type JSON struct{}

var _ Serializer = JSON{}

// Marshal encodes v as JSON with json.Marshal.
func (JSON) Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("serializer: json: %w", err)
	}
	return b, nil
}

// Unmarshal decodes the JSON in data into v, a non-nil pointer, with
// json.Unmarshal. It never keeps a reference to data. Every error wraps
// [ErrDecode].
func (JSON) Unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: json: %w", ErrDecode, err)
	}
	return nil
}

func (JSON) unmarshalCopiesInput() {}
