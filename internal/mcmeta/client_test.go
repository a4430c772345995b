package mcmeta

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer answers a few meta commands on a loopback port: mg of a key
// holding "miss" is EN, another mg returns the key as the value with
// c<the server's number>; ms stores nothing and replies HD; mg of "bad"
// gets CLIENT_ERROR. It counts connections and the commands it read.
type fakeServer struct {
	ln      net.Listener
	version string
	id      int
	dials   atomic.Int32
	cmds    atomic.Int32
	wg      sync.WaitGroup
}

func startFake(t *testing.T, id int, version string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, version: version, id: id}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) accept() {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.dials.Add(1)
		conns.Go(func() { s.serve(c) })
	}
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		var out string
		switch {
		case len(f) == 1 && f[0] == "version":
			out = "VERSION " + s.version + "\r\n"
		case len(f) >= 2 && f[0] == "mg" && f[1] == "bad":
			s.cmds.Add(1)
			out = "CLIENT_ERROR bad command line format\r\n"
		case len(f) >= 2 && f[0] == "mg" && strings.Contains(f[1], "miss"):
			s.cmds.Add(1)
			out = "EN\r\n"
		case len(f) >= 2 && f[0] == "mg":
			s.cmds.Add(1)
			out = "VA " + strconv.Itoa(len(f[1])) + " c" + strconv.Itoa(s.id) + "\r\n" + f[1] + "\r\n"
		case len(f) >= 3 && f[0] == "ms":
			s.cmds.Add(1)
			n, _ := strconv.Atoi(f[2])
			if _, err := br.Discard(n + 2); err != nil {
				return
			}
			out = "HD\r\n"
		default:
			out = "ERROR\r\n"
		}
		if _, err := c.Write([]byte(out)); err != nil {
			return
		}
	}
}

