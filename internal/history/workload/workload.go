// Package workload drives a region with a seeded, random mix of reads,
// database writes and invalidations over a few keys of a versioned fake
// database, and logs every operation for history.Check. The coherence tests
// run it in one process (region) and in each worker process
// (integration/internal/worker).
package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/corralcache/corral/internal/history"
	"github.com/corralcache/corral/region"
)

// DB is the versioned database the workload caches: every key holds an
// integer version, 0 until written, that only Write raises.
type DB interface {
	// Read returns key's version.
	Read(ctx context.Context, key string) (int64, error)
	// Write raises key's version by one and returns the new version.
	Write(ctx context.Context, key string) (int64, error)
}

// MemDB is a DB in this process's memory. The zero value is ready.
type MemDB struct {
	mu sync.Mutex // protects v
	v  map[string]int64
}

var _ DB = (*MemDB)(nil)

// Read returns key's version.
func (d *MemDB) Read(_ context.Context, key string) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.v[key], nil
}

// Write raises key's version.
func (d *MemDB) Write(_ context.Context, key string) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.v == nil {
		d.v = map[string]int64{}
	}
	d.v[key]++
	return d.v[key], nil
}

// Keys come in two families of Config.Keys each: "f/<i>" is the result of
// the cached function Load(i) (read with Call, so InvalidateAll covers it),
// "g/<i>" the region key of the same name (read with GetOrCreate). The
// database row of each has the same name.
const (
	funcPrefix = "f/"
	keyPrefix  = "g/"
	// FuncName is the cached function's name (region.Named).
	FuncName = "history.Load"
)

// Config configures Run.
type Config struct {
	Region *region.Region
	DB     DB
	Log    *history.Log
	// Proc is this process's number in the log.
	Proc int
	// Goroutines run the workload at once; each stops after Ops operations
	// or when Duration has passed, whichever comes first.
	Goroutines, Ops int
	Duration        time.Duration
	// Keys is the number of keys in each family.
	Keys int
	// Seed seeds every goroutine's random source (with the process and
	// goroutine numbers), so a seed replays the same operations; the
	// scheduler still decides how they interleave.
	Seed uint64
	// MaxDelay bounds the random sleeps of creators, before and after they
	// read the database: the window in which a write can overtake them.
	MaxDelay time.Duration
	// Writes reports whether this process may write key. Writes of one key
	// must not overlap (see history.Check): Run serialises those of its own
	// goroutines, and processes that share a database must write disjoint
	// keys. Nil: every key.
	Writes func(key string) bool
}

// Partition returns a Config.Writes that deals the keys out to procs
// processes in turn (f/0, g/0, f/1, g/1, …) and keeps those of process
// proc, so processes sharing a database write disjoint keys.
func Partition(proc, procs int) func(key string) bool {
	return func(key string) bool {
		n, ok := funcArg(key)
		n *= 2
		if !ok {
			i, err := strconv.Atoi(strings.TrimPrefix(key, keyPrefix))
			if err != nil {
				return false
			}
			n = 2*i + 1
		}
		return n%procs == proc
	}
}

// The operations, with their weights out of 100.
type opKind int

const (
	opRead               opKind = iota // a read of any key
	opWriteInvalidate                  // a db write, then Invalidate or Delete of the key
	opWriteSet                         // a db write, then write-through of the new version
	opWriteInvalidateAll               // a db write of an f key, then InvalidateAll
	opWriteHard                        // a db write, then region-wide Invalidate(Hard)
	opInvalidateAll                    // InvalidateAll alone
	opHard                             // Invalidate(Hard) alone
	opSoft                             // Invalidate(Soft)
	opWriteTag                         // a db write, then InvalidateTags of the key's tag
	opTag                              // InvalidateTags alone
)

var weights = [...]struct {
	op     opKind
	weight int
}{
	{opRead, 54},
	{opWriteTag, 4},
	{opTag, 2},
	{opWriteInvalidate, 12},
	{opWriteSet, 12},
	{opWriteInvalidateAll, 5},
	{opWriteHard, 4},
	{opInvalidateAll, 3},
	{opHard, 2},
	{opSoft, 2},
}

