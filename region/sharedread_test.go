package region_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/region"
)

// gatedBackend holds every Get of one key until the gate opens, and counts
// them.
type gatedBackend struct {
	backend.Backend
	key     string
	gets    atomic.Int32
	entered chan struct{}
	open    chan struct{}
}

func (b *gatedBackend) Get(ctx context.Context, key string) ([]byte, error) {
	if key == b.key {
		b.gets.Add(1)
		b.entered <- struct{}{}
		select {
		case <-b.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.Backend.Get(ctx, key)
}

func TestConcurrentReadsShareOneGet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, err := memory.New(memory.Options{Serialize: true})
		if err != nil {
			t.Fatal(err)
		}
		defer mem.Close()
		gb := &gatedBackend{Backend: mem, key: "c1:{4:test:hot}:v", entered: make(chan struct{}, 100), open: make(chan struct{})}
		r, err := region.New("test", region.Config{Backend: gb, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx := context.Background()
		if err := r.Set(ctx, "hot", "v"); err != nil {
			t.Fatal(err)
		}
		const n = 50
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				v, err := region.GetOrCreate(ctx, r, "hot", func(context.Context) (string, error) { return "new", nil })
				if err != nil || v != "v" {
					t.Errorf("got %q, %v", v, err)
				}
			})
		}
		synctest.Wait() // every reader is blocked: two in Get, the others on the second read
		close(gb.open)
		wg.Wait()
		// The first read went out before the other readers began, so they
		// may not share it (it could predate a write they saw complete):
		// they share the next one.
		if got := gb.gets.Load(); got != 2 {
			t.Fatalf("%d concurrent readers made %d backend reads, want 2: the first reader's and the one the others share", n, got)
		}
		if s := r.Stats(); s.Hits != n {
			t.Fatalf("hits = %d, want %d", s.Hits, n)
		}
	})
}

func TestSharedReadOfACancelledReader(t *testing.T) {
	gb := &gatedBackend{Backend: newMemory(t, true), key: "c1:{4:test:hot}:v", entered: make(chan struct{}, 100), open: make(chan struct{})}
	r := newRegion(t, region.Config{Backend: gb})
	_ = r.Set(context.Background(), "hot", "v")

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error)
	go func() {
		_, err := region.GetOrCreate(ctx, r, "hot", func(context.Context) (string, error) { return "x", nil })
		first <- err
	}()
	<-gb.entered
	second := make(chan string)
	go func() {
		v, _ := region.GetOrCreate(context.Background(), r, "hot", func(context.Context) (string, error) { return "x", nil })
		second <- v
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled reader: %v", err)
	}
	close(gb.open)
	if v := <-second; v != "v" {
		t.Fatalf("the other reader got %q, want the stored value", v)
	}
	// A caller giving up is not a backend failure.
	if n := r.Stats().BackendErrors; n != 0 {
		t.Fatalf("%d backend errors counted for a cancelled read, want 0", n)
	}
}
