package redisstore

import (
	"bufio"
	"errors"
	"runtime"
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
	for _, bad := range []string{"", "+OK\n", "?x\r\n", "$5\r\nab", "$1\r\nabc", "*x\r\n", "$999999999999\r\n"} {
		if _, err := readReply(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("readReply(%q) gave no error", bad)
		}
	}
}

// hostileReplies announce far more than they send, or nest too deep. The
// first killed the fuzz worker: the reader allocated the 100 million
// elements announced.
var hostileReplies = []string{
	"*100000000\r\n!10\r\n" + strings.Repeat("0", 64),
	">536870912\r\n$10\r\ninvalidate\r\n",
	"%268435456\r\n+a\r\n",
	"$536870912\r\nabc",
	"*2\r\n$536870912\r\nabc",
	strings.Repeat("*1\r\n", 100000) + "+deep\r\n",
}

// TestReadReplyAllocatesWhatArrives: a reply that announces more elements
// or bytes than it sends costs memory in proportion to what it sent.
func TestReadReplyAllocatesWhatArrives(t *testing.T) {
	const limit = 1 << 20
	for _, in := range hostileReplies {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := readReply(bufio.NewReader(strings.NewReader(in)))
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("readReply(%.40q…) gave no error", in)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > limit+64*uint64(len(in)) {
			t.Errorf("readReply(%.40q…) allocated %d bytes for %d bytes of input", in, got, len(in))
		}
	}
}

// TestReadReplyDepth: aggregates nest up to maxReplyDepth deep and no
// deeper; attributes, however many, do not nest.
func TestReadReplyDepth(t *testing.T) {
	nested := func(depth int) string { return strings.Repeat("*1\r\n", depth) + ":1\r\n" }
	if _, err := readReply(bufio.NewReader(strings.NewReader(nested(maxReplyDepth)))); err != nil {
		t.Errorf("%d deep: %v", maxReplyDepth, err)
	}
	if _, err := readReply(bufio.NewReader(strings.NewReader(nested(maxReplyDepth + 1)))); !errors.Is(err, errReplyTooDeep) || !errors.Is(err, errProtocol) {
		t.Errorf("%d deep: %v, want errReplyTooDeep", maxReplyDepth+1, err)
	}
	in := strings.Repeat("|1\r\n+a\r\n+b\r\n", 100000) + "+OK\r\n"
	if v, err := readReply(bufio.NewReader(strings.NewReader(in))); err != nil || v.kind != '+' || v.str != "OK" {
		t.Errorf("100000 attributes, then +OK: %+v, %v", v, err)
	}
}

// FuzzReadReply checks that no input makes the reader panic, loop, or
// allocate by what it announces rather than what it sends.
func FuzzReadReply(f *testing.F) {
	seeds := []string{"+PONG\r\n", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", "%1\r\n+a\r\n:1\r\n", "|1\r\n+a\r\n+b\r\n+OK\r\n"}
	for _, s := range append(seeds, hostileReplies...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = readReply(bufio.NewReader(strings.NewReader(s)))
	})
}
