package redisstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
)

// Defaults of the invalidation stream's heartbeat (see
// Store.WatchInvalidations).
const (
	DefaultTrackingPing    = 100 * time.Millisecond
	DefaultTrackingTimeout = time.Second
)

// TrackingClientName is the client name of the connections that carry
// invalidations (CLIENT LIST shows them).
const TrackingClientName = "corral-near"

var _ backend.Invalidator = (*Store)(nil)

// WatchInvalidations implements [backend.Invalidator] with Redis's
// server-assisted client-side caching in broadcasting mode: a connection of
// its own to each server (each master of a Cluster) speaks RESP3 and runs
// CLIENT TRACKING ON BCAST PREFIX prefix, so the server pushes the name of
// every key with that prefix that changes — a SET, a script, a SETRANGE,
// a DEL, an expiry, an eviction, by any client — and a null for a FLUSHALL.
// Nothing changes on the write path: no PUBLISH, no extra round trip.
//
// The stream is live once every server tracks. A connection that fails
// (killed, server restarted, network error), a server that refuses HELLO 3
// or CLIENT TRACKING, or one that leaves a PING unanswered for
// Options.TrackingTimeout, makes the stream not live (sink.Live(false,
// err)) until every connection is made again; on a Cluster the masters are
// listed again at each reconnection. Each connection sends a PING every
// Options.TrackingPing; the invalidations a server pushed before answering
// a PING reach the sink before its answer, so while the stream is live
// every change made more than TrackingTimeout + TrackingPing ago has been
// delivered, even on a connection that stopped answering without closing.
//
// It returns an error wrapping ErrInvalidOptions for a client other than a
// *redis.Client or a *redis.ClusterClient.
func (s *Store) WatchInvalidations(prefix string, sink backend.InvalidationSink) (stop func(), err error) {
	switch s.client.(type) {
	case *redis.Client, *redis.ClusterClient:
	default:
		return nil, fmt.Errorf("%w: invalidations need a *redis.Client or a *redis.ClusterClient, not a %T", ErrInvalidOptions, s.client)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{s: s, prefix: prefix, sink: sink}
	w.wg.Add(1)
	go w.run(ctx)
	return func() {
		cancel()
		w.wg.Wait()
	}, nil
}

// watcher runs one watch.
type watcher struct {
	s      *Store
	prefix string
	sink   backend.InvalidationSink
	wg     sync.WaitGroup
}

// Bounds of the wait between reconnection attempts.
const (
	minTrackingBackoff = 20 * time.Millisecond
	maxTrackingBackoff = time.Second
)

func (w *watcher) run(ctx context.Context) {
	defer w.wg.Done()
	backoff := time.Duration(0)
	for {
		began := time.Now()
		err := w.round(ctx)
		if ctx.Err() != nil {
			return
		}
		w.sink.Live(false, err)
		if time.Since(began) > maxTrackingBackoff {
			backoff = 0 // it was up for a while: try again soon
		}
		backoff = min(max(2*backoff, minTrackingBackoff), maxTrackingBackoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// nodes lists the options of the servers to track.
func (w *watcher) nodes(ctx context.Context) ([]*redis.Options, error) {
	switch c := w.s.client.(type) {
	case *redis.Client:
		return []*redis.Options{c.Options()}, nil
	case *redis.ClusterClient:
		var mu sync.Mutex
		var out []*redis.Options
		err := c.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			out = append(out, n.Options())
			mu.Unlock()
			return nil
		})
		return out, err
	}
	return nil, errors.New("unsupported client")
}

// errTopology ends a round whose Cluster masters changed.
var errTopology = errors.New("redisstore: cluster masters changed")

// round connects to every server, reports the stream live, and returns
// when a connection fails (or the masters change, or ctx ends).
func (w *watcher) round(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
	nodes, err := w.nodes(lctx)
	lcancel()
	if err != nil {
		return fmt.Errorf("redisstore: listing servers to track: %w", err)
	}
	if len(nodes) == 0 {
		return errors.New("redisstore: no server to track")
	}
	sessions := make([]*session, 0, len(nodes))
	var wg sync.WaitGroup
	defer func() {
		cancel()
		for _, s := range sessions {
			s.close() // ends the reads
		}
		wg.Wait()
	}()
	addrs := map[string]bool{}
	for _, o := range nodes {
		s, err := w.open(ctx, o)
		if err != nil {
			return err
		}
		sessions = append(sessions, s)
		addrs[o.Addr] = true
	}
	done := make(chan error, 2*len(sessions))
	for _, s := range sessions {
		wg.Add(2)
		go func() { defer wg.Done(); done <- s.read(w.sink) }()
		go func() { defer wg.Done(); done <- s.heartbeat(ctx) }()
	}
	w.sink.Live(true, nil)
	var topo <-chan time.Time
	if _, cluster := w.s.client.(*redis.ClusterClient); cluster {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		topo = t.C
	}
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return nil
		case <-topo:
			tctx, tcancel := context.WithTimeout(ctx, time.Second)
			now, err := w.nodes(tctx)
			tcancel()
			if err != nil {
				continue // the connections tell whether the servers are up
			}
			if len(now) != len(addrs) {
				return errTopology
			}
			for _, o := range now {
				if !addrs[o.Addr] {
					return errTopology
				}
			}
		}
	}
}

