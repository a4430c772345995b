// Command report reads the output of the benchmarks of this module (go test
// -bench, any -count) and writes one table per scenario, with the median of
// every metric, corral's ratio to each peer and the targets met or missed,
// as Markdown, together with the machine, the Go version, the date and the
// command that produced it.
//
//	go run ./cmd/report -o ../BENCHMARKS.md -command "make bench" out1.txt out2.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "write the Markdown here (default: standard output only)")
	command := flag.String("command", "make bench", "the command to cite")
	flag.Parse()
	res := newResults()
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fail(err)
		}
		if err := res.parse(f); err != nil {
			fail(fmt.Errorf("%s: %w", name, err))
		}
		f.Close()
	}
	if len(res.groups) == 0 {
		fail(fmt.Errorf("no benchmark results in %v", flag.Args()))
	}
	var b strings.Builder
	res.write(&b, *command)
	fmt.Print(b.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(1)
}

// row is one library in one scenario: every value of every metric, over
// the runs.
type row struct {
	lib     string
	metrics map[string][]float64
}

// figure is the metric's figure in a table: the median of its values, but
// for a count of stale reads, which must be 0, the largest — one bad run
// must not hide behind two good ones.
func (r *row) figure(unit string) float64 {
	if !strings.HasPrefix(unit, "stale-") {
		return r.median(unit)
	}
	v := r.metrics[unit]
	if len(v) == 0 {
		return math.NaN()
	}
	return slices.Max(v)
}

// median returns the median of the metric's values, or NaN.
func (r *row) median(unit string) float64 {
	v := slices.Clone(r.metrics[unit])
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// group is one scenario (and variant), its rows and metric units in the
// order first seen.
type group struct {
	name  string
	rows  []*row
	units []string
}

func (g *group) row(lib string) *row {
	for _, r := range g.rows {
		if r.lib == lib {
			return r
		}
	}
	return nil
}

type results struct {
	groups []*group
	cpu    string
}

func newResults() *results { return &results{} }

// parse reads go test -bench output.
func (res *results) parse(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if cpu, ok := strings.CutPrefix(line, "cpu: "); ok {
			res.cpu = cpu
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > strings.LastIndexByte(name, '/') {
			name = name[:i] // the -GOMAXPROCS suffix
		}
		// Scenario/…/library; a benchmark without sub-benchmarks measures
		// corral alone.
		scenario, lib := name, "corral"
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			scenario, lib = name[:i], name[i+1:]
		}
		g := res.group(scenario)
		rw := g.row(lib)
		if rw == nil {
			rw = &row{lib: lib, metrics: map[string][]float64{}}
			g.rows = append(g.rows, rw)
		}
		for j := 2; j+1 < len(f); j += 2 {
			v, err := strconv.ParseFloat(f[j], 64)
			if err != nil {
				return fmt.Errorf("%q: %w", line, err)
			}
			unit := f[j+1]
			if !slices.Contains(g.units, unit) {
				g.units = append(g.units, unit)
			}
			rw.metrics[unit] = append(rw.metrics[unit], v)
		}
	}
	return sc.Err()
}

func (res *results) group(name string) *group {
	for _, g := range res.groups {
		if g.name == name {
			return g
		}
	}
	g := &group{name: name}
	res.groups = append(res.groups, g)
	return g
}

// timed reports whether the group measured time per operation.
func (g *group) timed() bool {
	for _, r := range g.rows {
		if r.median("ns/op") > 0 {
			return true
		}
	}
	return false
}

