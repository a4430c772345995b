// Package faultproxy is a TCP proxy for corral's integration tests that
// puts faults between a client and a server: added latency, connection
// resets, and a blackhole (connections accepted, never answered). It also
// counts round trips. It listens on 127.0.0.1 only, and every goroutine it
// starts ends when it is closed (at the end of the test that started it).
package faultproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is the fault a proxy injects.
type Mode int32

const (
	// Pass forwards everything as it comes.
	Pass Mode = iota
	// Latency delays every chunk the server sends by the proxy's delay.
	Latency
	// Reset resets every open connection (TCP RST) and every new one as
	// soon as it is accepted.
	Reset
	// Blackhole accepts connections and reads what the client sends, but
	// forwards nothing either way: requests are never answered.
	// Connections that lost data in it are closed when the mode changes,
	// since their protocol state is gone.
	Blackhole
	// Hold keeps every reply of the server at the proxy, in order, until
	// Release: the server has answered, the client has not heard.
	Hold
)

// String names the mode.
func (m Mode) String() string {
	return [...]string{"pass", "latency", "reset", "blackhole", "hold"}[m]
}

// dialTimeout bounds the proxy's connection to the server.
const dialTimeout = time.Second

// Proxy forwards connections from Addr to a target address.
type Proxy struct {
	// Addr is the proxy's address on 127.0.0.1.
	Addr string

	target string
	ln     net.Listener
	mode   atomic.Int32
	delay  atomic.Int64 // nanoseconds, for Latency
	held   atomic.Int64 // replies held since the last Hold
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex // protects links and release
	links   map[*link]struct{}
	release chan struct{} // closed by Release; nil unless holding

	// trips counts round trips: see RoundTrips.
	trips atomic.Int64
}

// link is one proxied connection: the client's and the server's side.
type link struct {
	client, server net.Conn
	once           sync.Once
	closed         atomic.Bool
	lost           atomic.Bool // data was dropped by a blackhole
	// answered tells that the server sent something since the client
	// last did: the client's next bytes start a round trip.
	answered atomic.Bool
}

func (l *link) close(reset bool) {
	l.once.Do(func() {
		l.closed.Store(true)
		if reset {
			if tc, ok := l.client.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST
			}
		}
		_ = l.client.Close()
		if l.server != nil {
			_ = l.server.Close()
		}
	})
}

// Start starts a proxy to target, in Pass mode, closed when t ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, done: make(chan struct{}), links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// RoundTrips returns the round trips made through the proxy since it
// started or since ResetRoundTrips: on each connection, the times the
// client sent something after the server had answered (or first). Requests
// a client pipelines in one write are one round trip; connections used in
// parallel count one each. A pipeline written in pieces the server answers
// in between would count more: the count is exact for small requests.
func (p *Proxy) RoundTrips() int64 { return p.trips.Load() }

// ResetRoundTrips zeroes the count of RoundTrips.
func (p *Proxy) ResetRoundTrips() { p.trips.Store(0) }

// SetLatency sets the delay of Latency mode.
func (p *Proxy) SetLatency(d time.Duration) { p.delay.Store(int64(d)) }

// Set switches the proxy to mode m. Reset resets the open connections;
// leaving Blackhole closes the connections that lost data in it.
func (p *Proxy) Set(m Mode) {
	p.mode.Store(int32(m))
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		switch {
		case m == Reset:
			l.close(true)
		case m != Blackhole && l.lost.Load():
			l.close(false)
		}
	}
}

// Close stops the proxy, closes every connection and waits for its
// goroutines.
func (p *Proxy) Close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	_ = p.ln.Close()
	p.mu.Lock()
	for l := range p.links {
		l.close(false)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		l := &link{client: c}
		l.answered.Store(true)
		if Mode(p.mode.Load()) == Reset {
			l.close(true)
			continue
		}
		p.mu.Lock()
		select {
		case <-p.done:
			p.mu.Unlock()
			l.close(false)
			return
		default:
		}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer func() {
		l.close(false)
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	s, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		return
	}
	p.mu.Lock()
	l.server = s
	closed := l.closed.Load() // reset or closed while dialing
	p.mu.Unlock()
	if closed {
		_ = s.Close()
		return
	}
	var pumps sync.WaitGroup
	pumps.Go(func() { p.pump(l, s, l.client, false) })
	pumps.Go(func() { p.pump(l, l.client, s, true) })
	pumps.Wait()
}

// pump copies src to dst, chunk by chunk, applying the mode in force when
// each chunk arrives; fromServer says which way it copies.
func (p *Proxy) pump(l *link, dst, src net.Conn, fromServer bool) {
	defer l.close(false)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			switch Mode(p.mode.Load()) {
			case Blackhole:
				l.lost.Store(true)
				continue
			case Latency:
				if fromServer && !p.sleep(time.Duration(p.delay.Load())) {
					return
				}
			case Hold:
				if fromServer && !p.hold() {
					return
				}
			}
			if fromServer {
				l.answered.Store(true)
			} else if l.answered.Swap(false) {
				p.trips.Add(1)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or a side closed
		}
	}
}

// Hold makes the proxy keep the server's replies (see the Hold mode) from
// now on; HeldReplies counts the chunks held.
func (p *Proxy) Hold() {
	p.mu.Lock()
	if p.release == nil {
		p.release = make(chan struct{})
	}
	p.held.Store(0)
	p.mu.Unlock()
	p.Set(Hold)
}

// HeldReplies returns how many chunks of replies the proxy holds since
// Hold (each reply of a connection is at least one).
func (p *Proxy) HeldReplies() int64 { return p.held.Load() }

// Release hands the held replies to the clients and passes everything
// from now on.
func (p *Proxy) Release() {
	p.Set(Pass)
	p.mu.Lock()
	if p.release != nil {
		close(p.release)
		p.release = nil
	}
	p.mu.Unlock()
}

// hold waits for Release, or reports false when the proxy closes first.
func (p *Proxy) hold() bool {
	p.mu.Lock()
	rel := p.release
	p.mu.Unlock()
	if rel == nil {
		return true
	}
	p.held.Add(1)
	select {
	case <-rel:
		return true
	case <-p.done:
		return false
	}
}

// sleep waits d, or reports false when the proxy closes first.
func (p *Proxy) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.done:
		return false
	}
}
