package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/corralcache/corral/region"
)

// stampedeResult is what a stampede prints.
type stampedeResult struct {
	// Values counts the values the callers got, by value.
	Values map[string]int `json:"values"`
	// Errors lists the callers' errors.
	Errors []string `json:"errors"`
	// Created counts the creator calls of this process.
	Created int          `json:"created"`
	Stats   region.Stats `json:"stats"`
}

func stampede(ctx context.Context, r *region.Region, st *stack, o options) stampedeResult {
	var (
		mu      sync.Mutex
		res     = stampedeResult{Values: map[string]int{}}
		ready   sync.WaitGroup
		wg      sync.WaitGroup
		release = make(chan struct{})
	)
	create := func(ctx context.Context) (string, error) {
		n, err := st.incr(ctx, o.counter)
		if err != nil {
			return "", err
		}
		mu.Lock()
		res.Created++
		mu.Unlock()
		time.Sleep(o.sleep)
		return fmt.Sprintf("v%d", n), nil
	}
	for range o.goroutines {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-release
			v, err := region.GetOrCreate(ctx, r, o.key, create)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors = append(res.Errors, err.Error())
				return
			}
			res.Values[v]++
		})
	}
	ready.Wait()
	if o.start > 0 {
		time.Sleep(time.Until(time.UnixMilli(o.start)))
	}
	close(release)
	wg.Wait()
	res.Stats = r.Stats()
	return res
}
