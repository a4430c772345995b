package redisstore

import (
	"bufio"
	"strings"
	"testing"
)

// TestReadReply checks the RESP3 reader on the frames a tracking
// connection receives.
func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     func(reply) bool
	}{
		{"pong", "+PONG\r\n", func(r reply) bool { return r.kind == '+' && r.str == "PONG" }},
		{"error", "-ERR unknown command\r\n", func(r reply) bool { return r.kind == '-' && r.str == "ERR unknown command" }},
		{"invalidate keys", ">2\r\n$10\r\ninvalidate\r\n*2\r\n$3\r\nk:1\r\n$3\r\nk:2\r\n", func(r reply) bool {
			return r.kind == '>' && len(r.elems) == 2 && r.elems[0].str == "invalidate" &&
				len(r.elems[1].elems) == 2 && r.elems[1].elems[0].str == "k:1" && r.elems[1].elems[1].str == "k:2"
		}},
		{"invalidate all", ">2\r\n$10\r\ninvalidate\r\n_\r\n", func(r reply) bool {
			return r.kind == '>' && len(r.elems) == 2 && r.elems[1].null
		}},
		{"hello map", "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n", func(r reply) bool {
			return r.kind == '%' && len(r.elems) == 4 && r.elems[3].str == "3"
		}},
		{"attribute then value", "|1\r\n+a\r\n+b\r\n+OK\r\n", func(r reply) bool { return r.kind == '+' && r.str == "OK" }},
		{"null bulk", "$-1\r\n", func(r reply) bool { return r.null }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := readReply(bufio.NewReader(strings.NewReader(tc.in)))
			if err != nil || !tc.want(r) {
				t.Fatalf("readReply(%q) = %+v, %v", tc.in, r, err)
			}
		})
	}
	for _, bad := range []string{"", "+OK\n", "?x\r\n", "$5\r\nab", "*x\r\n", "$999999999999\r\n"} {
		if _, err := readReply(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("readReply(%q) gave no error", bad)
		}
	}
}

// FuzzReadReply checks that no input makes the reader panic or loop.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+PONG\r\n", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", "%1\r\n+a\r\n:1\r\n", "|1\r\n+a\r\n+b\r\n+OK\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = readReply(bufio.NewReader(strings.NewReader(s)))
	})
}
