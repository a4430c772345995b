// Package redisdeadline bounds each operation corral sends through a
// go-redis client by one read timeout, so that a command whose reply timed
// out is not sent again.
//
// go-redis retries a command whose reply timed out (MaxRetries; a Cluster's
// MaxRedirects), so against a server that accepts connections but never
// answers, one command costs two read timeouts and a backoff before the
// caller hears of it. A deadline of one read timeout from the start of the
// operation leaves the first attempt its whole read timeout (go-redis sets
// the socket's deadline from ReadTimeout, not from the context, unless
// ContextTimeoutEnabled), but by the time that attempt has timed out the
// deadline has passed, so the retry — which waits for a backoff and a pool
// turn under the context first — is not sent. A reset connection fails at
// once, well before the deadline, and is still retried on a fresh one.
package redisdeadline

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Default is the bound for operations on client: its read timeout when the
// client retries failed commands, and zero (no bound) otherwise — nothing
// to cut when there is no retry — or when client is not a *redis.Client or
// *redis.ClusterClient, whose options can be read.
func Default(client any) (d time.Duration) {
	// A client not made by its constructor (a zero *redis.Client) has no
	// options to read, and its Options method panics: no bound then.
	defer func() {
		if recover() != nil {
			d = 0
		}
	}()
	var read time.Duration
	var retries int
	switch c := client.(type) {
	case *redis.Client:
		if o := c.Options(); o != nil {
			read, retries = o.ReadTimeout, o.MaxRetries
		}
	case *redis.ClusterClient:
		if o := c.Options(); o != nil {
			read, retries = o.ReadTimeout, o.MaxRedirects
		}
	}
	if read <= 0 || retries <= 0 {
		return 0
	}
	return read
}

// Resolve turns an option's value into a bound: zero takes Default(client),
// a negative value means none (zero).
func Resolve(opt time.Duration, client any) time.Duration {
	switch {
	case opt == 0:
		return Default(client)
	case opt < 0:
		return 0
	}
	return opt
}

// Bound returns ctx with a deadline d from now, unless d is zero or ctx
// already ends sooner; cancel must be called.
func Bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, noCancel
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, noCancel
	}
	return context.WithTimeout(ctx, d)
}

func noCancel() {}
