package region

import (
	"time"

	"github.com/corralcache/corral/internal/engine"
)

// Clock tells the time. Tests inject a fake one; the default is the system
// clock, read coarsely (see ClockResolution).
type Clock interface {
	Now() time.Time
}

// ClockResolution is how often the default clock reads the system time.
// Expiration is decided to within it.
const ClockResolution = engine.ClockResolution
