package mcmeta

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrMalformed is wrapped by the error ReadReply returns for bytes that
// are not a meta reply: the connection is out of step and must be closed.
var ErrMalformed = errors.New("mcmeta: malformed reply")

// DefaultMaxValue bounds the value of a reply ReadReply accepts by default:
// memcached's largest item (its -I flag goes up to 1 GiB).
const DefaultMaxValue = 1 << 30

// Status is the kind of a reply.
type Status uint8

// The replies of the meta commands.
const (
	// VA: a value follows (mg with v, ma with v).
	VA Status = iota + 1
	// HD: success without a value (a hit without v; a store; a delete).
	HD
	// EN: mg of a missing item.
	EN
	// NF: not found (md, ma, an ms with C of a missing item).
	NF
	// NS: not stored (an ms in add mode of an existing item, ...).
	NS
	// EX: exists: a C<cas> that did not match.
	EX
	// MN: the reply of mn.
	MN
	// ServerError is SERVER_ERROR <message>: the server could not do it
	// (out of memory, an item too large); the connection is still usable.
	ServerError
	// ClientError is CLIENT_ERROR <message>: the server refused the
	// request as malformed; what follows on the connection may be out of
	// step.
	ClientError
	// Error is ERROR: a command the server does not know (a memcached
	// older than the meta protocol).
	Error
)

var statusNames = [...]string{
	VA: "VA", HD: "HD", EN: "EN", NF: "NF", NS: "NS", EX: "EX", MN: "MN",
	ServerError: "SERVER_ERROR", ClientError: "CLIENT_ERROR", Error: "ERROR",
}

// String returns the status as the server spells it.
func (s Status) String() string {
	if s == 0 || int(s) >= len(statusNames) {
		return "status(" + strconv.Itoa(int(s)) + ")"
	}
	return statusNames[s]
}

// Reply is one decoded meta reply. Flags the server returned that have no
// field here are skipped.
type Reply struct {
	Status Status
	// Value is the data of a VA reply, in a slice of its own; nil for the
	// other replies.
	Value []byte
	// CAS is the item's CAS value (flag c).
	CAS uint64
	// ClientFlags are the item's client flags (flag f).
	ClientFlags uint32
	// TTL is the item's time to live left, in seconds, -1 for none
	// (flag t).
	TTL int64
	// Size is the item's size (flag s).
	Size int64
	// Win (W): the caller won the right to recreate the item (a miss
	// vivified by N, a stale item, a recache). Stale (X): the item was
	// marked stale. WinSent (Z): another caller already won.
	Win, Stale, WinSent bool
	// Key (flag k, decoded when the server returned b) and Opaque (flag
	// O), as they came back.
	Key, Opaque string
	// Message is the text of a ServerError or ClientError.
	Message string
	// returned records which flags came back, for Has.
	returned uint64
}

// Has reports whether the server returned the flag c (a letter).
func (r *Reply) Has(c byte) bool {
	bit := flagBit(c)
	return bit != 0 && r.returned&bit != 0
}

// flagBit is c's bit in Reply.returned: a-z then A-Z; 0 for another byte.
func flagBit(c byte) uint64 {
	switch {
	case 'a' <= c && c <= 'z':
		return 1 << (c - 'a')
	case 'A' <= c && c <= 'Z':
		return 1 << (26 + c - 'A')
	}
	return 0
}

