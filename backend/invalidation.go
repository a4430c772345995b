package backend

// Invalidator is implemented by shared backends that tell every process which
// keys changed on the server, so that a process may keep decoded copies of
// their values in its own memory (a region's near cache) and drop them when
// any process writes. redisstore implements it with Redis's server-assisted
// client-side caching (RESP3 CLIENT TRACKING in broadcasting mode).
type Invalidator interface {
	// WatchInvalidations starts delivering to sink the keys beginning with
	// prefix that change on the server — written, deleted, expired or
	// evicted, by any client — until stop is called; stop waits for the
	// goroutines the watch started. sink's methods may be called from
	// several goroutines at once, and must not block.
	//
	// The watch begins not live: sink.Live(true, nil) says it now hears of
	// every change, sink.Live(false, err) that it may have missed some
	// (a connection lost or not yet made, or a server that cannot track).
	// A copy read before a Live call, of either kind, must not be trusted
	// after it. err is for logging and never holds a password.
	WatchInvalidations(prefix string, sink InvalidationSink) (stop func(), err error)
}

// InvalidationSink receives what an [Invalidator] watches.
type InvalidationSink interface {
	// Invalidate says that keys changed; nil keys means every key may have
	// changed (the server was flushed).
	Invalidate(keys []string)
	// Live says whether the watch hears of every change from now on: false
	// when it may miss some, true when it is back. Either way, every change
	// made before the call may have been missed.
	Live(live bool, err error)
}
