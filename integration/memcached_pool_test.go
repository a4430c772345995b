package integration_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/lock/memcachelocker"
	"github.com/corralcache/corral/region"
)

// poolGate is a TCP relay in front of one memcached: Cut closes its
// listener and every relayed connection (the server, untouched, keeps its
// items: a partition, not a restart) and Heal listens again on the same
// address.
type poolGate struct {
	t      *testing.T
	Addr   string
	target string

	mu    sync.Mutex // protects ln and conns
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newPoolGate(t *testing.T, target string) *poolGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &poolGate{t: t, Addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	g.serve(ln)
	t.Cleanup(func() { g.Cut(); g.wg.Wait() })
	return g
}

func (g *poolGate) serve(ln net.Listener) {
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	g.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", g.target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns[c], g.conns[s] = struct{}{}, struct{}{}
			g.mu.Unlock()
			for _, pair := range [][2]net.Conn{{c, s}, {s, c}} {
				g.wg.Go(func() {
					_, _ = io.Copy(pair[0], pair[1])
					pair[0].Close()
					pair[1].Close()
				})
			}
		}
	})
}

// Cut refuses new connections and drops the open ones.
func (g *poolGate) Cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
		delete(g.conns, c)
	}
}

// Heal accepts connections again, on the same address.
func (g *poolGate) Heal() {
	g.t.Helper()
	ln, err := net.Listen("tcp", g.Addr)
	if err != nil {
		g.t.Fatalf("listen again on %s: %v", g.Addr, err)
	}
	g.serve(ln)
}

// mcStat reads one counter of memcached's stats from the server at addr.
func mcStat(t *testing.T, addr, name string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() && sc.Text() != "END" {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[1] == name {
			n, _ := strconv.Atoi(f[2])
			return n
		}
	}
	t.Fatalf("stat %s not in the stats of %s: %v", name, addr, sc.Err())
	return 0
}

// poolDB is a versioned fake database: an invalidation bumps a key's
// version, then deletes its entry; floor is the version every read that
// begins after the invalidation completed must see at least.
type poolDB struct {
	mu      sync.Mutex // protects version, floor and created
	version map[string]int
	floor   map[string]int
	created map[string]int
}

func newPoolDB() *poolDB {
	return &poolDB{version: map[string]int{}, floor: map[string]int{}, created: map[string]int{}}
}

func (db *poolDB) create(_ context.Context, keys []string) ([]string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make([]string, len(keys))
	for i, k := range keys {
		db.created[k]++
		out[i] = fmt.Sprintf("%s@%d", k, db.version[k])
	}
	return out, nil
}

func (db *poolDB) creations(keys []string) int {
	db.mu.Lock()
	defer db.mu.Unlock()
	n := 0
	for _, k := range keys {
		n += db.created[k]
	}
	return n
}

// invalidate bumps key's version and deletes its entry; once it returns,
// the new version is the floor.
func (db *poolDB) invalidate(t *testing.T, ctx context.Context, r *region.Region, key string) {
	t.Helper()
	db.mu.Lock()
	db.version[key]++
	v := db.version[key]
	db.mu.Unlock()
	if err := r.Delete(ctx, key); err != nil {
		t.Fatalf("Delete(%s) = %v", key, err)
	}
	db.mu.Lock()
	db.floor[key] = v
	db.mu.Unlock()
}

// check fails the test for a value older than its key's floor, read by a
// call that began after the floor was set.
func (db *poolDB) check(t *testing.T, keys, got []string) {
	t.Helper()
	db.mu.Lock()
	defer db.mu.Unlock()
	for i, k := range keys {
		var v int
		if _, err := fmt.Sscanf(strings.TrimPrefix(got[i], k), "@%d", &v); err != nil {
			t.Fatalf("value %q of %s: %v", got[i], k, err)
		}
		if v < db.floor[k] {
			t.Fatalf("%s served version %d after an invalidation to %d completed", k, v, db.floor[k])
		}
	}
}

// TestMemcachedPoolFailover runs a pool of two memcached, the second behind
// a gate that partitions it (it keeps its items), and checks that its keys
// are served by the other server while it is out, that no value older than
// a completed invalidation is served — neither an entry it held from before
// the partition once it is back, nor a stand-in's copy once it fails again
// — and that no call fails.
func TestMemcachedPoolFailover(t *testing.T) { forEachProtocol(t, testMemcachedPoolFailover) }