// write renders everything as Markdown.
func (res *results) write(w *strings.Builder, command string) {
	fmt.Fprintf(w, "# Benchmarks\n\n")
	fmt.Fprintf(w, "corral beside its Go peers, every scenario in the same run. Produced by `%s` "+
		"(bench/run.sh: a redis-server on a loopback port, the Go benchmarks of `bench/`, then `bench/cmd/report`). "+
		"Each figure is the median over the runs (`-count`); counts of stale reads are the largest. Ratios are corral's figure divided by the peer's: "+
		"a time ratio below 1 and a throughput ratio above 1 mean corral is faster.\n\n", command)
	fmt.Fprintf(w, "| | |\n| --- | --- |\n")
	fmt.Fprintf(w, "| machine | %d CPUs (nproc), %s |\n", runtime.NumCPU(), cpuModel(res.cpu))
	fmt.Fprintf(w, "| Go | %s %s/%s |\n", goVersion(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "| date | %s |\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "| command | `%s` |\n\n", command)

	fmt.Fprintf(w, "## Targets\n\n| target | figure | met |\n| --- | --- | --- |\n")
	for _, t := range res.targets() {
		mark := "yes"
		if !t.met {
			mark = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.what, t.figure, mark)
	}
	w.WriteString("\n")

	explained := map[string]bool{}
	for _, g := range res.groups {
		fmt.Fprintf(w, "## %s\n\n", g.name)
		scenario := strings.SplitN(g.name, "/", 2)[0]
		if about, ok := abouts[scenario]; ok && !explained[scenario] {
			fmt.Fprintf(w, "%s\n\n", about)
			explained[scenario] = true
		}
		corral := g.row("corral")
		var cols []string
		timed := g.timed()
		if timed {
			cols = append(cols, "ns/op", "ops/s")
		}
		for _, u := range g.units {
			if u != "ns/op" {
				cols = append(cols, u)
			}
		}
		header := append([]string{"library"}, cols...)
		if timed && corral != nil {
			header = append(header, "corral/peer time", "corral/peer throughput")
		}
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat(" --- |", len(header)))
		for _, r := range g.rows {
			cells := []string{r.lib}
			for _, c := range cols {
				if c == "ops/s" {
					cells = append(cells, num(1e9/r.median("ns/op")))
					continue
				}
				cells = append(cells, num(r.figure(c)))
			}
			if timed && corral != nil {
				ratio := corral.median("ns/op") / r.median("ns/op")
				cells = append(cells, fmt.Sprintf("%.2f", ratio), fmt.Sprintf("%.2f", 1/ratio))
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
		w.WriteString("\n")
	}
}

// abouts explains each scenario above its tables.
var abouts = map[string]string{
	"MemoryHit": "Scenario 1: GetOrCreate of a fresh value in process memory, 1024 keys, a ~1 KiB struct, by 1 goroutine (g1) and 64 (g64). " +
		"corral: a region on its memory backend (decoded values). corral-static: the same with a creator that captures nothing, " +
		"which shows the cost of the region alone (a creator closure that captures the key is heap-allocated at every call, because the region may run it in its own goroutine). " +
		"otter: v2 Get with a loader; otter-bare: GetIfPresent, the floor. sturdyc: GetOrFetch. eko-gocache: loadable cache over its go-cache store. " +
		"go-redis-cache: Once with only its TinyLFU local cache (it keeps encoded bytes and decodes every hit).",
	"RedisHit": "Scenario 2: GetOrCreate of a fresh value in Redis by 64 goroutines, one go-redis client each (default pool). " +
		"corral: region on backend/redisstore (which leases: no Locker), msgpack envelope. raw-go-redis: GET + msgpack.Unmarshal, the floor. " +
		"go-redis-cache: Once with Redis, no local cache. eko-gocache: msgpack marshaler over a loadable cache over its Redis store. " +
		"corral-encrypted: corral with Config.Keyring (values sealed with XChaCha20-Poly1305, bound to their key); target ≤ 1.2× corral. " +
		"corral-tagged: corral with two tags per value (WithTags: one of its own, one shared by all), whose counts every hit checks; target ≤ 1.2× corral and one round trip. " +
		"round-trips/op counts commands and pipelines with a go-redis hook (a little above 1 from connection setup and corral's invalidation-mark refresh, once a second; below 1 when singleflight coalesces concurrent reads).",
	"RedisMiss": "Cold miss on Redis, by one goroutine: a get-or-create of a key nobody has read, the creator instant — what every call of a low-hit-ratio workload pays. " +
		"corral: the first read, the lease (lock, fence and generations in one script), the store under the lease (which ends the lock): 3 round trips. " +
		"raw-go-redis: GET then SET, the floor (no lock, no fence). go-redis-cache: Once. eko-gocache: its loadable cache. Target: corral within 2x of go-redis-cache in time and allocations.",
	"InvalidateTags": "Region.InvalidateTags of a tag carried by 1, 1,000 and 10,000 values on Redis: one counter raised by a compare-and-swap, whatever their number. Target: flat (10,000 within 1.5x of 1).",
	"RedisMulti":     "Scenario 3: get-or-create of 100 keys, all hits, on Redis: corral's GetOrCreateMulti against one MGET and a msgpack.Unmarshal per value. Target: one round trip.",
	"Disk": "Disk scenario: a region on backend/diskstore (a SQLite file on local disk, with its own locker and registry) beside one on the memory backend and one on Redis (redisstore), by one goroutine. " +
		"hit: GetOrCreate of a fresh value, 1024 keys, a ~1 KiB struct; miss: Get of a key that holds nothing (one backend read).",
	"MemcachedMiss": "Memcached cold miss, by one goroutine: each operation creates a key nobody read and stores a ~1 KiB User. " +
		"corral-lease: the memcached store's lease (backend.Leaser on the meta protocol: lock + fence in one round trip) and its StoreLeased (store + release in one); " +
		"corral-get-lease: the same after a Get that misses, a whole creation at the backend; corral-region: the region (the read that misses, the lease, the store under it) on the meta protocol; " +
		"corral-region-text: the same on the text protocol; gomemcache: a bare Get that misses and a Set, the floor (no lock, no fence). cmds/op: memcached's commands per operation, from its stats. " +
		"Target: a creation within 2x of gomemcache.",
	"MemcachedHit": "Memcached hit: GetOrCreate of a fresh value, 1024 keys, a ~1 KiB User, by 1 and 64 goroutines. corral: a region on the memcached store on a Pool; " +
		"corral-store: the store's Get and a msgpack decode (no envelope); gomemcache: a bare Get and a msgpack decode, the floor. Target: corral ≥ 0.95x gomemcache's throughput at g64.",
	"Stampede": "Scenario 4: 400 goroutines ask for one cold key at once; the creator takes 50 ms. The figure is creator calls per stampede (1 = no stampede). " +
		"1x400: one process, in-process caches. 1x400-redis: one process on Redis. 4x100-redis: four worker processes (bench/internal/worker) of 100 goroutines each on one Redis, calls counted with INCR.",
	"Expiry": "Scenario 5: a hot key (TTL 200 ms) expires while 64 goroutines read it in a loop, yielding between reads; the creator takes 50 ms. " +
		"hit-*: latency of reads that ended before the regeneration started; regen-*: reads that overlapped a creator call. " +
		"corral: BackgroundRegeneration (nobody waits); corral-sync: the default (the lock winner waits for its creator, everyone else gets the stale value); corral-redis: as corral, on Redis. " +
		"otter: ExpiryWriting, Get with a loader. otter-refresh: RefreshWriting(TTL) with expiry a minute later (background reload, old value served). " +
		"sturdyc: WithEarlyRefreshes between 75% and 90% of the TTL (refreshes before expiry). eko-gocache, go-redis-cache: plain expiry, reload coalesced by singleflight. " +
		"Target: corral's regen-p99 within 2x its hit-p99.",
	"ExpiryOutcomes": "Scenario 5 counted by outcome: a hot key (TTL 200 ms, creator 50 ms) read by 64 goroutines until well after expiry; per expiry, waited-reads (the caller ran or waited for the creator), stale-reads, creator-calls and early-refreshes. " +
		"corral-xfetch: Config.EarlyRefresh (XFetch, β = 1): one reader regenerates before expiry in the background, so waited and stale reads drop to ~0, at the cost of extra creator calls. -redis rows: the same on Redis.",
	"NearHit": "Near cache: GetOrCreate of a fresh value among 1024 hot keys of ~1 KiB on Redis, with an in-process tier, by 1 and 64 goroutines. " +
		"corral-near: a Redis region with Config.Near (decoded values, RESP3 tracking). corral-memory: a memory region, the floor. " +
		"go-redis-cache-local: go-redis/cache with its TinyLFU local tier (bytes, decoded per hit; no cross-process invalidation). " +
		"go-redis-csc: go-redis v9.23's experimental client-side cache (GET replies cached as bytes, decoded per hit). Target: corral-near within 2x corral-memory.",
	"NearPropagation": "Near cache: time from a Set's return in process A to process B (which held the old value in its near cache) reading the new one, over 1,000 writes; B polls every 20 µs. Target: p99 ≤ 5 ms on loopback.",
	"NearMixed": "Near cache: 90% GetOrCreate, 10% Set or Delete, over 1024 keys, 64 goroutines split over two regions on separate clients (two processes). " +
		"stale-reads: reads older than a write of their key completed before they began; stale-beyond-bound: those that began more than 5 ms after it; stale-max-ms: the latest such read, after the write's return.",
	"InvalidationStream": "How a write reaches other processes: tracking-bcast (CLIENT TRACKING BCAST, the write a plain SET; what the near cache uses) against publish (SET + PUBLISH in one MULTI/EXEC). " +
		"write-µs: the write's round trip; p50/p99: from the write's return to the other side's receipt.",
}

type target struct {
	what, figure string
	met          bool
}

// targets checks the goals of the benchmark issue against the medians.
func (res *results) targets() []target {
	var ts []target
	get := func(group, lib, unit string) float64 {
		for _, g := range res.groups {
			if g.name == group {
				if r := g.row(lib); r != nil {
					return r.median(unit)
				}
			}
		}
		return math.NaN()
	}
	for _, v := range []string{"g1", "g64"} {
		grp := "MemoryHit/" + v
		// The region's own allocations: corral-static's creator captures
		// nothing, so any allocation left is the region's. The corral row's
		// one more is Go's heap copy of its key-capturing closure, made in
		// the caller's code (see region.GetOrCreate's NOTE).
		a := get(grp, "corral-static", "allocs/op")
		ts = append(ts, target{grp + ": corral's hit path 0 allocs/op (corral-static)", num(a) + " allocs/op", a == 0})
		c := get(grp, "corral", "ns/op")
		for _, p := range []string{"sturdyc", "eko-gocache", "go-redis-cache"} {
			r := c / get(grp, p, "ns/op")
			ts = append(ts, target{grp + ": corral faster than " + p, fmt.Sprintf("time ratio %.2f", r), r < 1})
		}
		r := c / get(grp, "otter-bare", "ns/op")
		ts = append(ts, target{grp + ": corral within 2x of otter's bare Get", fmt.Sprintf("time ratio %.2f", r), r <= 2})
	}
	for _, v := range []string{"g1", "g64"} {
		grp := "MemoryHit/" + v
		r := get(grp, "corral-static", "ns/op") / get(grp, "otter-bare", "ns/op")
		ts = append(ts, target{grp + ": corral-static within 1.5x of otter's bare Get", fmt.Sprintf("time ratio %.2f", r), r <= 1.5})
	}
	c := get("RedisHit/g64", "corral", "ns/op")
	r := get("RedisHit/g64", "raw-go-redis", "ns/op") / c
	ts = append(ts, target{"RedisHit/g64: corral >= 1.0x raw GET+decode throughput", fmt.Sprintf("throughput ratio %.2f", r), r >= 1})
	ra, ca := get("RedisHit/g64", "raw-go-redis", "allocs/op"), get("RedisHit/g64", "corral", "allocs/op")
	ts = append(ts, target{"RedisHit/g64: corral allocs <= raw + 3", fmt.Sprintf("%s vs %s allocs/op", num(ca), num(ra)), ca <= ra+3})
	tr := get("RedisHit/g64", "corral-tagged", "ns/op") / c
	ts = append(ts, target{"RedisHit/g64: corral-tagged within 1.2x of corral", fmt.Sprintf("time ratio %.2f", tr), tr <= 1.2})
	trt := get("RedisHit/g64", "corral-tagged", "round-trips/op")
	ts = append(ts, target{"RedisHit/g64: corral-tagged at most one round trip", fmt.Sprintf("%.3f round-trips/op", trt), trt <= 1.05})
	mt := get("RedisMiss", "corral", "ns/op") / get("RedisMiss", "go-redis-cache", "ns/op")
	ts = append(ts, target{"RedisMiss: corral within 2x of go-redis-cache's time", fmt.Sprintf("time ratio %.2f", mt), mt <= 2})
	ma := get("RedisMiss", "corral", "allocs/op") / get("RedisMiss", "go-redis-cache", "allocs/op")
	ts = append(ts, target{"RedisMiss: corral within 2x of go-redis-cache's allocations", fmt.Sprintf("allocs ratio %.2f", ma), ma <= 2})
	mrt := get("RedisMiss", "corral", "round-trips/op")
	ts = append(ts, target{"RedisMiss: corral a creation in at most 3 round trips", fmt.Sprintf("%.3f round-trips/op", mrt), mrt <= 3.05})
	it := get("InvalidateTags", "values=10000", "ns/op") / get("InvalidateTags", "values=1", "ns/op")
	ts = append(ts, target{"InvalidateTags: flat in the values tagged (10,000 vs 1)", fmt.Sprintf("time ratio %.2f", it), it <= 1.5})
	for _, p := range []string{"go-redis-cache", "eko-gocache"} {
		r := get("RedisHit/g64", p, "ns/op") / c
		ts = append(ts, target{"RedisHit/g64: corral ahead of " + p, fmt.Sprintf("throughput ratio %.2f", r), r > 1})
	}
	for _, v := range []string{"g1", "g64"} {
		grp := "RedisMulti/" + v
		r := get(grp, "raw-go-redis", "ns/op") / get(grp, "corral", "ns/op")
		ts = append(ts, target{grp + ": corral >= 0.9x raw MGET+decode throughput", fmt.Sprintf("throughput ratio %.2f", r), r >= 0.9})
		rt := get(grp, "corral", "round-trips/op")
		ts = append(ts, target{grp + ": corral one round trip", fmt.Sprintf("%.3f round-trips/op", rt), rt < 1.05})
	}
	floor := get("MemcachedMiss/g1", "gomemcache", "ns/op")
	for _, lib := range []string{"corral-lease", "corral-get-lease", "corral-region"} {
		r := get("MemcachedMiss/g1", lib, "ns/op") / floor
		ts = append(ts, target{"MemcachedMiss/g1: " + lib + " within 2x of gomemcache's Get miss + Set", fmt.Sprintf("time ratio %.2f", r), r <= 2})
	}
	mr := get("MemcachedHit/g64", "gomemcache", "ns/op") / get("MemcachedHit/g64", "corral", "ns/op")
	ts = append(ts, target{"MemcachedHit/g64: corral >= 0.95x gomemcache Get+decode throughput", fmt.Sprintf("throughput ratio %.2f", mr), mr >= 0.95})
	for _, v := range []string{"1x400", "1x400-redis", "4x100-redis", "4x100-memcached"} {
		n := get("Stampede/"+v, "corral", "creator-calls")
		ts = append(ts, target{"Stampede/" + v + ": exactly 1 creator call for corral", num(n) + " calls", n == 1})
	}
	for _, lib := range []string{"corral", "corral-sync", "corral-redis"} {
		r := get("Expiry", lib, "regen/hit-p99")
		ts = append(ts, target{"Expiry: " + lib + " regen p99 <= 2x hit p99", fmt.Sprintf("%.2fx", r), r <= 2})
	}
	return ts
}

// num formats a figure with three significant digits, or a dash.
func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// cpuModel is the model name from /proc/cpuinfo, or what go test printed.
func cpuModel(fallback string) string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return fallback
}

// goVersion is the version of the go command that ran the benchmarks.
func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}
