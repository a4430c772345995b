package mcmeta

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// appendReply encodes the fields of rep that ReadReply decodes, as a
// server would send them.
func appendReply(dst []byte, rep *Reply) []byte {
	dst = append(dst, rep.Status.String()...)
	switch rep.Status {
	case ServerError, ClientError:
		if rep.Message != "" {
			dst = append(dst, ' ')
			dst = append(dst, rep.Message...)
		}
		return append(dst, '\r', '\n')
	case Error:
		return append(dst, '\r', '\n')
	case VA:
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(len(rep.Value)), 10)
	}
	if rep.Has('c') {
		dst = strconv.AppendUint(append(dst, " c"...), rep.CAS, 10)
	}
	if rep.Has('f') {
		dst = strconv.AppendUint(append(dst, " f"...), uint64(rep.ClientFlags), 10)
	}
	if rep.Has('t') {
		dst = strconv.AppendInt(append(dst, " t"...), rep.TTL, 10)
	}
	if rep.Has('s') {
		dst = strconv.AppendInt(append(dst, " s"...), rep.Size, 10)
	}
	if rep.Has('k') {
		dst = append(append(dst, " b k"...), base64.StdEncoding.EncodeToString([]byte(rep.Key))...)
	}
	if rep.Has('O') {
		dst = append(append(dst, " O"...), rep.Opaque...)
	}
	for _, f := range []struct {
		on bool
		c  byte
	}{{rep.Win, 'W'}, {rep.Stale, 'X'}, {rep.WinSent, 'Z'}} {
		if f.on {
			dst = append(dst, ' ', f.c)
		}
	}
	dst = append(dst, '\r', '\n')
	if rep.Status == VA {
		dst = append(append(dst, rep.Value...), '\r', '\n')
	}
	return dst
}

// sameReply compares the fields appendReply encodes.
func sameReply(a, b *Reply) bool {
	return a.Status == b.Status && bytes.Equal(a.Value, b.Value) && (a.Value == nil) == (b.Value == nil) &&
		a.CAS == b.CAS && a.ClientFlags == b.ClientFlags && a.TTL == b.TTL && a.Size == b.Size &&
		a.Win == b.Win && a.Stale == b.Stale && a.WinSent == b.WinSent &&
		a.Key == b.Key && a.Opaque == b.Opaque && a.Message == b.Message
}

// FuzzMetaReply reads replies from arbitrary bytes until an error. It must
// not panic nor read a value over its bound, and every reply it decodes
// must decode the same once encoded again.
func FuzzMetaReply(f *testing.F) {
	for _, s := range []string{
		"VA 3 c42 f7 t-1 s3\r\nabc\r\n", "VA 0 c1 t30 f0 W\r\n\r\nVA 0 c1 t29 f0 Z\r\n\r\n",
		"HD c5\r\nNS c0\r\nEX\r\nNF\r\nEN O5 knope\r\nMN\r\n", "HD b kYSBrZXk=\r\n",
		"VA 2 c10 t30 X W\r\nab\r\n", "SERVER_ERROR out of memory\r\nCLIENT_ERROR bad\r\nERROR\r\n",
		"VA 13\r\n1700000000001\r\n", "VA 99999999999999999999\r\n", "HD c18446744073709551616\r\n",
		"VA 4\r\nab\r\n\r\n", "HD h1 l2 u\r\n",
	} {
		f.Add([]byte(s))
	}
	const maxValue = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		for {
			var rep Reply
			if err := ReadReply(br, &rep, maxValue); err != nil {
				return
			}
			if (rep.Status == VA) != (rep.Value != nil) {
				t.Fatalf("status %s with value %q", rep.Status, rep.Value)
			}
			if len(rep.Value) > maxValue || len(rep.Value) != cap(rep.Value) {
				t.Fatalf("value of length %d, capacity %d", len(rep.Value), cap(rep.Value))
			}
			if strings.ContainsAny(rep.Message, "\r\n") {
				continue // a message is whatever the line held: not re-encodable
			}
			wire := appendReply(nil, &rep)
			var again Reply
			if err := ReadReply(bufio.NewReaderSize(bytes.NewReader(wire), 64), &again, maxValue); err != nil {
				if len(wire) > 64 && !bytes.HasPrefix(wire, []byte("VA")) {
					continue // a long line of flags re-encoded longer than the buffer
				}
				t.Fatalf("re-encoded reply %q: %v", wire, err)
			}
			if !sameReply(&rep, &again) {
				t.Fatalf("reply %+v re-encoded as %q reads as %+v", rep, wire, again)
			}
		}
	})
}

// FuzzMetaRequest encodes arbitrary requests. One that is accepted must be
// exactly one command (a line, and a data block for ms) that reads back as
// the request: no key, flag or value can smuggle in a second command.
func FuzzMetaRequest(f *testing.F) {
	f.Add(uint8(Get), "k", false, " v c N30", []byte(nil))
	f.Add(uint8(Set), "k", false, " C42 T-1", []byte("a\r\nmn\r\n"))
	f.Add(uint8(Delete), "a key\r\n", true, " I T30", []byte(nil))
	f.Add(uint8(Arithmetic), "g", false, " N0 J5 D0 v", []byte(nil))
	f.Add(uint8(Get), "k", false, " Ox\r\nmn", []byte(nil))
	f.Fuzz(func(t *testing.T, cmd uint8, key string, b64 bool, flags string, value []byte) {
		req := Request{Cmd: Cmd(cmd), Key: key, Base64: b64, Flags: Flags(flags), Value: value}
		wire, err := AppendRequest(nil, &req)
		if err != nil {
			return
		}
		if req.Cmd != Set && len(value) != 0 {
			req.Value = nil // only ms sends a value
		}
		line, rest, ok := bytes.Cut(wire, []byte("\r\n"))
		if !ok || bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("request %q has no single command line", wire)
		}
		fields := strings.Split(string(line), " ")
		if fields[0] != req.Cmd.String() {
			t.Fatalf("request %q does not start with %s", wire, req.Cmd)
		}
		if req.Cmd == Noop {
			if len(fields) != 1 || len(rest) != 0 {
				t.Fatalf("mn sent as %q", wire)
			}
			return
		}
		gotKey := fields[1]
		if b64 {
			k, err := base64.StdEncoding.DecodeString(gotKey)
			if err != nil {
				t.Fatalf("base64 key %q: %v", gotKey, err)
			}
			gotKey = string(k)
		}
		if gotKey != key {
			t.Fatalf("key %q sent as %q", key, fields[1])
		}
		next := 2
		if req.Cmd == Set {
			n, err := strconv.Atoi(fields[2])
			if err != nil || n != len(value) {
				t.Fatalf("ms of %d bytes sent with size %q", len(value), fields[2])
			}
			next = 3
			if len(rest) != n+2 || !bytes.Equal(rest[:n], value) || string(rest[n:]) != "\r\n" {
				t.Fatalf("ms data block %q, want %q", rest, value)
			}
		} else if len(rest) != 0 {
			t.Fatalf("request %q holds more than one line", wire)
		}
		gotFlags := ""
		if len(fields) > next {
			gotFlags = " " + strings.Join(fields[next:], " ")
		}
		wantFlags := flags
		if b64 {
			wantFlags = " b" + flags
		}
		if gotFlags != wantFlags {
			t.Fatalf("flags %q sent as %q", wantFlags, gotFlags)
		}
	})
}