// Run runs the workload and returns when every goroutine has stopped. The
// operations' errors go to the log, not to the caller; Run fails only for a
// Config it cannot run.
func Run(ctx context.Context, c Config) error {
	if c.Region == nil || c.DB == nil || c.Log == nil || c.Keys <= 0 || c.Goroutines <= 0 {
		return fmt.Errorf("workload: incomplete config %+v", c)
	}
	w := &runner{Config: c, locks: map[string]*sync.Mutex{}}
	var err error
	w.load, err = region.Cache1(c.Region, w.create, region.Named(FuncName),
		region.TagsBy1(func(i int) []string { return []string{history.TagOf(funcPrefix + strconv.Itoa(i))} }))
	if err != nil {
		return err
	}
	for i := range c.Keys {
		for _, key := range []string{funcPrefix + strconv.Itoa(i), keyPrefix + strconv.Itoa(i)} {
			w.locks[key] = &sync.Mutex{}
			if c.Writes == nil || c.Writes(key) {
				w.owned = append(w.owned, key)
			}
		}
	}
	deadline := time.Now().Add(c.Duration)
	var wg sync.WaitGroup
	for g := range c.Goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(c.Seed, uint64(c.Proc)<<32|uint64(g)))
			for i := 0; i < c.Ops && ctx.Err() == nil && time.Now().Before(deadline); i++ {
				w.step(ctx, g, rng)
			}
		})
	}
	wg.Wait()
	return nil
}

// runner is one process's workload.
type runner struct {
	Config
	load  *region.Func1[int, int64]
	locks map[string]*sync.Mutex // serialise this process's writes, by key
	owned []string               // the keys this process writes
}

// creation is what a read passes its creator through the context: who
// asked, and how long to sleep around the database read.
type creation struct {
	g             int
	before, after time.Duration
}

type creationKey struct{}

// create is the creator of every key (the cached function Load, and
// GetOrCreate's through a closure): it reads key's version from the
// database between two sleeps, and logs the run.
func (w *runner) create(ctx context.Context, i int) (int64, error) {
	return w.createKey(ctx, funcPrefix+strconv.Itoa(i))
}

func (w *runner) createKey(ctx context.Context, key string) (int64, error) {
	c, _ := ctx.Value(creationKey{}).(creation)
	op := history.Op{Proc: w.Proc, G: c.g, Kind: history.Create, Key: key, Start: history.Now()}
	time.Sleep(c.before)
	v, err := w.DB.Read(ctx, key)
	time.Sleep(c.after)
	op.End, op.Version = history.Now(), v
	if err != nil {
		op.Err = err.Error()
	}
	w.Log.Add(op)
	return v, err
}

// delay returns a random sleep of up to MaxDelay.
func (w *runner) delay(rng *rand.Rand) time.Duration {
	if w.MaxDelay <= 0 {
		return 0
	}
	return time.Duration(rng.Int64N(int64(w.MaxDelay) + 1))
}

// step runs one random operation as goroutine g.
func (w *runner) step(ctx context.Context, g int, rng *rand.Rand) {
	n := rng.IntN(100)
	op := opRead
	for _, x := range weights {
		if n < x.weight {
			op = x.op
			break
		}
		n -= x.weight
	}
	i := rng.IntN(w.Keys)
	key := keyPrefix + strconv.Itoa(i)
	if rng.IntN(2) == 0 {
		key = funcPrefix + strconv.Itoa(i)
	}
	switch op {
	case opRead:
		w.read(ctx, g, key, creation{g: g, before: w.delay(rng), after: w.delay(rng)})
	case opWriteInvalidate, opWriteSet, opWriteHard, opWriteInvalidateAll, opWriteTag:
		if len(w.owned) == 0 {
			return
		}
		key = w.owned[rng.IntN(len(w.owned))]
		if _, isFunc := funcArg(key); op == opWriteInvalidateAll && !isFunc {
			op = opWriteInvalidate
		}
		w.write(ctx, g, key, op)
	case opInvalidateAll:
		w.invalidateAll(ctx, g)
	case opHard, opSoft:
		w.invalidateRegion(ctx, g, op == opSoft)
	case opTag:
		w.invalidateTag(ctx, g, history.TagOf(key))
	}
}

