package main

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/corralcache/corral/internal/history"
	"github.com/corralcache/corral/internal/history/workload"
	"github.com/corralcache/corral/region"
)

// historyDBPrefix keeps the fake database's rows apart from the region's
// keys on the server.
const historyDBPrefix = "historydb:"

// serverDB is the fake database of the history mode, on the test's servers
// so that every process shares it: a counter per key.
type serverDB struct{ st *stack }

func (d serverDB) Read(ctx context.Context, key string) (int64, error) {
	return d.st.get(ctx, historyDBPrefix+key)
}

func (d serverDB) Write(ctx context.Context, key string) (int64, error) {
	return d.st.incr(ctx, historyDBPrefix+key)
}

// runHistory runs the coherence workload (package workload) from -start, as
// process -proc of -procs, and writes its operations to out as JSON lines.
// It stops after -ops operations per goroutine or -duration, whichever
// comes first.
func runHistory(ctx context.Context, r *region.Region, st *stack, o options, out io.Writer) error {
	if o.procs <= 0 || o.proc < 0 || o.proc >= o.procs {
		return errors.New("history: -proc " + strconv.Itoa(o.proc) + " of -procs " + strconv.Itoa(o.procs))
	}
	if o.start > 0 {
		time.Sleep(time.Until(time.UnixMilli(o.start)))
	}
	log := &history.Log{}
	err := workload.Run(ctx, workload.Config{
		Region: r, DB: serverDB{st}, Log: log, Proc: o.proc,
		Goroutines: o.goroutines, Ops: o.ops, Duration: o.duration,
		Keys: o.keys, Seed: o.seed, MaxDelay: o.sleep,
		Writes: workload.Partition(o.proc, o.procs),
	})
	if err != nil {
		return err
	}
	return history.Encode(out, log.Ops())
}

// skewedClock is the system clock moved by a fixed offset: a process whose
// clock disagrees with the others', as on another machine.
type skewedClock struct{ by time.Duration }

func (c skewedClock) Now() time.Time { return time.Now().Add(c.by) }
