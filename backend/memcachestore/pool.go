package memcachestore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/internal/mcmeta"
)

const (
	// DefaultPoolFailures is the default [PoolOptions.Failures].
	DefaultPoolFailures = 2
	// DefaultCooldown is the default [PoolOptions.Cooldown].
	DefaultCooldown = time.Second
	// DefaultMaxMovedKeys is the default [PoolOptions.MaxMovedKeys].
	DefaultMaxMovedKeys = 100_000
	// maxPoolServers bounds a Pool: the stand-ins of a moved key are a bit
	// mask.
	maxPoolServers = 64
)

// PoolOptions configure a [Pool]. The zero value is valid.
type PoolOptions struct {
	// Timeout is the client's socket timeout: what a dead or blackholed
	// server costs a command before it fails. Default: DefaultTimeout.
	Timeout time.Duration
	// MaxIdleConns is the idle connections kept per server. Default:
	// DefaultMaxIdleConns.
	MaxIdleConns int
	// Failures is how many consecutive I/O failures (a refused or timed out
	// dial, a read or write error or timeout) take a server out of key
	// selection. Any byte read from the server resets the count. Default:
	// DefaultPoolFailures.
	Failures int
	// Cooldown is how long a server stays out before it is probed; a failed
	// probe starts another cooldown. Default: DefaultCooldown.
	Cooldown time.Duration
	// MaxMovedKeys bounds the keys remembered, per server out, as served by
	// a stand-in; they are deleted from the stand-ins when the server comes
	// back. Past the bound, the stand-ins are flushed instead. Default:
	// DefaultMaxMovedKeys.
	MaxMovedKeys int
	// Logger receives one line per transition (a server taken out, back in,
	// or failing to come back), at Warn level. Default: slog.Default().
	Logger *slog.Logger
}

// Pool is a gomemcache [memcache.ServerSelector] over a pool of servers
// that takes a failing server out of key selection and probes it back in;
// [Pool.Client] is a gomemcache client on it, and [Pool.Meta] a
// meta-protocol client on connections of its own, selected, failed over
// and counted alike. The Pool is itself a [Client]: a Store, a locker or a
// registry given it uses both. It is safe for concurrent use.
//
// While every server is in, a key goes where gomemcache's
// [memcache.ServerList] puts it (so processes with and without a Pool agree).
// When a server has failed Failures times in a row, its keys go to the
// servers still in (their stand-ins), by the same hash; the other keys do
// not move. A Pool never takes out its last server. After Cooldown a
// background goroutine probes the server; when it answers, the Pool:
//
//  1. flushes it (flush_all), so that nothing it held from before it went
//     out — values, leases, locks, generations that an invalidation made
//     while it was out has since replaced on a stand-in — can be served;
//  2. puts it back: its keys move back to it, and miss once;
//  3. after one Timeout (when every command that picked a stand-in before
//     the switch has ended), deletes from the stand-ins every key it sent
//     there while the server was out (or flushes the stand-ins when there
//     were more than MaxMovedKeys), so that these copies cannot be served
//     if the server fails again later, after an invalidation they missed.
//
// A stand-in that is itself out by then is flushed when it comes back.
//
// WARNING: each process decides on its own. Failover keeps the consistency
// table of the README within a process, and between processes that see the
// same outage. A process that never saw the server fail (idle during the
// outage, or a partition that cut off only some processes) keeps using it:
// until a process that failed over has flushed it (at most Cooldown after
// it answers again), such a process may read there an entry that another
// process invalidated on a stand-in meanwhile; and while processes disagree
// about a server, a write made by one is not seen by the other.
type Pool struct {
	client *memcache.Client
	// meta speaks the meta protocol on connections of its own, to the
	// servers PickServer chooses, dialed through dial as client's are.
	meta    *mcmeta.Client
	opts    PoolOptions
	servers []*poolServer
	byAddr  map[string]*poolServer
	dialer  net.Dialer

	mu sync.RWMutex // protects live and every poolServer's out and moved
	// live holds the indices of the servers in selection, in order.
	live []int

	done chan struct{} // closed by Close: stops the probes
	wg   sync.WaitGroup
	once sync.Once

	// Counters for Stats.
	takenOut, returned, failovers atomic.Uint64
}