// read reads key through the cache.
func (w *runner) read(ctx context.Context, g int, key string, c creation) {
	ctx = context.WithValue(ctx, creationKey{}, c)
	var (
		outcome region.Outcome
		v       int64
		err     error
	)
	op := history.Op{Proc: w.Proc, G: g, Kind: history.Read, Key: key, Start: history.Now()}
	if id, ok := funcArg(key); ok {
		op.Via = "call"
		v, err = w.load.Call(ctx, id, region.ReportOutcome(&outcome))
	} else {
		op.Via = "get-or-create"
		v, err = region.GetOrCreate(ctx, w.Region, key, func(ctx context.Context) (int64, error) {
			return w.createKey(ctx, key)
		}, region.ReportOutcome(&outcome), region.WithTags(history.TagOf(key)))
	}
	op.End, op.Version = history.Now(), v
	w.finish(op, err, outcome)
}

// write raises key's version in the database, then retires the cached
// value as op says.
func (w *runner) write(ctx context.Context, g int, key string, op opKind) {
	mu := w.locks[key]
	mu.Lock()
	defer mu.Unlock()
	dbw := history.Op{Proc: w.Proc, G: g, Kind: history.DBWrite, Key: key, Start: history.Now()}
	v, err := w.DB.Write(ctx, key)
	dbw.End, dbw.Version = history.Now(), v
	w.finish(dbw, err, 0)
	if err != nil {
		return
	}
	id, isFunc := funcArg(key)
	inv := history.Op{Proc: w.Proc, G: g, Key: key}
	switch op {
	case opWriteInvalidate:
		inv.Kind = history.Invalidate
		inv.Start = history.Now()
		if isFunc {
			inv.Via, err = "func.invalidate", w.load.Invalidate(ctx, id)
		} else {
			inv.Via, err = "region.delete", w.Region.Delete(ctx, key)
		}
	case opWriteSet:
		inv.Kind, inv.Version = history.Set, v
		inv.Start = history.Now()
		if isFunc {
			inv.Via, err = "func.set", w.load.Set(ctx, id, v)
		} else {
			inv.Via, err = "region.set", w.Region.Set(ctx, key, v, region.WithTags(history.TagOf(key)))
		}
	case opWriteInvalidateAll:
		w.invalidateAll(ctx, g)
		return
	case opWriteHard:
		w.invalidateRegion(ctx, g, false)
		return
	case opWriteTag:
		w.invalidateTag(ctx, g, history.TagOf(key))
		return
	}
	inv.End = history.Now()
	w.finish(inv, err, 0)
}

// invalidateAll retires every cached result of the function.
func (w *runner) invalidateAll(ctx context.Context, g int) {
	op := history.Op{Proc: w.Proc, G: g, Kind: history.InvalidateAll, Key: funcPrefix, Via: "func.invalidate-all", Start: history.Now()}
	err := w.load.InvalidateAll(ctx)
	op.End = history.Now()
	w.finish(op, err, 0)
}

// invalidateTag retires every key carrying tag.
func (w *runner) invalidateTag(ctx context.Context, g int, tag string) {
	op := history.Op{Proc: w.Proc, G: g, Kind: history.Tag, Key: tag, Via: "region.invalidate-tags", Start: history.Now()}
	err := w.Region.InvalidateTags(ctx, tag)
	op.End = history.Now()
	w.finish(op, err, 0)
}

// invalidateRegion retires the whole region, hard or soft.
func (w *runner) invalidateRegion(ctx context.Context, g int, soft bool) {
	op := history.Op{Proc: w.Proc, G: g, Kind: history.Hard, Via: "region.invalidate", Start: history.Now()}
	how := region.Hard
	if soft {
		op.Kind, how = history.Soft, region.Soft
	}
	err := w.Region.Invalidate(ctx, how)
	op.End = history.Now()
	w.finish(op, err, 0)
}

// finish logs op with its error and, for a read, its outcome.
func (w *runner) finish(op history.Op, err error, o region.Outcome) {
	if err != nil {
		op.Err = err.Error()
	} else if o != 0 {
		op.Outcome = o.String()
	}
	w.Log.Add(op)
}

// funcArg returns the cached function's argument for an f key.
func funcArg(key string) (int, bool) {
	arg, ok := strings.CutPrefix(key, funcPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(arg)
	return id, err == nil
}