// forEachProtocol runs test with the store, locker and registry on a
// Pool's gomemcache client (text protocol), then on the Pool itself (meta
// protocol).
func forEachProtocol(t *testing.T, test func(t *testing.T, on func(*memcachestore.Pool) memcachestore.Client)) {
	t.Run("text", func(t *testing.T) {
		test(t, func(p *memcachestore.Pool) memcachestore.Client { return p.Client() })
	})
	t.Run("meta", func(t *testing.T) {
		test(t, func(p *memcachestore.Pool) memcachestore.Client { return p })
	})
}

func testMemcachedPoolFailover(t *testing.T, on func(*memcachestore.Pool) memcachestore.Client) {
	live, hidden := mcServer(t), mcServer(t)
	gate := newPoolGate(t, hidden.Addr)
	const cooldown = 300 * time.Millisecond
	pool, err := memcachestore.NewPool(memcachestore.PoolOptions{Timeout: 500 * time.Millisecond, Cooldown: cooldown}, live.Addr, gate.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	client := on(pool)
	store, err := memcachestore.New(client, memcachestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	locker, err := memcachelocker.New(client.(memcachelocker.Client), memcachelocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := memcachereg.New(client.(memcachereg.Client), memcachereg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := region.New("pool", region.Config{Backend: store, Locker: locker, Registry: reg, Expiration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx := mcCtx(t, 15*time.Second)
	db := newPoolDB()

	keys := pickKeys(t, pool, r, gate.Addr)
	moved := keys[4:] // the keys of the gated server

	failed := 0
	read := func() []string {
		t.Helper()
		got, err := region.GetOrCreateMulti(ctx, r, keys, db.create)
		if err != nil {
			failed++
			t.Errorf("GetOrCreateMulti = %v", err)
			return nil
		}
		db.check(t, keys, got)
		return got
	}
	read()
	read()
	if n := db.creations(keys); n != 8 {
		t.Fatalf("%d creations for 8 keys read twice, want 8", n)
	}
	// The entry the gated server holds from before the partition.
	db.invalidate(t, ctx, r, moved[0])
	read()

	gate.Cut()
	var outAt time.Time
	for i := 0; len(pool.Out()) == 0; i++ {
		if i == 50 {
			t.Fatal("the gated server was not taken out after 50 calls")
		}
		read()
	}
	outAt = time.Now()
	t.Logf("server out after %d creations of its keys", db.creations(moved)-5)
	if st := pool.Stats(); st.Servers != 2 || st.Out != 1 || st.TakenOut != 1 || st.Returned != 0 {
		t.Errorf("pool stats %+v with the gated server out, want 2 servers, 1 out, taken out once, none returned", st)
	}

	// While it is out: hits on the live server, one creation per moved key.
	const calls = 100
	before, hitsBefore := db.creations(moved), mcStat(t, live.Addr, "get_hits")
	for range calls {
		read()
	}
	created := db.creations(moved) - before
	hits := mcStat(t, live.Addr, "get_hits") - hitsBefore
	ratio := 1 - float64(created)/float64(calls*len(moved))
	t.Logf("out for %v: %d calls of 8 keys, %d creations of the %d moved keys: %.1f%% of their lookups hit the live server (its get_hits grew by %d)",
		time.Since(outAt).Round(time.Millisecond), calls, created, len(moved), 100*ratio, hits)
	if ratio < 0.95 {
		t.Errorf("%.1f%% of the moved keys' lookups were hits, want ≥ 95%%", 100*ratio)
	}
	// An invalidation while it is out reaches the stand-in.
	db.invalidate(t, ctx, r, moved[0])
	db.invalidate(t, ctx, r, moved[1])
	read()

	gate.Heal()
	deadline := time.Now().Add(5 * cooldown)
	for len(pool.Out()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the gated server did not come back within 5 cooldowns")
		}
		read()
		time.Sleep(20 * time.Millisecond)
	}
	// Back and flushed: moved[0]'s entry from before the partition is gone.
	read()
	read()
	if st := pool.Stats(); st.Out != 0 || st.TakenOut != 1 || st.Returned != 1 || st.Failovers < calls*uint64(len(moved)) {
		t.Errorf("pool stats %+v after the gated server came back, want none out, taken out and returned once, a failover per moved key per call at least", st)
	}

	// The stand-in's copies are deleted once the server is back: a second
	// outage does not serve them after the invalidations made in between.
	raw := mcClient(t, live.Addr)
	deadline = time.Now().Add(2 * time.Second)
	for {
		_, err := raw.Get(memcachestore.MangleKey(r.BackendKey(moved[1])))
		if errors.Is(err, memcache.ErrCacheMiss) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in still holds %s's copy after the server came back: %v", moved[1], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, k := range moved {
		db.invalidate(t, ctx, r, k)
	}
	read()
	gate.Cut()
	for i := 0; len(pool.Out()) == 0; i++ {
		if i == 50 {
			t.Fatal("the gated server was not taken out again after 50 calls")
		}
		read()
	}
	for range 10 {
		read()
	}
	if failed > 0 {
		t.Errorf("%d calls failed", failed)
	}
}

// pickKeys returns 8 keys of r: 4 on other servers, then 4 on the server
// at addr.
func pickKeys(t *testing.T, pool *memcachestore.Pool, r *region.Region, addr string) []string {
	t.Helper()
	var on, off []string
	for i := 0; len(on) < 4 || len(off) < 4; i++ {
		if i == 1000 {
			t.Fatal("no 4 keys on each server in 1000")
		}
		k := "k" + strconv.Itoa(i)
		a, err := pool.PickServer(memcachestore.MangleKey(r.BackendKey(k)))
		if err != nil {
			t.Fatal(err)
		}
		if a.String() == addr {
			if len(on) < 4 {
				on = append(on, k)
			}
		} else if len(off) < 4 {
			off = append(off, k)
		}
	}
	return append(off, on...)
}

// TestMemcachedPoolServerKilled: one memcached of a pool of two is killed
// (SIGKILL) — not partitioned — and restarted empty. While it is down its
// keys are served by the live server (≥ 95% of their lookups hit there once
// it is out), no call fails, no value is older than a completed
// invalidation — one made while it was down included, after it returns —
// and the pool's Stats count the failover.
func TestMemcachedPoolServerKilled(t *testing.T) { forEachProtocol(t, testMemcachedPoolServerKilled) }

func testMemcachedPoolServerKilled(t *testing.T, on func(*memcachestore.Pool) memcachestore.Client) {
	live, victim := mcServer(t), mcServer(t)
	const cooldown = 300 * time.Millisecond
	pool, err := memcachestore.NewPool(memcachestore.PoolOptions{Timeout: 500 * time.Millisecond, Cooldown: cooldown}, live.Addr, victim.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	client := on(pool)
	store, err := memcachestore.New(client, memcachestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	locker, err := memcachelocker.New(client.(memcachelocker.Client), memcachelocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := memcachereg.New(client.(memcachereg.Client), memcachereg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := region.New("pool-killed", region.Config{Backend: store, Locker: locker, Registry: reg, Expiration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx := mcCtx(t, 15*time.Second)
	db := newPoolDB()
	keys := pickKeys(t, pool, r, victim.Addr)
	moved := keys[4:]
	failed := 0
	read := func() {
		t.Helper()
		got, err := region.GetOrCreateMulti(ctx, r, keys, db.create)
		if err != nil {
			failed++
			t.Errorf("GetOrCreateMulti = %v", err)
			return
		}
		db.check(t, keys, got)
	}
	read()
	read()

	victim.Stop() // SIGKILL
	for i := 0; len(pool.Out()) == 0; i++ {
		if i == 50 {
			t.Fatal("the killed server was not taken out after 50 calls")
		}
		read()
	}
	const calls = 100
	before := db.creations(moved)
	for range calls {
		read()
	}
	ratio := 1 - float64(db.creations(moved)-before)/float64(calls*len(moved))
	t.Logf("killed server out: %.1f%% of its keys' lookups hit the live server; pool stats %+v", 100*ratio, pool.Stats())
	if ratio < 0.95 {
		t.Errorf("%.1f%% of the moved keys' lookups were hits, want ≥ 95%%", 100*ratio)
	}
	if st := pool.Stats(); st.Out != 1 || st.TakenOut != 1 || st.Failovers < calls*uint64(len(moved)) {
		t.Errorf("pool stats %+v, want 1 out, taken out once, a failover per moved key per call at least", st)
	}
	// An invalidation while it is down, on the stand-in.
	db.invalidate(t, ctx, r, moved[0])
	read()

	victim.Start() // empty
	deadline := time.Now().Add(10 * cooldown)
	for len(pool.Out()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the restarted server did not come back within 10 cooldowns")
		}
		read()
		time.Sleep(20 * time.Millisecond)
	}
	for _, k := range moved {
		db.invalidate(t, ctx, r, k)
	}
	for range 10 {
		read()
	}
	if st := pool.Stats(); st.Out != 0 || st.Returned != 1 {
		t.Errorf("pool stats %+v after the restart, want none out, returned once", st)
	}
	if failed > 0 {
		t.Errorf("%d calls failed", failed)
	}
}

// TestMemcachedPoolFailoverLeases: leases on a Pool (meta protocol) follow
// a server out and back. A lease taken before the partition cannot store
// once its key moved (its fence was on the server gone); the stand-in
// leases and stores the key while the server is out; once the server is
// back (flushed), the key misses there and is leased afresh, and the
// stand-in's copy and lock are deleted.
func TestMemcachedPoolFailoverLeases(t *testing.T) {
	live, hidden := mcServer(t), mcServer(t)
	gate := newPoolGate(t, hidden.Addr)
	const cooldown = 300 * time.Millisecond
	pool, err := memcachestore.NewPool(memcachestore.PoolOptions{Timeout: 500 * time.Millisecond, Cooldown: cooldown, Failures: 1}, live.Addr, gate.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	s, err := memcachestore.New(pool, memcachestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := mcCtx(t, 15*time.Second)
	// A key whose value and lock are both on the gated server.
	var k backend.LeaseKey
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("no key with its value and lock on the gated server in 1000")
		}
		k = backend.LeaseKey{Key: fmt.Sprintf("lease%d:v", i), Lock: fmt.Sprintf("lease%d:l", i)}
		a, _ := pool.PickServer(memcachestore.MangleKey(k.Key))
		b, _ := pool.PickServer(memcachestore.MangleKey(k.Lock))
		if a.String() == gate.Addr && b.String() == gate.Addr {
			break
		}
	}
	o := backend.LeaseOptions{Holder: "A", LockTTL: time.Minute, PlaceholderTTL: time.Minute}
	lease := func(holder string, want backend.LeaseStatus) backend.Lease {
		t.Helper()
		o.Holder = holder
		ls, _, err := s.Lease(ctx, []backend.LeaseKey{k}, o)
		if err != nil || ls[0].Status != want {
			t.Fatalf("Lease by %s = %v, %v; want %v", holder, ls, err, want)
		}
		return ls[0]
	}
	store := func(holder string, v backend.Version, value string, want bool) {
		t.Helper()
		lk := k
		lk.Version = v
		stored, _, err := s.StoreLeased(ctx, []backend.Item{{Key: k.Key, Value: []byte(value)}}, []backend.LeaseKey{lk}, holder, backend.Group{})
		if err != nil || stored[0] != want {
			t.Fatalf("StoreLeased by %s = %v, %v; want %t", holder, stored, err, want)
		}
	}
	before := lease("A", backend.LeaseTaken)

	gate.Cut()
	for i := 0; len(pool.Out()) == 0; i++ {
		if i == 50 {
			t.Fatal("the gated server was not taken out after 50 calls")
		}
		_, _, _ = s.Lease(ctx, []backend.LeaseKey{k}, o) // fails until it is out
	}
	b := lease("B", backend.LeaseTaken) // on the stand-in
	store("A", before.Version, "A", false)
	store("B", b.Version, "B", true)
	if v, err := s.Get(ctx, k.Key); err != nil || string(v) != "B" {
		t.Fatalf("Get while out = %q, %v", v, err)
	}

	gate.Heal()
	deadline := time.Now().Add(10 * cooldown)
	for len(pool.Out()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the gated server did not come back within 10 cooldowns")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.Get(ctx, k.Key); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get once back (flushed) = %v, want ErrNotFound", err)
	}
	c := lease("C", backend.LeaseTaken)
	store("C", c.Version, "C", true)
	// The stand-in's copy and lock go, one Timeout after the switch back.
	raw := mcClient(t, live.Addr)
	deadline = time.Now().Add(2 * time.Second)
	for _, key := range []string{k.Key, k.Lock} {
		for {
			_, err := raw.Get(memcachestore.MangleKey(key))
			if errors.Is(err, memcache.ErrCacheMiss) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stand-in still holds %s after the server came back: %v", key, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
