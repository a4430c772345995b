package mcmeta

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrTooOld is wrapped by the errors of a Client whose server is older
// than MinVersion, before which the meta protocol was not stable.
var ErrTooOld = errors.New("mcmeta: memcached is too old for the meta protocol (1.6.10 or later is needed)")

// ErrClosed is returned by a Client's methods after Close.
var ErrClosed = errors.New("mcmeta: client closed")

// ErrServerTooOld is memcachestore.ErrServerTooOld, here so that the
// locker and the registry need not import the store.
var ErrServerTooOld = errors.New("memcachestore: memcached older than 1.6.10 (no stable meta protocol)")

// MinVersion is the oldest memcached a Client talks to: the meta protocol
// is stable since.
const MinVersion = "1.6.10"

// Options configure a Client.
type Options struct {
	// Pick returns the server of a key. Required.
	Pick func(key string) (net.Addr, error)
	// Dial opens a connection to a server. Default: a net.Dialer with
	// Timeout.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Timeout bounds a dial, and each exchange of a pipeline: the writing
	// of its requests, and the reading of each reply. Required.
	Timeout time.Duration
	// MaxIdleConns is how many connections a Client keeps per server
	// between calls. Zero keeps none.
	MaxIdleConns int
	// MaxValue bounds the values a reply may hold. Default:
	// DefaultMaxValue.
	MaxValue int
}

// Client sends pipelines of meta requests to the servers Options.Pick
// chooses, on connections it pools per server. It is safe for concurrent
// use.
//
// A Client takes no context for its I/O: Do checks ctx before it sends,
// and each exchange is bounded by Options.Timeout, as gomemcache's
// commands are by its socket timeout. (A read cut short by a caller's
// context would look like a failing server to a Pool that counts
// failures.)
type Client struct {
	opts Options

	mu sync.Mutex // protects idle and closed
	// idle holds the idle connections of each server, by the address Pick
	// returned for it.
	idle   map[net.Addr][]*conn
	closed bool

	// verified holds the addresses of the servers whose version was
	// checked.
	verified sync.Map
}

// conn is one connection to a server, used by one pipeline at a time.
type conn struct {
	nc   net.Conn
	addr net.Addr
	br   *bufio.Reader
	bw   *bufio.Writer
	buf  []byte // the requests of the pipeline being sent
}

// New returns a Client. Options.Pick and Options.Timeout are required.
func New(o Options) (*Client, error) {
	if o.Pick == nil || o.Timeout <= 0 {
		return nil, errors.New("mcmeta: Options.Pick and a positive Options.Timeout are required")
	}
	if o.MaxIdleConns < 0 {
		return nil, fmt.Errorf("mcmeta: MaxIdleConns %d is negative", o.MaxIdleConns)
	}
	if o.Dial == nil {
		d := &net.Dialer{Timeout: o.Timeout}
		o.Dial = d.DialContext
	}
	if o.MaxValue <= 0 {
		o.MaxValue = DefaultMaxValue
	}
	return &Client{opts: o, idle: make(map[net.Addr][]*conn)}, nil
}

// Close closes the idle connections; the ones in use are closed when their
// pipeline ends. Do fails with ErrClosed afterwards.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	idle := c.idle
	c.idle = make(map[net.Addr][]*conn)
	c.mu.Unlock()
	for _, cs := range idle {
		for _, cn := range cs {
			_ = cn.nc.Close()
		}
	}
	return nil
}