// newClient returns a Client over servers, which picks a key's server by
// its first byte: '0' → servers[0], '1' → servers[1], ...
func newClient(t *testing.T, servers ...*fakeServer) *Client {
	t.Helper()
	c, err := New(Options{
		Pick: func(key string) (net.Addr, error) {
			i := int(key[0] - '0')
			if i < 0 || i >= len(servers) {
				i = 0
			}
			return servers[i].ln.Addr(), nil
		},
		Timeout:      2 * time.Second,
		MaxIdleConns: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func get(key string) Request {
	return Request{Cmd: Get, Key: key, Flags: Flags(nil).Flag('v').Flag('c')}
}

func TestDoPipelines(t *testing.T) {
	a, b := startFake(t, 1, "1.6.18"), startFake(t, 2, "1.6.10")
	c := newClient(t, a, b)
	reqs := []Request{get("0a"), get("1b"), get("0miss"), {Cmd: Set, Key: "1c", Value: []byte("v")}, get("0d")}
	replies := make([]Reply, len(reqs))
	for range 3 {
		if err := c.Do(t.Context(), reqs, replies); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		status Status
		value  string
		cas    uint64
	}{{VA, "0a", 1}, {VA, "1b", 2}, {EN, "", 0}, {HD, "", 0}, {VA, "0d", 1}}
	for i, w := range want {
		r := replies[i]
		if r.Status != w.status || string(r.Value) != w.value || r.CAS != w.cas {
			t.Errorf("reply %d = %+v, want %s %q c%d", i, r, w.status, w.value, w.cas)
		}
	}
	// One connection per server, kept between calls (the version checked
	// on it once).
	if a.dials.Load() != 1 || b.dials.Load() != 1 {
		t.Errorf("%d and %d dials, want 1 and 1", a.dials.Load(), b.dials.Load())
	}
	if a.cmds.Load() != 9 || b.cmds.Load() != 6 {
		t.Errorf("servers read %d and %d commands, want 9 and 6", a.cmds.Load(), b.cmds.Load())
	}
}

func TestDoRefuses(t *testing.T) {
	a := startFake(t, 1, "1.6.18")
	c := newClient(t, a)
	for name, reqs := range map[string][]Request{
		"BadKey":  {get("0a"), get("0 b")},
		"Quiet":   {{Cmd: Get, Key: "0a", Flags: Flags(nil).Flag('q')}},
		"Noop":    {{Cmd: Noop}},
		"BadFlag": {{Cmd: Get, Key: "0a", Flags: Flags("v")}},
	} {
		if err := c.Do(t.Context(), reqs, make([]Reply, len(reqs))); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: Do = %v, want ErrBadRequest", name, err)
		}
	}
	if err := c.Do(t.Context(), []Request{get("0a")}, nil); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Do with no room for replies = %v, want ErrBadRequest", err)
	}
	if a.dials.Load() != 0 {
		t.Errorf("refused requests dialed %d times", a.dials.Load())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Do(ctx, []Request{get("0a")}, make([]Reply, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a cancelled context = %v", err)
	}
}

func TestDoClientErrorClosesConnection(t *testing.T) {
	a := startFake(t, 1, "1.6.18")
	c := newClient(t, a)
	replies := make([]Reply, 3)
	err := c.Do(t.Context(), []Request{get("0a"), get("bad"), get("0c")}, replies)
	if err == nil || !strings.Contains(err.Error(), "CLIENT_ERROR") {
		t.Fatalf("Do = %v, want the CLIENT_ERROR", err)
	}
	if replies[0].Status != VA || replies[1].Status != ClientError || replies[2].Status != 0 {
		t.Fatalf("replies %+v", replies)
	}
	if err := c.Do(t.Context(), []Request{get("0a")}, replies[:1]); err != nil {
		t.Fatal(err)
	}
	if a.dials.Load() != 2 {
		t.Fatalf("%d dials, want 2: the connection that saw CLIENT_ERROR must not be reused", a.dials.Load())
	}
}

func TestDoOneServerFails(t *testing.T) {
	a := startFake(t, 1, "1.6.18")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := &fakeServer{ln: ln}
	_ = ln.Close() // refuses connections
	c := newClient(t, a, dead)
	replies := make([]Reply, 2)
	if err := c.Do(t.Context(), []Request{get("0a"), get("1b")}, replies); err == nil {
		t.Fatal("Do with a dead server succeeded")
	}
	if replies[0].Status != VA || replies[1].Status != 0 {
		t.Fatalf("replies %+v: want the live server's filled in, the dead one's zero", replies)
	}
}

func TestTooOld(t *testing.T) {
	old := startFake(t, 1, "1.6.9")
	c := newClient(t, old)
	if err := c.Verify(old.ln.Addr()); !errors.Is(err, ErrTooOld) {
		t.Fatalf("Verify = %v, want ErrTooOld", err)
	}
	if err := c.Do(t.Context(), []Request{get("0a")}, make([]Reply, 1)); !errors.Is(err, ErrTooOld) {
		t.Fatalf("Do = %v, want ErrTooOld", err)
	}
	if old.cmds.Load() != 0 {
		t.Fatalf("a server too old got %d meta commands", old.cmds.Load())
	}
	ok := startFake(t, 2, "1.6.10")
	c = newClient(t, ok)
	if err := c.Verify(ok.ln.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(t.Context(), []Request{get("0a")}, make([]Reply, 1)); err != nil || ok.dials.Load() != 1 {
		t.Fatalf("Do after Verify = %v, %d dials; want the verified connection reused", err, ok.dials.Load())
	}
}

func TestClosed(t *testing.T) {
	a := startFake(t, 1, "1.6.18")
	c := newClient(t, a)
	if err := c.Do(t.Context(), []Request{get("0a")}, make([]Reply, 1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(t.Context(), []Request{get("0a")}, make([]Reply, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close = %v, want ErrClosed", err)
	}
}

// TestConcurrent: many goroutines on few idle connections, each reply
// matching its request.
func TestConcurrent(t *testing.T) {
	a, b := startFake(t, 1, "1.6.18"), startFake(t, 2, "1.6.18")
	c := newClient(t, a, b)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 50 {
		wg.Go(func() {
			for i := range 20 {
				k0, k1 := "0g"+strconv.Itoa(g*100+i), "1g"+strconv.Itoa(g*100+i)
				replies := make([]Reply, 2)
				if err := c.Do(context.Background(), []Request{get(k0), get(k1)}, replies); err != nil {
					errs <- err
					return
				}
				if string(replies[0].Value) != k0 || string(replies[1].Value) != k1 {
					errs <- errors.New("replies out of step: " + string(replies[0].Value) + " " + string(replies[1].Value))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
