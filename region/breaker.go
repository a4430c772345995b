package region

import (
	"fmt"
	"time"

	"github.com/corralcache/corral/internal/breaker"
	"github.com/corralcache/corral/internal/engine"
)

// Circuit breakers.
//
// A backend that is down costs every call that asks it a timeout. Two things
// keep a fail-open region fast while it is:
//
//   - Within a call: once a backend step fails (a timeout, a refused
//     connection — not a miss), the call skips every later step that would
//     reach the backend or the distributed lock and goes to the creator
//     under the in-process lock (fail-open) or returns ErrBackend
//     (fail-closed). Nothing is stored.
//   - Across calls: a Breaker counts consecutive failures; at its
//     threshold it opens, and calls skip the backend without touching the
//     network. After its cooldown one probe goes out in the background:
//     its success closes the breaker, its failure opens it for another
//     cooldown.
//
// Every operation on the backend — values, leases, invalidation
// generations, the key registry's records when they live there — goes
// through the breaker. A distributed Locker has a breaker of its own:
// while it is open, creations take the in-process lock and still use the
// backend (leases keep its writes standing). An in-process backend that
// keeps values has no breaker: it does not fail.

// Breaker defaults, applied by New to zero fields of Config.
const (
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 500 * time.Millisecond
)

// ErrBreakerOpen is wrapped, with ErrBackend, by the errors of calls that
// skipped the backend because its circuit breaker is open (or half-open
// with its probe out), or because the invalidation generations could not
// be read lately; see Config.BreakerThreshold.
var ErrBreakerOpen = engine.ErrBreakerOpen

// Breaker is a circuit breaker that regions share when they are given the
// same one (Config.Breaker, Config.LockerBreaker): regions on one server
// see one set of failures, and open and close together. A region given no
// Breaker makes its own. The zero Breaker is not usable; make one with
// NewBreaker.
type Breaker struct {
	b *breaker.Breaker
}

// NewBreaker returns a closed breaker that opens after threshold
// consecutive failures and probes once per cooldown while open. Errors
// wrap ErrInvalidConfig: a threshold below 1 or a cooldown not positive.
func NewBreaker(threshold int, cooldown time.Duration) (*Breaker, error) {
	if threshold < 1 || cooldown <= 0 {
		return nil, fmt.Errorf("%w: breaker threshold %d or cooldown %v is not positive", ErrInvalidConfig, threshold, cooldown)
	}
	return &Breaker{b: breaker.New(threshold, cooldown)}, nil
}

// State returns the breaker's state now.
func (b *Breaker) State() BreakerState { return b.b.State() }

// Trips returns how many times the breaker opened.
func (b *Breaker) Trips() uint64 { return b.b.Trips() }

// orNew is b's breaker, or a new one of threshold and cooldown when b is
// nil (or the zero Breaker).
func (b *Breaker) orNew(threshold int, cooldown time.Duration) *breaker.Breaker {
	if b != nil && b.b != nil {
		return b.b
	}
	return breaker.New(threshold, cooldown)
}
