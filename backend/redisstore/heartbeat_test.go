package redisstore_test

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/redisstore"
)

// fakeTracker is a server on loopback that accepts a tracking connection
// (HELLO, CLIENT TRACKING) and then answers PINGs only while answer is
// true: a server that stops answering without closing the connection.
type fakeTracker struct {
	ln     net.Listener
	mu     sync.Mutex
	answer bool
}

func newFakeTracker(t *testing.T) *fakeTracker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTracker{ln: ln, answer: true}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(conn)
		}
	}()
	return f
}

func (f *fakeTracker) setAnswer(v bool) {
	f.mu.Lock()
	f.answer = v
	f.mu.Unlock()
}

// serve reads commands in RESP arrays and answers +OK to all but PINGs
// while answering is off.
func (f *fakeTracker) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if !strings.HasPrefix(line, "*") {
			continue
		}
		var n int
		for _, c := range strings.TrimSpace(line[1:]) {
			n = 10*n + int(c-'0')
		}
		var args []string
		for range n {
			if _, err := r.ReadString('\n'); err != nil { // $len
				return
			}
			arg, err := r.ReadString('\n')
			if err != nil {
				return
			}
			args = append(args, strings.TrimSpace(arg))
		}
		f.mu.Lock()
		answer := f.answer
		f.mu.Unlock()
		if len(args) > 0 && strings.EqualFold(args[0], "PING") && !answer {
			continue
		}
		if _, err := conn.Write([]byte("+OK\r\n")); err != nil {
			return
		}
	}
}

// liveSink records the stream's state changes.
type liveSink struct {
	changes chan error // nil: live again
}

func (s *liveSink) Invalidate([]string) {}

func (s *liveSink) Live(live bool, err error) {
	if live {
		s.changes <- nil
		return
	}
	s.changes <- err
}

// TestTrackingHeartbeat: a server that stops answering PINGs without
// closing the connection takes the stream down, and the reason given is
// the unanswered PING (not the reader's "use of closed connection" that
// follows when the heartbeat closes it).
func TestTrackingHeartbeat(t *testing.T) {
	f := newFakeTracker(t)
	client := redis.NewClient(&redis.Options{Addr: f.ln.Addr().String()})
	defer client.Close()
	st, err := redisstore.New(client, redisstore.Options{TrackingPing: 10 * time.Millisecond, TrackingTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sink := &liveSink{changes: make(chan error, 16)}
	stop, err := st.WatchInvalidations("c1:{", sink)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	next := func() error {
		t.Helper()
		select {
		case err := <-sink.changes:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("no change of the stream's state in 10 s")
			return nil
		}
	}
	if err := next(); err != nil {
		t.Fatalf("first change: down (%v), want live", err)
	}
	f.setAnswer(false)
	err = next()
	if err == nil || !strings.Contains(err.Error(), "no answer to PING") {
		t.Fatalf("after the server stopped answering: %v, want the stream down for an unanswered PING", err)
	}
	f.setAnswer(true)
	for err := next(); err != nil; err = next() {
		// reconnection attempts may fail while the old one is torn down
	}
}