// session is one tracking connection.
type session struct {
	addr    string
	conn    net.Conn
	r       *bufio.Reader
	ping    time.Duration
	timeout time.Duration

	mu sync.Mutex // protects the fields below and writes to conn
	// sent holds the send times of the PINGs not yet answered, oldest
	// first.
	sent []time.Time

	// failed holds why the heartbeat closed the connection.
	failed atomic.Pointer[error]
}

// open dials o's server and turns tracking on.
func (w *watcher) open(ctx context.Context, o *redis.Options) (*session, error) {
	dial := o.Dialer
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	timeout := o.DialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network := o.Network
	if network == "" {
		network = "tcp"
	}
	conn, err := dial(dctx, network, o.Addr)
	if err != nil {
		return nil, fmt.Errorf("redisstore: tracking connection to %s: %w", o.Addr, err)
	}
	s := &session{addr: o.Addr, conn: conn, r: bufio.NewReader(conn), ping: w.s.trackPing, timeout: w.s.trackTimeout}
	user, pass := o.Username, o.Password
	switch {
	case o.CredentialsProviderContext != nil:
		if user, pass, err = o.CredentialsProviderContext(dctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("redisstore: tracking connection to %s: credentials: %w", o.Addr, err)
		}
	case o.CredentialsProvider != nil:
		user, pass = o.CredentialsProvider()
	}
	hello := []string{"HELLO", "3"}
	if pass != "" {
		if user == "" {
			user = "default"
		}
		hello = append(hello, "AUTH", user, pass)
	}
	hello = append(hello, "SETNAME", TrackingClientName)
	deadline, _ := dctx.Deadline()
	_ = conn.SetDeadline(deadline.Add(o.ReadTimeout + time.Second))
	for _, cmd := range [][]string{hello, {"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", w.prefix}} {
		if err := s.send(cmd...); err != nil {
			_ = conn.Close()
			return nil, err
		}
		v, err := readReply(s.r)
		if err == nil && (v.kind == '-' || v.kind == '!') {
			err = fmt.Errorf("server says %s", v.str) // never holds the password
		}
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("redisstore: tracking connection to %s: %s: %w", o.Addr, cmd[0], err)
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return s, nil
}

// send writes one command.
func (s *session) send(args ...string) error {
	b := make([]byte, 0, 64)
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := s.conn.Write(b)
	return err
}

func (s *session) close() { _ = s.conn.Close() }

// read delivers the pushed invalidations until the connection fails.
func (s *session) read(sink backend.InvalidationSink) error {
	for {
		v, err := readReply(s.r)
		if err != nil {
			if why := s.failed.Load(); why != nil {
				return *why
			}
			return fmt.Errorf("redisstore: tracking connection to %s: %w", s.addr, err)
		}
		if v.kind == '>' {
			if len(v.elems) == 2 && v.elems[0].str == "invalidate" {
				if v.elems[1].null {
					sink.Invalidate(nil)
				} else {
					keys := make([]string, len(v.elems[1].elems))
					for i, k := range v.elems[1].elems {
						keys[i] = k.str
					}
					sink.Invalidate(keys)
				}
			}
			continue
		}
		// The answer to the oldest PING.
		s.mu.Lock()
		if len(s.sent) > 0 {
			s.sent = s.sent[1:]
		}
		s.mu.Unlock()
	}
}

// heartbeat sends a PING every s.ping, and closes the connection when one
// has gone unanswered for more than s.timeout.
func (s *session) heartbeat(ctx context.Context) error {
	t := time.NewTicker(s.ping)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.mu.Lock()
		// An unanswered PING older than the timeout: not the time since
		// the last answer, which a heartbeat woken late (a process whose
		// goroutines keep every core busy) would stretch past the timeout
		// though every PING was answered.
		if len(s.sent) > 0 && time.Since(s.sent[0]) > s.timeout {
			s.mu.Unlock()
			err := fmt.Errorf("redisstore: tracking connection to %s: no answer to PING within %v", s.addr, s.timeout)
			s.failed.Store(&err) // the reader's "use of closed connection" would hide why
			_ = s.conn.Close()
			return err
		}
		s.sent = append(s.sent, time.Now())
		err := s.send("PING")
		s.mu.Unlock()
		if err != nil {
			_ = s.conn.Close()
			return fmt.Errorf("redisstore: tracking connection to %s: %w", s.addr, err)
		}
	}
}

