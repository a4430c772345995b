package lock

// Unwrapper is implemented by a Locker that wraps another — a proxy that
// logs, counts or fails its calls — to name the one it wraps. A region
// reads it to tell a wrapped in-process [Local] from a distributed locker:
// the in-process one needs no circuit breaker, and stays the one the
// region falls back to. Package
// github.com/corralcache/corral/backend/proxy implements it.
type Unwrapper interface {
	// Unwrap returns the Locker this one wraps.
	Unwrap() Locker
}

// LocalOf returns the in-process [Local] that l is, or wraps (see
// [Unwrapper]), and reports whether there is one.
func LocalOf(l Locker) (*Local, bool) {
	for l != nil {
		if loc, ok := l.(*Local); ok {
			return loc, loc != nil
		}
		w, ok := l.(Unwrapper)
		if !ok {
			return nil, false
		}
		l = w.Unwrap()
	}
	return nil, false
}
