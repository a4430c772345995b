package region

import (
	"context"
	"fmt"
	"time"

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
	// Tags are the value's tags (see WithTags), read fresh from the
	// backend: Current is false for a tag invalidated since the value's
	// creation began (or whose counter the backend lost).
	Tags []TagInfo
}

// TagInfo is one tag of an inspected value.
type TagInfo struct {
	Name    string
	Current bool
}

// Inspect reads the entry under key without decoding its value, creating
// anything, or counting a hit or miss, and tells what it holds. It reads the
// region-wide invalidation generations first, whatever
// Config.InvalidationRefresh says, so State reflects every invalidation
// completed before the call. Errors wrap ErrBackend, or are ErrClosed or
// ErrNilContext.
func (r *Region) Inspect(ctx context.Context, key string) (EntryInfo, error) {
	info := EntryInfo{Key: key, BackendKey: r.e.BackendKey(key), Serializer: serializerName(r.cfg.Serializer)}
	if err := r.usable(ctx); err != nil {
		return info, err
	}
	in, err := r.e.Inspect(ctx, key)
	if err != nil || !in.Present {
		return info, err
	}
	info.Present, info.State, info.Size = true, in.State, in.Size
	info.Compressed, info.Sealed, info.NotFound = in.Compressed, in.Sealed, in.NotFound
	for _, t := range in.Tags {
		info.Tags = append(info.Tags, TagInfo{Name: t.Name, Current: t.Current})
	}
	if in.State != "undecodable" {
		info.Created = time.Unix(0, in.Meta.Created)
		info.Expiration = in.Meta.Expiration
	}
	return info, nil
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
