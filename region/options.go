package region

import "time"

// CallOption adjusts one call.
type CallOption func(*callConfig)

type callConfig struct {
	expiration       time.Duration
	hasExpiration    bool
	ignoreExpiration bool
	// fn is the cached function a key belongs to; its key is recorded in
	// the registry when a value is stored.
	fn string
}

func makeCallConfig(opts []CallOption) callConfig {
	var c callConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithExpiration sets the soft expiration of the values a call writes, in
// place of Config.Expiration. It is stored with each value, so every later
// read honours it. Zero means the values never go stale.
func WithExpiration(d time.Duration) CallOption {
	return func(c *callConfig) {
		c.expiration = max(d, 0)
		c.hasExpiration = true
	}
}

// IgnoreExpiration makes Get and GetMulti return values whose soft
// expiration has passed (stale values). Values retired by a Hard
// invalidation stay missing.
func IgnoreExpiration() CallOption {
	return func(c *callConfig) { c.ignoreExpiration = true }
}

// recordFor records every key the call stores under the cached function fn.
func recordFor(fn string) CallOption {
	return func(c *callConfig) { c.fn = fn }
}