// PoolStats counts a Pool's failovers since it was made.
type PoolStats struct {
	Servers int // servers in the pool
	// Out is how many servers are out of key selection now.
	Out int
	// TakenOut counts the times a server was taken out of key selection
	// after PoolOptions.Failures I/O failures in a row; Returned the times
	// one came back in (answered its probe, was flushed, and took its keys
	// back).
	TakenOut, Returned uint64
	// Failovers counts the key lookups sent to a stand-in because their
	// server was out.
	Failovers uint64
}

// Stats returns the pool's counters. Each transition they count is also
// logged once, at Warn level, to PoolOptions.Logger.
func (p *Pool) Stats() PoolStats {
	p.mu.RLock()
	out := len(p.servers) - len(p.live)
	p.mu.RUnlock()
	return PoolStats{
		Servers: len(p.servers), Out: out,
		TakenOut: p.takenOut.Load(), Returned: p.returned.Load(), Failovers: p.failovers.Load(),
	}
}

// poolServer is one server of a Pool.
type poolServer struct {
	i    int
	addr net.Addr
	// tag is a hash of addr, the same in every process, that the meta
	// protocol's versions carry (see fence.go).
	tag uint16
	// failures counts the consecutive I/O failures.
	failures atomic.Int32
	// epoch grows each time the server is taken out: connections dialed
	// before are dialed again before their next command.
	epoch atomic.Uint64

	// Guarded by Pool.mu (written under its write lock; moved also under
	// its read lock with movedMu).
	out     bool
	movedMu sync.Mutex
	// moved maps the keys sent to a stand-in while the server is out to the
	// stand-ins' indices, as a bit mask; nil with overflow set past
	// MaxMovedKeys.
	moved    map[string]uint64
	standIns uint64 // every stand-in used while out
	overflow bool
}

var (
	_ memcache.ServerSelector = (*Pool)(nil)
	_ Client                  = (*Pool)(nil)
)

