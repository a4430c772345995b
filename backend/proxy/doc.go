// Package proxy wraps a backend, or a locker, in middleware: a function
// that runs around each of its operations, to log them, count or time them,
// or fail them on purpose in a test — dogpile.cache's proxy backends, for
// corral.
//
// A wrapper that embeds backend.Backend hides what else the wrapped
// backend implements: a region on it would lose its leases, its fenced
// stores, its near cache's invalidations. A proxy.Backend implements every
// optional interface of package backend and forwards each, and names the
// backend it wraps (backend.Unwrapper), so that backend.As reports exactly
// the interfaces of the wrapped one and a region behaves on the proxy as on
// the backend. A wrapper of your own that implements Unwrap is checked the
// same way: region.New refuses one that hides an interface of the backend
// it wraps (backend.CheckWrapped), rather than run without it.
package proxy