// reply is one RESP3 value.
type reply struct {
	kind  byte // the type byte: '+', '-', ':', '$', '*', '>', '_', '%', …
	str   string
	elems []reply
	null  bool
}

// Bounds of what readReply accepts: the server is trusted, but a reply
// corrupted on the way (or sent by something that is not Redis) must end
// the connection, not the process.
const (
	// maxReplyLen bounds a length the server announces.
	maxReplyLen = 512 << 20
	// maxReplyDepth bounds the nesting of aggregates. An invalidation is two
	// deep (a push holding an array), HELLO's reply four (its modules: an
	// array of maps holding an array).
	maxReplyDepth = 8
	// minElemLen is the fewest bytes an element of an aggregate takes on
	// the wire ("_\r\n").
	minElemLen = 3
	// minBulkAlloc is what a bulk string's buffer may start with before its
	// bytes have arrived.
	minBulkAlloc = 512
)

var (
	errProtocol     = errors.New("RESP protocol error")
	errReplyTooDeep = fmt.Errorf("%w: aggregates nested more than %d deep", errProtocol, maxReplyDepth)
)

// readReply reads one RESP2 or RESP3 value. It allocates in proportion to
// the bytes it has received, never to a length announced ahead of them, and
// returns an error wrapping errProtocol for a malformed reply, one with a
// length above maxReplyLen, or one nested more than maxReplyDepth deep
// (errReplyTooDeep).
func readReply(r *bufio.Reader) (reply, error) { return readValue(r, 0) }

// readValue reads one value inside depth aggregates. Attributes before it
// are read and dropped: they describe the value, which is what is wanted.
func readValue(r *bufio.Reader, depth int) (reply, error) {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return reply{}, err
		}
		if len(line) < 3 || line[len(line)-2] != '\r' {
			return reply{}, errProtocol
		}
		kind, body := line[0], string(line[1:len(line)-2])
		switch kind {
		case '+', '-', ':', '#', ',', '(':
			return reply{kind: kind, str: body}, nil
		case '_':
			return reply{kind: kind, null: true}, nil
		case '$', '=', '!':
			n, err := parseReplyLen(body)
			if err != nil {
				return reply{}, err
			}
			if n < 0 {
				return reply{kind: kind, null: true}, nil
			}
			str, err := readBulk(r, n)
			if err != nil {
				return reply{}, err
			}
			return reply{kind: kind, str: str}, nil
		case '*', '>', '~', '%', '|':
			n, err := parseReplyLen(body)
			if err != nil {
				return reply{}, err
			}
			if n < 0 {
				return reply{kind: kind, null: true}, nil
			}
			if depth >= maxReplyDepth {
				return reply{}, errReplyTooDeep
			}
			if kind == '%' || kind == '|' {
				n *= 2 // keys and values
			}
			elems, err := readElems(r, n, depth+1)
			if err != nil {
				return reply{}, err
			}
			if kind == '|' {
				continue // an attribute: the value follows
			}
			return reply{kind: kind, elems: elems}, nil
		default:
			return reply{}, errProtocol
		}
	}
}

// parseReplyLen parses the length or count of a bulk string or an
// aggregate; a negative one means a null.
func parseReplyLen(body string) (int, error) {
	n, err := strconv.Atoi(body)
	if err != nil || n > maxReplyLen {
		return 0, errProtocol
	}
	return n, nil
}

// readElems reads the n values of an aggregate inside depth aggregates. The
// slice starts no larger than the elements the buffered bytes can hold and
// grows as they are read, so a count the server announces but does not
// send costs nothing.
func readElems(r *bufio.Reader, n, depth int) ([]reply, error) {
	elems := make([]reply, 0, min(n, r.Buffered()/minElemLen))
	for range n {
		v, err := readValue(r, depth)
		if err != nil {
			return nil, err
		}
		elems = append(elems, v)
	}
	return elems, nil
}

// readBulk reads a bulk string of n bytes and the CRLF after it. Its buffer
// starts no larger than the bytes already buffered (or minBulkAlloc) and at
// most doubles each time it fills, so it never holds more than about twice
// what has arrived.
func readBulk(r *bufio.Reader, n int) (string, error) {
	want := n + 2
	buf := make([]byte, 0, min(want, max(r.Buffered(), minBulkAlloc)))
	for {
		k, err := io.ReadFull(r, buf[len(buf):min(cap(buf), want)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return "", err
		}
		if len(buf) == want {
			break
		}
		buf = slices.Grow(buf, min(want-len(buf), len(buf)))
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		return "", errProtocol
	}
	return string(buf[:n]), nil
}
