package serializer

import (
	"errors"
	"fmt"
)

// Errors found by checkMsgPack; MsgPack.Unmarshal wraps them in ErrDecode.
var (
	errMsgPackTruncated = errors.New("truncated data")
	errMsgPackTrailing  = errors.New("trailing bytes after the value")
	errMsgPackOversize  = errors.New("declared length exceeds the data")
)

// timestampExt is the type byte of MessagePack's timestamp extension (-1).
// Its body is seconds and nanoseconds, never walked as a map: every byte
// pattern there is a valid time.
const timestampExt = 0xff

// maxExtNesting bounds how many extension bodies checkMsgPack walks into
// inside one another.
const maxExtNesting = 8

// msgpackChecker walks MessagePack data to prove that decoding it cannot
// allocate far more than the data's size or recurse without bound.
//
// Besides the values themselves it walks the body of every extension whose
// body starts like a map: msgpack's DecodeMapLen skips an extension header
// and reads a map from inside the body, sizing the map by the count it finds
// there, so such counts must be bounded too.
//
// NOTE: timestamp bodies are not walked, since any bytes there may be a valid
// time. msgpack v5.4.1 still reads a map from a timestamp's body when the
// value is decoded into a map[string]interface{} (DecodeMap ignores its
// allocation limit), so data whose writer stored a time where the reader
// expects such a map can make it allocate a map sized by the timestamp's
// bits.
type msgpackChecker struct {
	data     []byte
	maxDepth int
	extDepth int // how many extension bodies the current walk is inside
	budget   int // items that walks of extension bodies may still visit
}

// checkMsgPack reports whether data holds exactly one well-formed
// MessagePack value whose declared string, binary and extension lengths fit
// in the bytes left, whose arrays and maps declare no more elements than
// bytes left (each element takes at least one byte), whose nesting is at
// most maxDepth, and after which no bytes follow.
func checkMsgPack(data []byte, maxDepth int) error {
	c := msgpackChecker{data: data, maxDepth: maxDepth, budget: 4*len(data) + 4096}
	end, err := c.walk(0)
	if err != nil {
		return err
	}
	if end != len(data) {
		return fmt.Errorf("%w (%d of %d bytes unused)", errMsgPackTrailing, len(data)-end, len(data))
	}
	return nil
}

// walk checks the value that starts at c.data[start], without recursing
// into arrays and maps, and returns the offset just after it. Inside an
// extension body a walk that meets the reserved code 0xc1 or the end of the
// data stops without error: the body may be opaque bytes, and msgpack stops
// at the same place if it reads them as a map.
func (c *msgpackChecker) walk(start int) (int, error) {
	data := c.data
	inExt := c.extDepth > 0
	var stackBuf [16]uint64
	stack := stackBuf[:0] // items still to read in each enclosing container
	need := uint64(1)     // items still to read at the current level
	i := start
	for {
		for need == 0 {
			if len(stack) == 0 {
				return i, nil
			}
			need = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
		if inExt {
			if c.budget--; c.budget < 0 {
				return 0, errors.New("too many map-like extension bodies")
			}
		}
		if i >= len(data) {
			if inExt {
				return i, nil
			}
			return 0, errMsgPackTruncated
		}
		code := data[i]
		i++
		need--

		var skip uint64  // bytes of data to skip after the code
		var items uint64 // elements of a container that starts here
		container, ext := false, false
		switch {
		case code <= 0x7f, code >= 0xe0: // positive and negative fixint
		case code <= 0x8f: // fixmap
			items, container = 2*uint64(code&0x0f), true
		case code <= 0x9f: // fixarray
			items, container = uint64(code&0x0f), true
		case code <= 0xbf: // fixstr
			skip = uint64(code & 0x1f)
		default:
			lenBytes := 0
			switch code {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc1:
				if inExt {
					return i, nil
				}
				return 0, fmt.Errorf("reserved code 0xc1 at offset %d", i-1)
			case 0xc4, 0xd9: // bin8, str8
				lenBytes = 1
			case 0xc5, 0xda: // bin16, str16
				lenBytes = 2
			case 0xc6, 0xdb: // bin32, str32
				lenBytes = 4
			case 0xc7: // ext8: length, then type and data
				lenBytes, skip, ext = 1, 1, true
			case 0xc8: // ext16
				lenBytes, skip, ext = 2, 1, true
			case 0xc9: // ext32
				lenBytes, skip, ext = 4, 1, true
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
			case 0xd4: // fixext1: type and data
				skip, ext = 2, true
			case 0xd5: // fixext2
				skip, ext = 3, true
			case 0xd6: // fixext4
				skip, ext = 5, true
			case 0xd7: // fixext8
				skip, ext = 9, true
			case 0xd8: // fixext16
				skip, ext = 17, true
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
					if inExt {
						return len(data), nil
					}
					return 0, errMsgPackTruncated
				}
				var n uint64
				for _, b := range data[i : i+lenBytes] {
					n = n<<8 | uint64(b)
				}
				i += lenBytes
				switch {
				case code == 0xde || code == 0xdf:
					items = 2 * n
				case container:
					items = n
				default:
					skip += n
				}
			}
		}

		if skip > uint64(len(data)-i) {
			if lenFree(code) {
				if inExt {
					return len(data), nil
				}
				return 0, errMsgPackTruncated
			}
			return 0, fmt.Errorf("%w: %d bytes declared at offset %d, %d left", errMsgPackOversize, skip, i, len(data)-i)
		}
		if ext && i+1 < len(data) && data[i] != timestampExt && isMapCode(data[i+1]) {
			// i is at the extension's type byte; its body follows.
			if c.extDepth >= maxExtNesting {
				return 0, fmt.Errorf("extension bodies nested deeper than %d", maxExtNesting)
			}
			c.extDepth++
			_, err := c.walk(i + 1)
			c.extDepth--
			if err != nil {
				return 0, fmt.Errorf("in extension body at offset %d: %w", i+1, err)
			}
		}
		i += int(skip)

		if container && items > 0 {
			if items > uint64(len(data)-i) {
				return 0, fmt.Errorf("%w: %d items declared at offset %d, %d bytes left", errMsgPackOversize, items, i, len(data)-i)
			}
			if len(stack) >= c.maxDepth {
				return 0, fmt.Errorf("nesting deeper than %d", c.maxDepth)
			}
			stack = append(stack, need)
			need = items
		}
	}
}

// lenFree reports whether code is a type whose size is fixed by the code
// alone, so that running out of data for it is plain truncation rather than
// a declared length that lies.
func lenFree(code byte) bool {
	switch code {
	case 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return true
	}
	return code >= 0xa0 && code <= 0xbf
}

// isMapCode reports whether code starts a map.
func isMapCode(code byte) bool {
	return code&0xf0 == 0x80 || code == 0xde || code == 0xdf
}
