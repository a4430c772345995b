package mcmeta

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// MaxKeyLen is the longest key memcached accepts, in bytes.
const MaxKeyLen = 250

// ErrBadRequest is wrapped by the errors of a request that cannot be sent:
// a key memcached would refuse, flags that are not flags.
var ErrBadRequest = errors.New("mcmeta: bad request")

// Cmd is a meta command.
type Cmd uint8

// The meta commands.
const (
	// Get is mg: read an item, or some of its metadata.
	Get Cmd = iota + 1
	// Set is ms: store an item (set, add, replace, append, prepend).
	Set
	// Delete is md: remove an item, or mark it stale.
	Delete
	// Arithmetic is ma: increment or decrement a number.
	Arithmetic
	// Noop is mn: it does nothing, and its reply (MN) ends a pipeline of
	// quiet requests.
	Noop
)

var cmdNames = [...]string{Get: "mg", Set: "ms", Delete: "md", Arithmetic: "ma", Noop: "mn"}

// String returns the command as it is sent.
func (c Cmd) String() string {
	if c == 0 || int(c) >= len(cmdNames) {
		return "m?"
	}
	return cmdNames[c]
}

// Flags are a request's flags as they follow its key on the wire: each
// one a space, a letter and its token, if any (" v c N30"). The zero value
// holds none. Build them with the methods, which append.
type Flags []byte

// Flag appends a flag without a token (v, c, t, f, k, q, b, I, ...).
func (f Flags) Flag(c byte) Flags { return append(f, ' ', c) }

// Int appends a flag with a signed number (T-1, N30).
func (f Flags) Int(c byte, n int64) Flags {
	return strconv.AppendInt(append(f, ' ', c), n, 10)
}

// Uint appends a flag with an unsigned number (C<cas>, F<client flags>).
func (f Flags) Uint(c byte, n uint64) Flags {
	return strconv.AppendUint(append(f, ' ', c), n, 10)
}

// Token appends a flag with a token of the caller's (O<opaque>, M<mode>).
// A token must not hold spaces or control bytes: the request is then
// refused when it is encoded.
func (f Flags) Token(c byte, tok string) Flags { return append(append(f, ' ', c), tok...) }

// has reports whether f holds the flag c.
func (f Flags) has(c byte) bool {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == ' ' && f[i+1] == c {
			return true
		}
	}
	return false
}

// Request is one meta command.
type Request struct {
	Cmd Cmd
	// Key is the item's key; empty for Noop.
	Key string
	// Base64 sends Key base64-encoded, with the b flag: any bytes, up to
	// MaxKeyLen of them.
	Base64 bool
	Flags  Flags
	// Value is the data of a Set (nil stores an empty value).
	Value []byte
}

// Quiet reports whether the request has the q flag: the server then omits
// its nominal reply (EN for mg, HD for ms and md).
func (r *Request) Quiet() bool { return r.Flags.has('q') }

// AppendRequest appends r as it is sent to dst. It returns an error
// wrapping ErrBadRequest, and dst unchanged, for a key memcached would
// refuse (empty, longer than MaxKeyLen, holding a space or a control byte)
// or flags that would not read back as flags.
func AppendRequest(dst []byte, r *Request) ([]byte, error) {
	if r.Cmd == 0 || int(r.Cmd) >= len(cmdNames) {
		return dst, fmt.Errorf("%w: unknown command %d", ErrBadRequest, r.Cmd)
	}
	if err := checkFlags(r.Flags); err != nil {
		return dst, err
	}
	if r.Cmd == Noop {
		if r.Key != "" || len(r.Flags) != 0 {
			return dst, fmt.Errorf("%w: mn takes no key and no flags", ErrBadRequest)
		}
		return append(dst, "mn\r\n"...), nil
	}
	if err := checkKey(r.Key, r.Base64); err != nil {
		return dst, err
	}
	dst = append(dst, cmdNames[r.Cmd]...)
	dst = append(dst, ' ')
	if r.Base64 {
		dst = base64.StdEncoding.AppendEncode(dst, []byte(r.Key))
	} else {
		dst = append(dst, r.Key...)
	}
	if r.Cmd == Set {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(len(r.Value)), 10)
	}
	if r.Base64 {
		dst = append(dst, " b"...)
	}
	dst = append(dst, r.Flags...)
	dst = append(dst, '\r', '\n')
	if r.Cmd == Set {
		dst = append(dst, r.Value...)
		dst = append(dst, '\r', '\n')
	}
	return dst, nil
}

// checkKey refuses the keys memcached refuses.
func checkKey(key string, b64 bool) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrBadRequest)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: key of %d bytes, at most %d", ErrBadRequest, len(key), MaxKeyLen)
	case b64:
		return nil
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: key %q holds byte %#x (send it with Base64)", ErrBadRequest, key, c)
		}
	}
	return nil
}

// checkFlags refuses flags that are not a sequence of " <letter><token>"
// with tokens free of spaces and control bytes.
func checkFlags(f Flags) error {
	for i := 0; i < len(f); {
		if f[i] != ' ' || i+1 == len(f) || !isLetter(f[i+1]) {
			return fmt.Errorf("%w: malformed flags %q", ErrBadRequest, f)
		}
		i += 2
		for ; i < len(f) && f[i] != ' '; i++ {
			if c := f[i]; c < ' ' || c == 0x7f {
				return fmt.Errorf("%w: flag token holds byte %#x", ErrBadRequest, c)
			}
		}
	}
	return nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