// NewPool returns a Pool on the servers at addrs ("host:port", or a path
// for a Unix socket). Close stops its probes and closes its client. Errors
// wrap ErrInvalidOptions.
func NewPool(o PoolOptions, addrs ...string) (*Pool, error) {
	switch {
	case len(addrs) == 0:
		return nil, fmt.Errorf("%w: no server addresses", ErrInvalidOptions)
	case len(addrs) > maxPoolServers:
		return nil, fmt.Errorf("%w: %d servers, at most %d in a Pool", ErrInvalidOptions, len(addrs), maxPoolServers)
	case o.Timeout < 0, o.MaxIdleConns < 0, o.Failures < 0, o.Cooldown < 0, o.MaxMovedKeys < 0:
		return nil, fmt.Errorf("%w: negative PoolOptions %+v", ErrInvalidOptions, o)
	case o.Logger != nil && o.Logger.Handler() == nil:
		return nil, fmt.Errorf("%w: Logger has no handler", ErrInvalidOptions)
	}
	o.Timeout = cmp(o.Timeout, DefaultTimeout)
	o.MaxIdleConns = cmp(o.MaxIdleConns, DefaultMaxIdleConns)
	o.Failures = cmp(o.Failures, DefaultPoolFailures)
	o.Cooldown = cmp(o.Cooldown, DefaultCooldown)
	o.MaxMovedKeys = cmp(o.MaxMovedKeys, DefaultMaxMovedKeys)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var sl memcache.ServerList
	if err := sl.SetServers(addrs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	p := &Pool{opts: o, byAddr: make(map[string]*poolServer), done: make(chan struct{})}
	p.dialer.Timeout = o.Timeout
	_ = sl.Each(func(a net.Addr) error {
		s := &poolServer{i: len(p.servers), addr: a, tag: serverTag(a.String())}
		p.servers = append(p.servers, s)
		p.byAddr[a.String()] = s
		p.live = append(p.live, s.i)
		return nil
	})
	c := memcache.NewFromSelector(p)
	c.Timeout, c.MaxIdleConns = o.Timeout, o.MaxIdleConns
	c.DialContext = p.dial
	p.client = c
	meta, err := mcmeta.New(mcmeta.Options{Pick: p.PickServer, Dial: p.dial, Timeout: o.Timeout, MaxIdleConns: o.MaxIdleConns})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	p.meta = meta
	return p, nil
}

// cmp returns v, or def when v is zero.
func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Client returns the gomemcache client on the Pool. A Store, a locker or a
// registry given it speaks memcached's text protocol only; give them the
// Pool itself to let them use the meta protocol too.
func (p *Pool) Client() *memcache.Client { return p.client }

// Meta returns the Pool's meta-protocol client, which a Store, the
// memcached locker and the memcached registry on the Pool use. Its type
// is internal to corral.
func (p *Pool) Meta() *mcmeta.Client { return p.meta }

// CheckVersions checks that every server of the Pool that answers speaks
// the meta protocol, with one `version` per server not checked before (on
// a connection then kept for the meta commands). It returns an error
// wrapping ErrServerTooOld for a server older than memcached 1.6.10; a
// server that does not answer is checked when it is first used.
func (p *Pool) CheckVersions() error {
	errs := make([]error, len(p.servers))
	var wg sync.WaitGroup
	for i, s := range p.servers {
		wg.Go(func() {
			if err := p.meta.Verify(s.addr); errors.Is(err, mcmeta.ErrTooOld) {
				errs[i] = fmt.Errorf("%w: %w", ErrServerTooOld, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// The Pool is a Client (and the client of the memcached locker and
// registry): through it, they use the meta protocol where it helps. These
// methods are those of [Pool.Client].

// Get is [memcache.Client.Get].
func (p *Pool) Get(key string) (*memcache.Item, error) { return p.client.Get(key) }

// GetMulti is [memcache.Client.GetMulti].
func (p *Pool) GetMulti(keys []string) (map[string]*memcache.Item, error) {
	return p.client.GetMulti(keys)
}

// Set is [memcache.Client.Set].
func (p *Pool) Set(item *memcache.Item) error { return p.client.Set(item) }

// Add is [memcache.Client.Add].
func (p *Pool) Add(item *memcache.Item) error { return p.client.Add(item) }

// CompareAndSwap is [memcache.Client.CompareAndSwap].
func (p *Pool) CompareAndSwap(item *memcache.Item) error { return p.client.CompareAndSwap(item) }

// Delete is [memcache.Client.Delete].
func (p *Pool) Delete(key string) error { return p.client.Delete(key) }

// Increment is [memcache.Client.Increment].
func (p *Pool) Increment(key string, delta uint64) (uint64, error) {
	return p.client.Increment(key, delta)
}

// Out returns the addresses of the servers out of key selection.
func (p *Pool) Out() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []string
	for _, s := range p.servers {
		if s.out {
			out = append(out, s.addr.String())
		}
	}
	return out
}

// Close stops the probes (a server out stays out, and the clean-up of its
// stand-ins is not done) and closes the client's connections.
func (p *Pool) Close() error {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
	_ = p.meta.Close()
	return p.client.Close()
}

// PickServer returns the server of key: gomemcache's ServerList choice when
// that server is in, and otherwise a stand-in among the servers in, by the
// same hash.
func (p *Pool) PickServer(key string) (net.Addr, error) {
	n := len(p.servers)
	if n == 1 {
		return p.servers[0].addr, nil
	}
	// As ServerList: the CRC-32 of the key's first 256 bytes.
	cs := crc32.ChecksumIEEE([]byte(key[:min(len(key), 256)]))
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := p.servers[cs%uint32(n)]
	if !s.out {
		return s.addr, nil
	}
	stand := p.servers[p.live[cs%uint32(len(p.live))]]
	p.failovers.Add(1)
	s.movedMu.Lock()
	s.standIns |= 1 << stand.i
	if !s.overflow {
		if len(s.moved) >= p.opts.MaxMovedKeys {
			s.moved, s.overflow = nil, true
		} else {
			s.moved[key] |= 1 << stand.i
		}
	}
	s.movedMu.Unlock()
	return stand.addr, nil
}

// serverOf returns the server PickServer picks for key now, without
// counting a failover or recording a moved key.
func (p *Pool) serverOf(key string) *poolServer {
	n := len(p.servers)
	if n == 1 {
		return p.servers[0]
	}
	cs := crc32.ChecksumIEEE([]byte(key[:min(len(key), 256)]))
	p.mu.RLock()
	defer p.mu.RUnlock()
	if s := p.servers[cs%uint32(n)]; !s.out {
		return s
	}
	return p.servers[p.live[cs%uint32(len(p.live))]]
}

// Each calls f for every server, in or out.
func (p *Pool) Each(f func(net.Addr) error) error {
	for _, s := range p.servers {
		if err := f(s.addr); err != nil {
			return err
		}
	}
	return nil
}

// dial is the client's DialContext: it counts a failed dial, and watches
// the connection's reads and writes.
func (p *Pool) dial(ctx context.Context, network, address string) (net.Conn, error) {
	s := p.byAddr[address]
	var epoch uint64
	if s != nil {
		epoch = s.epoch.Load()
	}
	nc, err := p.dialer.DialContext(ctx, network, address)
	if err != nil {
		p.failed(s)
		return nil, err
	}
	if s == nil {
		return nc, nil
	}
	return &watchedConn{Conn: nc, p: p, s: s, epoch: epoch}, nil
}

// failed counts a failure of s, and takes it out at the threshold.
func (p *Pool) failed(s *poolServer) {
	if s == nil || int(s.failures.Add(1)) < p.opts.Failures {
		return
	}
	p.mu.Lock()
	if s.out || len(p.live) == 1 {
		p.mu.Unlock()
		return
	}
	s.out = true
	s.epoch.Add(1)
	s.movedMu.Lock()
	s.moved, s.standIns, s.overflow = make(map[string]uint64), 0, false
	s.movedMu.Unlock()
	p.relive()
	p.mu.Unlock()
	p.takenOut.Add(1)
	p.opts.Logger.Warn("memcachestore: server taken out of key selection; its keys go to the others",
		"server", s.addr.String(), "failures", p.opts.Failures, "cooldown", p.opts.Cooldown)
	p.wg.Go(func() { p.probe(s) })
}

// relive rebuilds live. Call with p.mu held for writing.
func (p *Pool) relive() {
	p.live = p.live[:0]
	for _, s := range p.servers {
		if !s.out {
			p.live = append(p.live, s.i)
		}
	}
}

// probe tries, every Cooldown, to bring s back, until it does or the Pool
// is closed.
func (p *Pool) probe(s *poolServer) {
	t := time.NewTimer(p.opts.Cooldown)
	defer t.Stop()
	logged := false
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		err := p.command(s.addr, "flush_all\r\n", "OK\r\n")
		if err == nil {
			p.readmit(s)
			return
		}
		if !logged {
			p.opts.Logger.Warn("memcachestore: server still out after its cooldown; probing again every cooldown",
				"server", s.addr.String(), "error", err)
			logged = true
		}
		t.Reset(p.opts.Cooldown)
	}
}

// readmit puts s, just flushed, back into selection, then cleans its
// stand-ins.
func (p *Pool) readmit(s *poolServer) {
	p.mu.Lock()
	s.out = false
	s.failures.Store(0)
	s.movedMu.Lock()
	moved, standIns, overflow := s.moved, s.standIns, s.overflow
	s.moved, s.standIns, s.overflow = nil, 0, false
	s.movedMu.Unlock()
	p.relive()
	p.mu.Unlock()
	p.returned.Add(1)
	p.opts.Logger.Warn("memcachestore: server flushed and back in key selection; its keys move back to it",
		"server", s.addr.String(), "moved_keys", len(moved))

	// Let the commands that picked a stand-in before the switch end.
	t := time.NewTimer(p.opts.Timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	for _, st := range p.servers {
		bit := uint64(1) << st.i
		if standIns&bit == 0 {
			continue
		}
		var err error
		if overflow {
			err = p.command(st.addr, "flush_all\r\n", "OK\r\n")
		} else {
			err = p.deleteAll(st.addr, moved, bit)
		}
		if err != nil {
			p.opts.Logger.Warn("memcachestore: could not clear a stand-in of the keys it held for a server back in; they are cleared when it comes back in itself",
				"stand_in", st.addr.String(), "server", s.addr.String(), "error", err)
		}
	}
}

// command sends cmd to the server at addr on a connection of its own and
// checks that the reply is want.
func (p *Pool) command(addr net.Addr, cmd, want string) error {
	return p.session(addr, func(rw *bufio.ReadWriter) error {
		if _, err := rw.WriteString(cmd); err != nil {
			return err
		}
		if err := rw.Flush(); err != nil {
			return err
		}
		line, err := rw.ReadString('\n')
		if err != nil {
			return err
		}
		if line != want {
			return fmt.Errorf("memcachestore: %s: %q", strings.TrimSpace(cmd), strings.TrimSpace(line))
		}
		return nil
	})
}

// deleteAll deletes, on the server at addr, the keys of moved whose mask
// has bit: pipelined deletes without replies, then a version, whose reply
// tells that the server has read them all.
func (p *Pool) deleteAll(addr net.Addr, moved map[string]uint64, bit uint64) error {
	return p.session(addr, func(rw *bufio.ReadWriter) error {
		for k, mask := range moved {
			if mask&bit == 0 {
				continue
			}
			if _, err := fmt.Fprintf(rw, "delete %s noreply\r\n", k); err != nil {
				return err
			}
		}
		if _, err := rw.WriteString("version\r\n"); err != nil {
			return err
		}
		if err := rw.Flush(); err != nil {
			return err
		}
		line, err := rw.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "VERSION ") {
			return fmt.Errorf("memcachestore: deletes: %q", strings.TrimSpace(line))
		}
		return nil
	})
}

// session runs fn on a new connection to addr, bounded by a deadline of
// Timeout per thousand commands at least.
func (p *Pool) session(addr net.Addr, fn func(*bufio.ReadWriter) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.Timeout)
	defer cancel()
	nc, err := p.dialer.DialContext(ctx, addr.Network(), addr.String())
	if err != nil {
		return err
	}
	defer nc.Close()
	// Deletes of up to MaxMovedKeys keys take longer than one command.
	_ = nc.SetDeadline(time.Now().Add(p.opts.Timeout + 10*time.Second))
	return fn(bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc)))
}

// watchedConn is a client connection that reports I/O failures to its
// Pool, and dials again before its next command when its server has been
// taken out since it was dialed (a server back in may have restarted, and
// its old connections would fail once each). gomemcache uses a connection
// from one goroutine at a time.
type watchedConn struct {
	net.Conn
	p        *Pool
	s        *poolServer
	epoch    uint64
	deadline time.Time
}

func (c *watchedConn) SetDeadline(t time.Time) error {
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

// Write starts every command: a connection from before the server's last
// outage is replaced first.
func (c *watchedConn) Write(b []byte) (int, error) {
	if e := c.s.epoch.Load(); e != c.epoch {
		deadline := c.deadline
		if deadline.IsZero() {
			deadline = time.Now().Add(c.p.opts.Timeout)
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		nc, err := c.p.dialer.DialContext(ctx, c.Conn.RemoteAddr().Network(), c.s.addr.String())
		cancel()
		if err != nil {
			c.p.failed(c.s)
			return 0, err
		}
		_ = c.Conn.Close()
		c.Conn, c.epoch = nc, e
		_ = nc.SetDeadline(c.deadline)
	}
	n, err := c.Conn.Write(b)
	if err != nil {
		c.p.failed(c.s)
	}
	return n, err
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.s.failures.Store(0)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.p.failed(c.s)
	}
	return n, err
}