// ReadReply reads one reply from r into rep, which it resets first. A
// value larger than maxValue (DefaultMaxValue when not positive) is
// refused before it is read. It returns the reader's error, or one
// wrapping ErrMalformed when the bytes are not a meta reply; after either
// the connection must be closed. Errors the server reports are replies
// (ServerError, ClientError, Error), not errors.
func ReadReply(r *bufio.Reader, rep *Reply, maxValue int) error {
	*rep = Reply{}
	if maxValue <= 0 {
		maxValue = DefaultMaxValue
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("%w: a line longer than %d bytes", ErrMalformed, r.Size())
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return fmt.Errorf("%w: line %q does not end with CRLF", ErrMalformed, line)
	}
	line = line[:len(line)-2]
	if msg, ok := cut(line, "SERVER_ERROR"); ok {
		rep.Status, rep.Message = ServerError, msg
		return nil
	}
	if msg, ok := cut(line, "CLIENT_ERROR"); ok {
		rep.Status, rep.Message = ClientError, msg
		return nil
	}
	if string(line) == "ERROR" {
		rep.Status = Error
		return nil
	}
	if len(line) < 2 || len(line) > 2 && line[2] != ' ' {
		return fmt.Errorf("%w: %q", ErrMalformed, line)
	}
	switch string(line[:2]) {
	case "VA":
		rep.Status = VA
	case "HD":
		rep.Status = HD
	case "EN":
		rep.Status = EN
	case "NF":
		rep.Status = NF
	case "NS":
		rep.Status = NS
	case "EX":
		rep.Status = EX
	case "MN":
		rep.Status = MN
	default:
		return fmt.Errorf("%w: %q", ErrMalformed, line)
	}
	rest := line[2:]
	size := -1
	if rep.Status == VA {
		tok, after := nextToken(rest)
		n, ok := parseUint(tok, uint64(maxValue))
		if !ok {
			return fmt.Errorf("%w: value size %q (at most %d)", ErrMalformed, tok, maxValue)
		}
		size, rest = int(n), after
	}
	// The flags are decoded before the value is read: line is the
	// reader's buffer, which reading the value overwrites.
	if err := rep.parseFlags(rest); err != nil {
		return err
	}
	if size < 0 {
		return nil
	}
	rep.Value = make([]byte, size+2)
	if _, err := io.ReadFull(r, rep.Value); err != nil {
		rep.Value = nil
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if rep.Value[size] != '\r' || rep.Value[size+1] != '\n' {
		rep.Value = nil
		return fmt.Errorf("%w: value of %d bytes not followed by CRLF", ErrMalformed, size)
	}
	rep.Value = rep.Value[:size:size]
	return nil
}

// cut reports whether line is word, or word, a space and a message.
func cut(line []byte, word string) (string, bool) {
	if len(line) < len(word) || string(line[:len(word)]) != word {
		return "", false
	}
	switch {
	case len(line) == len(word):
		return "", true
	case line[len(word)] == ' ':
		return string(line[len(word)+1:]), true
	}
	return "", false
}

// nextToken splits " tok rest" into tok and " rest".
func nextToken(b []byte) (tok, rest []byte) {
	if len(b) == 0 || b[0] != ' ' {
		return nil, b
	}
	b = b[1:]
	for i, c := range b {
		if c == ' ' {
			return b[:i], b[i:]
		}
	}
	return b, nil
}

// parseFlags decodes the flags of a reply line: " <flag><token>"*.
func (rep *Reply) parseFlags(b []byte) error {
	b64Key := false
	for len(b) > 0 {
		tok, rest := nextToken(b)
		if len(tok) == 0 {
			return fmt.Errorf("%w: empty flag in %q", ErrMalformed, b)
		}
		bit := flagBit(tok[0])
		if bit == 0 {
			return fmt.Errorf("%w: flag %q", ErrMalformed, tok)
		}
		rep.returned |= bit
		arg := tok[1:]
		var ok = true
		switch tok[0] {
		case 'c':
			rep.CAS, ok = parseUint(arg, 1<<64-1)
		case 'f':
			var f uint64
			f, ok = parseUint(arg, 1<<32-1)
			rep.ClientFlags = uint32(f)
		case 't':
			if string(arg) == "-1" {
				rep.TTL = -1
			} else {
				var t uint64
				t, ok = parseUint(arg, 1<<62)
				rep.TTL = int64(t)
			}
		case 's':
			var s uint64
			s, ok = parseUint(arg, 1<<62)
			rep.Size = int64(s)
		case 'k':
			rep.Key = string(arg)
		case 'O':
			rep.Opaque = string(arg)
		case 'b':
			b64Key = true
		case 'W':
			rep.Win = true
		case 'X':
			rep.Stale = true
		case 'Z':
			rep.WinSent = true
		}
		if !ok {
			return fmt.Errorf("%w: flag %q", ErrMalformed, tok)
		}
		b = rest
	}
	if b64Key && rep.Key != "" {
		k, err := base64.StdEncoding.DecodeString(rep.Key)
		if err != nil {
			return fmt.Errorf("%w: base64 key %q", ErrMalformed, rep.Key)
		}
		rep.Key = string(k)
	}
	return nil
}

// parseUint parses a decimal number of at most max, without a sign.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if d > max || n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
