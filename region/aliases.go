package region

import "github.com/corralcache/corral/observe"

// Outcome tells how a call of GetOrCreate (or of a cached function) was
// answered; see ReportOutcome. It is observe.Outcome, which the Tracer's
// spans end with.
type Outcome = observe.Outcome

// The outcomes of a call; see observe.Outcome.
const (
	OutcomeHit     = observe.OutcomeHit
	OutcomeStale   = observe.OutcomeStale
	OutcomeCreated = observe.OutcomeCreated
	OutcomeShared  = observe.OutcomeShared
)

// BreakerState is the state of a circuit breaker (see Stats.BreakerState);
// it is observe.BreakerState, which observers are told of.
type BreakerState = observe.BreakerState

// The states of a circuit breaker; see observe.BreakerState.
const (
	BreakerClosed   = observe.BreakerClosed
	BreakerOpen     = observe.BreakerOpen
	BreakerHalfOpen = observe.BreakerHalfOpen
)