// Do sends reqs and fills replies[i] with the reply to reqs[i]: the
// requests of each server in one pipeline on one connection, in the order
// of reqs, one round trip per server, the servers in parallel. Requests
// must not be quiet (q) nor Noop: Do reads one reply per request, in
// order, and needs no mn to end a pipeline.
//
// A request that cannot be sent (ErrBadRequest) fails the call before
// anything is sent. Otherwise Do returns the first error of the servers
// (an I/O error, ErrMalformed, ErrTooOld, or an error for a ClientError or
// Error reply, after which the connection is closed); the replies of the
// servers that answered are filled in, and those of a server that failed
// are left with a zero Status from its first reply not read. A
// ServerError reply is a reply, not an error.
func (c *Client) Do(ctx context.Context, reqs []Request, replies []Reply) error {
	if len(replies) != len(reqs) {
		return fmt.Errorf("%w: %d requests and %d replies", ErrBadRequest, len(reqs), len(replies))
	}
	for i := range reqs {
		r := &reqs[i]
		if r.Cmd == Noop || r.Quiet() {
			return fmt.Errorf("%w: Do sends no mn and no quiet request", ErrBadRequest)
		}
		if err := checkKey(r.Key, r.Base64); err != nil {
			return err
		}
		if err := checkFlags(r.Flags); err != nil {
			return err
		}
		replies[i] = Reply{}
	}
	if len(reqs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The common case: every key on one server, picked as the same
	// address.
	first, err := c.opts.Pick(reqs[0].Key)
	if err != nil {
		return err
	}
	var addrs []net.Addr // nil while every key is on first
	for i := 1; i < len(reqs); i++ {
		a, err := c.opts.Pick(reqs[i].Key)
		if err != nil {
			return err
		}
		if addrs == nil && a == first {
			continue
		}
		if addrs == nil {
			addrs = make([]net.Addr, len(reqs))
			for j := range i {
				addrs[j] = first
			}
		}
		addrs[i] = a
	}
	if addrs == nil {
		return c.exchange(first, reqs, replies, nil)
	}
	groups := make(map[string][]int)
	var order []string
	for i, a := range addrs {
		s := a.String()
		if _, ok := groups[s]; !ok {
			order = append(order, s)
		}
		groups[s] = append(groups[s], i)
	}
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for j, s := range order[1:] {
		idx := groups[s]
		wg.Go(func() { errs[j+1] = c.exchange(addrs[idx[0]], reqs, replies, idx) })
	}
	idx := groups[order[0]]
	errs[0] = c.exchange(addrs[idx[0]], reqs, replies, idx)
	wg.Wait()
	return errors.Join(errs...) // nil when every server answered
}

// exchange sends the requests of reqs at idx (all of them when idx is nil)
// to the server at addr in one pipeline, and reads their replies.
func (c *Client) exchange(addr net.Addr, reqs []Request, replies []Reply, idx []int) error {
	n := len(reqs)
	if idx != nil {
		n = len(idx)
	}
	at := func(j int) int {
		if idx == nil {
			return j
		}
		return idx[j]
	}
	cn, err := c.get(addr)
	if err != nil {
		return fmt.Errorf("mcmeta: %s: %w", addr, err)
	}
	cn.buf = cn.buf[:0]
	for j := range n {
		// Checked by Do: no error.
		cn.buf, _ = AppendRequest(cn.buf, &reqs[at(j)])
	}
	_ = cn.nc.SetDeadline(time.Now().Add(c.opts.Timeout))
	if _, err := cn.bw.Write(cn.buf); err == nil {
		err = cn.bw.Flush()
	}
	if err != nil {
		c.discard(cn)
		return fmt.Errorf("mcmeta: %s: %w", addr, err)
	}
	if cap(cn.buf) > 64<<10 {
		cn.buf = nil // do not keep a large value's buffer per connection
	}
	for j := range n {
		rep := &replies[at(j)]
		if j > 0 {
			_ = cn.nc.SetDeadline(time.Now().Add(c.opts.Timeout))
		}
		if err := ReadReply(cn.br, rep, c.opts.MaxValue); err != nil {
			c.discard(cn)
			*rep = Reply{}
			return fmt.Errorf("mcmeta: %s: %s %q: %w", addr, reqs[at(j)].Cmd, reqs[at(j)].Key, err)
		}
		switch rep.Status {
		case ClientError, Error:
			// The server may have read what followed out of step: read
			// nothing more from this connection.
			c.discard(cn)
			return fmt.Errorf("mcmeta: %s: %s %q: server replied %s %s", addr, reqs[at(j)].Cmd, reqs[at(j)].Key, rep.Status, rep.Message)
		}
	}
	c.put(cn)
	return nil
}

// get returns an idle connection to addr, or dials one and checks the
// server's version if it was never checked.
func (c *Client) get(addr net.Addr) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if cs := c.idle[addr]; len(cs) > 0 {
		cn := cs[len(cs)-1]
		c.idle[addr] = cs[:len(cs)-1]
		c.mu.Unlock()
		return cn, nil
	}
	c.mu.Unlock()
	key := addr.String()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	nc, err := c.opts.Dial(ctx, addr.Network(), key)
	cancel()
	if err != nil {
		return nil, err
	}
	cn := &conn{nc: nc, addr: addr, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 16<<10)}
	if _, ok := c.verified.Load(key); !ok {
		if err := c.checkVersion(cn); err != nil {
			_ = nc.Close()
			return nil, err
		}
		c.verified.Store(key, struct{}{})
	}
	return cn, nil
}

// put returns cn to the idle connections, or closes it.
func (c *Client) put(cn *conn) {
	c.mu.Lock()
	if !c.closed && len(c.idle[cn.addr]) < c.opts.MaxIdleConns {
		c.idle[cn.addr] = append(c.idle[cn.addr], cn)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	_ = cn.nc.Close()
}

// discard closes cn, which is out of step or broken.
func (c *Client) discard(cn *conn) { _ = cn.nc.Close() }

// Verify checks, on a connection of its own (kept for later use), that the
// server at addr speaks the meta protocol: one `version` on a connection
// dialed for the purpose, unless the server was checked before. It returns
// an error wrapping ErrTooOld for a server older than MinVersion, and the
// dial's error for a server that does not answer.
func (c *Client) Verify(addr net.Addr) error {
	if _, ok := c.verified.Load(addr.String()); ok {
		return nil
	}
	cn, err := c.get(addr)
	if err != nil {
		return fmt.Errorf("mcmeta: %s: %w", addr, err)
	}
	c.put(cn)
	return nil
}

// checkVersion asks the server behind cn for its version.
func (c *Client) checkVersion(cn *conn) error {
	_ = cn.nc.SetDeadline(time.Now().Add(c.opts.Timeout))
	if _, err := cn.bw.WriteString("version\r\n"); err != nil {
		return err
	}
	if err := cn.bw.Flush(); err != nil {
		return err
	}
	line, err := cn.br.ReadString('\n')
	if err != nil {
		return err
	}
	v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "VERSION ")
	if !ok {
		return fmt.Errorf("%w: version reply %q", ErrMalformed, line)
	}
	if !AtLeast(v, MinVersion) {
		return fmt.Errorf("%w: %s is %s", ErrTooOld, cn.addr, v)
	}
	return nil
}

// AtLeast reports whether the version v ("1.6.18", "1.6.18-dev") is min
// or later. A version it cannot read is not.
func AtLeast(v, min string) bool {
	got, ok := parseVersion(v)
	want, ok2 := parseVersion(min)
	if !ok || !ok2 {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return got[i] > want[i]
		}
	}
	return true
}

// parseVersion reads major.minor.patch from the start of v.
func parseVersion(v string) (out [3]int, ok bool) {
	for i := range out {
		end := 0
		for end < len(v) && v[end] >= '0' && v[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(v[:end])
		if err != nil {
			return out, false
		}
		out[i], v = n, v[end:]
		if i < 2 {
			if !strings.HasPrefix(v, ".") {
				return out, false
			}
			v = v[1:]
		}
	}
	return out, true
}
