// Command quickstart shows corral on its in-memory default: a region declared
// at setup, a slow function cached by its arguments, 1,000 concurrent callers
// on a cold key causing one call of it, a stale value served while one caller
// regenerates, and invalidation after a write.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corralcache/corral/region"
)

// User is what the slow database returns.
type User struct {
	ID    int
	Email string
}

// database stands for a slow store in front of which the cache sits.
type database struct {
	mu     sync.Mutex
	emails map[int]string
	calls  atomic.Int64
	delay  time.Duration
}

func (db *database) GetUser(ctx context.Context, id int) (User, error) {
	db.calls.Add(1)
	select {
	case <-time.After(db.delay):
	case <-ctx.Done():
		return User{}, ctx.Err()
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	return User{ID: id, Email: db.emails[id]}, nil
}

func (db *database) SetEmail(id int, email string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.emails[id] = email
}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run tells the story on w.
func run(w io.Writer) error {
	ctx := context.Background()
	db := &database{emails: map[int]string{42: "ada@example.com"}, delay: 300 * time.Millisecond}

	// At application setup: declare the region and cache the function.
	users, err := region.New("users", region.Config{Expiration: time.Second})
	if err != nil {
		return err
	}
	defer users.Close()
	getUser, err := region.Cache1(users, db.GetUser, region.Named("db.GetUser"))
	if err != nil {
		return err
	}

	fmt.Fprintln(w, "1. A thousand callers ask for user 42 at once; the cache is cold.")
	start := time.Now()
	results := callConcurrently(1000, func() User {
		u, err := getUser.Call(ctx, 42)
		if err != nil {
			log.Print(err)
		}
		return u
	})
	fmt.Fprintf(w, "   all %d got %s in %v; the slow function ran %d time(s).\n",
		len(results), results[0].Email, time.Since(start).Round(10*time.Millisecond), db.calls.Load())

	fmt.Fprintln(w, "2. The value expires (after 1s). A hundred callers arrive.")
	time.Sleep(1100 * time.Millisecond)
	db.SetEmail(42, "ada@lovelace.example")
	before := users.Stats()
	start = time.Now()
	callConcurrently(100, func() User {
		u, _ := getUser.Call(ctx, 42)
		return u
	})
	after := users.Stats()
	fmt.Fprintf(w, "   %d were served the stale value at once, %d regenerated it (took %v); slow calls so far: %d.\n",
		after.StaleServed-before.StaleServed, after.Regenerations-before.Regenerations,
		time.Since(start).Round(10*time.Millisecond), db.calls.Load())
	u, _ := getUser.Call(ctx, 42)
	fmt.Fprintf(w, "   now everyone reads %s.\n", u.Email)

	fmt.Fprintln(w, "3. A write changes user 42; the code invalidates the cached result.")
	db.SetEmail(42, "countess@example.com")
	key, recorded, _ := getUser.Key(ctx, 42)
	fmt.Fprintf(w, "   the key registry knows GetUser(42) as %q (recorded: %v).\n", key, recorded)
	if err := getUser.Invalidate(ctx, 42); err != nil {
		return err
	}
	u, _ = getUser.Call(ctx, 42)
	fmt.Fprintf(w, "   the next call reads %s from the database (slow calls: %d).\n", u.Email, db.calls.Load())

	s := users.Stats()
	fmt.Fprintf(w, "Stats: %d hits, %d misses, %d stale served, %d shared (answered by another caller's creation), %d regenerations, %d lock waits.\n",
		s.Hits, s.Misses, s.StaleServed, s.Shared, s.Regenerations, s.LockWaits)
	return nil
}

// callConcurrently runs fn in n goroutines at once and returns their results.
func callConcurrently[T any](n int, fn func() T) []T {
	out := make([]T, n)
	var ready, done sync.WaitGroup
	startGun := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-startGun
			out[i] = fn()
		}()
	}
	ready.Wait()
	close(startGun)
	done.Wait()
	return out
}
