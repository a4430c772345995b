package region

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/serializer"
)

// EntryInfo describes what a region's backend holds under one key, as
// Region.Inspect reads it. It is for operations tools, such as the corral
// command's inspect.
type EntryInfo struct {
	// Key is the caller's key, BackendKey the key the backend holds it
	// under (see Region.BackendKey).
	Key, BackendKey string
	// Present reports whether the backend holds an entry under the key.
	// The other fields but Serializer are zero when it does not.
	Present bool
	// State is "fresh", "stale" (past its expiration, or created before a
	// Soft invalidation: served while one caller regenerates it),
	// "invalidated" (created before a Hard invalidation: read as missing)
	// or "undecodable" (bytes that are not a corral envelope: read as
	// missing). A cached function's InvalidateAll is not considered: the
	// key alone does not say which function it belongs to.
	State string
	// Created is when the value was stored; Expiration the soft expiration
	// it was written with (zero: it never goes stale).
	Created    time.Time
	Expiration time.Duration
	// Size is the bytes stored (zero on a backend that keeps decoded
	// values); Compressed reports whether the payload is s2-compressed,
	// Sealed whether it is encrypted (see Config.Keyring).
	Size       int
	Compressed bool
	Sealed     bool
	// NotFound reports whether the entry is a cached "not found" (see
	// ErrNotFound) rather than a value.
	NotFound bool
	// Serializer names the region's serializer ("msgpack", "json", "raw",
	// or the Go type of another), which encoded the value.
	Serializer string
}

// Inspect reads the entry under key without decoding its value, creating
// anything, or counting a hit or miss, and tells what it holds. It reads the
// region-wide invalidation generations first, whatever
// Config.InvalidationRefresh says, so State reflects every invalidation
// completed before the call. Errors wrap ErrBackend, or are ErrClosed or
// ErrNilContext.
func (r *Region) Inspect(ctx context.Context, key string) (EntryInfo, error) {
	info := EntryInfo{Key: key, BackendKey: r.fullKey(key), Serializer: serializerName(r.cfg.Serializer)}
	if err := r.usable(ctx); err != nil {
		return info, err
	}
	if r.values != nil {
		ns, k := r.localKey(key)
		e, ok := r.values.LoadEntry(ns, k)
		if !ok {
			return info, nil
		}
		info.Present = true
		info.Created = time.Unix(0, e.Created)
		info.Expiration = e.Expiration
		info.NotFound = isNegative(e.Value)
		info.State = stateName(r.freshness(e.Created, e.Expiration, e.Gens, nil, r.now()))
		return info, nil
	}
	if err := r.readGensFor(ctx, nil); err != nil {
		return info, err
	}
	data, err := r.cfg.Backend.Get(ctx, info.BackendKey)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return info, nil
	case err != nil:
		return info, fmt.Errorf("%w: region %q: inspect %q: %w", ErrBackend, r.name, key, err)
	}
	info.Present = true
	info.Size = len(data)
	env, err := serializer.InspectEnvelope(data)
	if err != nil {
		info.State = "undecodable"
		return info, nil
	}
	info.Compressed = env.Compressed
	info.Sealed = env.Sealed
	info.NotFound = env.Meta.Negative
	info.Created = time.Unix(0, env.Meta.Created)
	info.Expiration = env.Meta.Expiration
	info.State = stateName(r.freshness(env.Meta.Created, env.Meta.Expiration, env.Meta.Gens, nil, r.now()))
	return info, nil
}

func stateName(f freshness) string {
	switch f {
	case fresh:
		return "fresh"
	case stale:
		return "stale"
	}
	return "invalidated"
}

func serializerName(s serializer.Serializer) string {
	switch s.(type) {
	case *serializer.MsgPack:
		return "msgpack"
	case serializer.JSON, *serializer.JSON:
		return "json"
	case serializer.Raw, *serializer.Raw:
		return "raw"
	}
	return fmt.Sprintf("%T", s)
}
