package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/keyspace"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/serializer"
)

// The storage tier.
//
// A region stores either decoded entries in this process (a
// backend.ValueStore that keeps values: the default memory backend) or
// bytes in a backend (Redis, memcached, a memory backend that serializes).
// The two are the two implementations of tier; the rest of the engine
// moves entries and never asks which one it has.

// ValueType decodes and checks values of one Go type for the untyped core;
// package region implements it for each T.
type ValueType interface {
	Decode(c *serializer.Codec, bound string, data []byte) (any, serializer.Meta, error)
	Holds(v any) bool
	// Strict tells whether a first read that finds a value of another type
	// is an error wrapping ErrTypeMismatch (see region.Typed) rather than a
	// miss.
	Strict() bool
	Name() string
}

// tier is where a region's entries live.
type tier interface {
	// load reads key's entry. A missing or undecodable entry gives nil and
	// no error (an undecodable one counted and logged when first is set,
	// the call's first read); err reports a backend failure, counted and
	// logged already, or a value of another type found by a strict read.
	load(ctx context.Context, key string, vt ValueType, first bool) (*backend.Entry, error)
	// loadMulti reads the entries of keys, in order, as load does; data,
	// when not nil, holds bytes read already (nil: missing).
	loadMulti(ctx context.Context, keys []string, vt ValueType, first bool, data [][]byte) ([]*backend.Entry, error)
	// save stores values[i] under keys[i] with m, dropped after ttl, and
	// records the keys under the cached function fn, if any.
	save(ctx context.Context, keys []string, values []any, m serializer.Meta, ttl time.Duration, fn string) error
	// remove deletes keys.
	remove(ctx context.Context, keys []string) error
}

// newTier returns the tier of e's backend.
func newTier(e *Engine) tier {
	be := e.cfg.Backend
	if vs, ok := backend.As[backend.ValueStore](be); ok && vs.KeepsValues() {
		t := &valueTier{e: e, store: vs, direct: e.cfg.KeyMangler == nil}
		t.cond, _ = backend.As[backend.ConditionalValueStore](be)
		return t
	}
	t := &byteTier{e: e, be: be}
	t.cond, _ = backend.As[backend.Conditional](be)
	if e.cfg.Locker == nil { // a Locker given explicitly locks: see Config.Locker
		t.leaser, _ = backend.As[backend.Leaser](be)
	}
	if g, ok := e.cfg.Registry.(keyreg.Grouped); ok {
		t.grouper, _ = backend.As[backend.Grouper](be)
		t.cgrouper, _ = backend.As[backend.ConditionalGrouper](be)
		if t.grouper != nil || t.cgrouper != nil || t.leaser != nil {
			t.grouped = g
		}
	}
	return t
}

// Values returns the store and namespace of a tier that keeps decoded
// values and needs no key building (the façade's first read looks there
// directly), or nil.
func (e *Engine) Values() (backend.ValueStore, string) {
	if t, ok := e.tier.(*valueTier); ok && t.direct {
		return t.store, e.cfg.Namespace
	}
	return nil, ""
}

// KeepsValues reports whether the tier keeps decoded values.
func (e *Engine) KeepsValues() bool {
	_, ok := e.tier.(*valueTier)
	return ok
}

// valueTier keeps decoded entries in an in-process ValueStore.
type valueTier struct {
	e     *Engine
	store backend.ValueStore
	cond  backend.ConditionalValueStore // nil: stores are unconditional
	// direct is true when a lookup needs no key building: the namespace
	// and key go to the store as they are.
	direct bool
}

// localKey is the (namespace, key) pair the store sees for key.
func (t *valueTier) localKey(key string) (string, string) {
	if t.direct {
		return t.e.cfg.Namespace, key
	}
	return "", t.e.BackendKey(key)
}

func (t *valueTier) load(ctx context.Context, key string, vt ValueType, first bool) (*backend.Entry, error) {
	ns, k := t.localKey(key)
	en, ok := t.store.LoadEntry(ns, k)
	if !ok {
		return nil, nil
	}
	if vt.Strict() && !vt.Holds(en.Value) && !IsNegative(en.Value) {
		return nil, t.e.Mismatch(key, en.Value, vt)
	}
	return t.e.checkType(ctx, key, en, vt, first), nil
}

func (t *valueTier) loadMulti(ctx context.Context, keys []string, vt ValueType, first bool, _ [][]byte) ([]*backend.Entry, error) {
	entries := make([]*backend.Entry, len(keys))
	for i, key := range keys {
		en, err := t.load(ctx, key, vt, first)
		if err != nil {
			return entries, err
		}
		entries[i] = en
	}
	return entries, nil
}

func (t *valueTier) save(ctx context.Context, keys []string, values []any, m serializer.Meta, ttl time.Duration, fn string) error {
	for i, key := range keys {
		ns, k := t.localKey(key)
		t.store.StoreEntry(ns, k, &backend.Entry{Value: values[i], Created: m.Created, Expiration: m.Expiration, Gens: m.Gens, Delta: m.Delta}, ttl)
	}
	t.e.record(ctx, fn, keys, ttl)
	return nil
}

func (t *valueTier) remove(ctx context.Context, keys []string) error {
	for _, key := range keys {
		ns, k := t.localKey(key)
		t.store.DeleteEntry(ns, k)
	}
	return nil
}

// byteTier keeps encoded entries in a backend.
type byteTier struct {
	e  *Engine
	be backend.Backend
	// The backend's optional writes: conditional (leases), grouped with
	// the registry's records, or both; leaser takes the lock and the lease
	// in one step (nil when a Locker was given, which then locks).
	cond     backend.Conditional
	grouper  backend.Grouper
	cgrouper backend.ConditionalGrouper
	leaser   backend.Leaser
	// grouped is the registry, when the backend records a cached
	// function's keys in its group in the same round trip as the values.
	grouped keyreg.Grouped
}

func (t *byteTier) load(ctx context.Context, key string, vt ValueType, first bool) (*backend.Entry, error) {
	data, err := t.e.get(ctx, key)
	if err != nil || data == nil {
		return nil, err
	}
	return t.e.decodeEntry(ctx, key, data, vt, first)
}

func (t *byteTier) loadMulti(ctx context.Context, keys []string, vt ValueType, first bool, data [][]byte) ([]*backend.Entry, error) {
	entries := make([]*backend.Entry, len(keys))
	if data == nil {
		var err error
		if data, err = t.e.getMulti(ctx, keys); err != nil {
			return entries, err
		}
	}
	for i, d := range data {
		if d == nil {
			continue
		}
		en, err := t.e.decodeEntry(ctx, keys[i], d, vt, first)
		if err != nil {
			return entries, err
		}
		entries[i] = en
	}
	return entries, nil
}

func (t *byteTier) save(ctx context.Context, keys []string, values []any, m serializer.Meta, ttl time.Duration, fn string) error {
	items, err := t.e.encodeItems(keys, values, m, ttl, &Call{})
	if err != nil {
		return err
	}
	if fn != "" && t.grouper != nil && t.grouped != nil {
		err := t.e.guard(ctx, observe.OpSetGrouped, keys[0], func(ctx context.Context) error {
			return t.grouper.SetMultiGrouped(ctx, items, t.grouped.Group(fn), keys, ttl)
		})
		return t.e.writeError(ctx, keys, err)
	}
	err = t.e.guard(ctx, observe.OpSetMulti, keys[0], func(ctx context.Context) error {
		return t.be.SetMulti(ctx, items)
	})
	if err != nil {
		return t.e.writeError(ctx, keys, err)
	}
	t.e.record(ctx, fn, keys, ttl)
	return nil
}

func (t *byteTier) remove(ctx context.Context, keys []string) error {
	return t.e.guard(ctx, observe.OpDelete, keys[0], func(ctx context.Context) error {
		if len(keys) == 1 {
			return t.be.Delete(ctx, t.e.BackendKey(keys[0]))
		}
		full := make([]string, len(keys))
		for i, key := range keys {
			full[i] = t.e.BackendKey(key)
		}
		return t.be.DeleteMulti(ctx, full)
	})
}

// get reads key's bytes, after refreshing the shared invalidation
// generations when they are due. A missing key gives nil and no error; err
// reports a backend failure, counted and logged already, or a backend
// skipped (ErrBreakerOpen).
func (e *Engine) get(ctx context.Context, key string) ([]byte, error) {
	if err := e.refreshGens(ctx); err != nil {
		return nil, err
	}
	var data []byte
	err := e.guard(ctx, observe.OpGet, key, func(ctx context.Context) (err error) {
		data, err = e.cfg.Backend.Get(ctx, e.BackendKey(key))
		return err
	})
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// getMulti reads the bytes of keys in one multi-get, after refreshing the
// generations when due; a missing key gives nil.
func (e *Engine) getMulti(ctx context.Context, keys []string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if err := e.refreshGens(ctx); err != nil {
		return nil, err
	}
	full := make([]string, len(keys))
	for i, key := range keys {
		full[i] = e.BackendKey(key)
	}
	var data [][]byte
	err := e.guard(ctx, observe.OpGetMulti, keys[0], func(ctx context.Context) (err error) {
		data, err = e.cfg.Backend.GetMulti(ctx, full)
		if err == nil && len(data) != len(keys) {
			err = fmt.Errorf("backend returned %d values for %d keys", len(data), len(keys))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// GetMulti is getMulti for the façade's typed first read; nil on a tier
// that keeps values.
func (e *Engine) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	return e.getMulti(ctx, keys)
}

// checkType returns en when it holds a value of the wanted type, and
// otherwise counts a decode error (on a first read) and returns nil.
func (e *Engine) checkType(ctx context.Context, key string, en *backend.Entry, vt ValueType, first bool) *backend.Entry {
	if vt.Holds(en.Value) || IsNegative(en.Value) {
		return en
	}
	if first {
		e.stats.decodeErrors.Add(ctx, 1)
		e.warn(ctx, "corral: cached value has another type (do two regions, or cached functions, share a name?); treated as a miss",
			"region", e.name, "key", key, "type", fmt.Sprintf("%T", en.Value))
	}
	return nil
}

// decodeEntry turns stored bytes into an entry: nil, counted and logged
// when first, for bytes that do not decode; an error for a strict read
// that finds another type.
func (e *Engine) decodeEntry(ctx context.Context, key string, data []byte, vt ValueType, first bool) (*backend.Entry, error) {
	v, m, err := vt.Decode(e.codec, e.BoundKey(key), data)
	if err != nil {
		if vt.Strict() && errors.Is(err, ErrTypeMismatch) {
			return nil, e.MismatchDecoding(key, err)
		}
		if first {
			e.DecodeError(ctx, key, err)
		}
		return nil, nil
	}
	return &backend.Entry{Value: v, Created: m.Created, Expiration: m.Expiration, Gens: m.Gens, Delta: m.Delta}, nil
}

// BoundKey is the key the sealed bytes of key's value are bound to: its
// value key in the layout, before Config.KeyMangler (which is injective),
// so that bytes copied to another key do not decode. Without encryption it
// is empty, and costs nothing.
func (e *Engine) BoundKey(key string) string {
	if !e.codec.Seals() {
		return ""
	}
	return keyspace.Value(e.cfg.Namespace, key)
}

// DecodeError counts and logs an entry that cannot be decoded.
func (e *Engine) DecodeError(ctx context.Context, key string, err error) {
	e.stats.decodeErrors.Add(ctx, 1)
	e.warn(ctx, "corral: undecodable entry; treated as a miss", "region", e.name, "key", key, "err", err)
}

// Mismatch is the error of a strict read of key that found v, a value of
// another type than vt's, in a tier that keeps values.
func (e *Engine) Mismatch(key string, v any, vt ValueType) error {
	return fmt.Errorf("%w: region %q: key %q holds a %T, not a %s", ErrTypeMismatch, e.name, key, v, vt.Name())
}

// MismatchDecoding is the error of a strict read of key whose envelope
// says another type.
func (e *Engine) MismatchDecoding(key string, err error) error {
	return fmt.Errorf("region %q: key %q: %w", e.name, key, err)
}

// encodeItems encodes values[i] with m into the backend item of keys[i],
// which the backend drops after ttl.
func (e *Engine) encodeItems(keys []string, values []any, m serializer.Meta, ttl time.Duration, c *Call) ([]backend.Item, error) {
	items := make([]backend.Item, len(keys))
	for i, key := range keys {
		data, err := e.encode(e.BoundKey(key), values[i], c.metaFor(key, m))
		if err != nil {
			return nil, fmt.Errorf("region %q: key %q: %w", e.name, key, err)
		}
		items[i] = backend.Item{Key: e.BackendKey(key), Value: data, TTL: ttl}
	}
	return items, nil
}

// encode is the codec's EncodeFor, bound to bound, with a panic of the
// serializer as an error.
func (e *Engine) encode(bound string, v any, m serializer.Meta) (data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("serializer: encode %T: %w", v, panicked(p))
		}
	}()
	if IsNegative(v) {
		// No payload, no type: "not found" fits any type. With a Keyring
		// the codec seals it, bound to its key like a value.
		m.Negative = true
		return e.codec.EncodeFor(bound, nil, m)
	}
	m.Type = serializer.TypeTag(reflect.TypeOf(v))
	return e.codec.EncodeFor(bound, v, m)
}

// writeError is what a write of keys that failed with err returns: nil for
// nil; values too large for the backend are counted as not cached and
// logged once per key; other errors are guard's already.
func (e *Engine) writeError(ctx context.Context, keys []string, err error) error {
	if err != nil && errors.Is(err, backend.ErrTooLarge) {
		return e.notStoredTooLarge(ctx, keys, err)
	}
	return err
}

// record notes keys in the registry under the cached function fn, if any.
func (e *Engine) record(ctx context.Context, fn string, keys []string, ttl time.Duration) {
	if fn == "" {
		return
	}
	for _, key := range keys {
		_ = e.GuardRegistry(ctx, "record key", key, func(ctx context.Context) error {
			return e.cfg.Registry.Record(ctx, fn, key, ttl)
		})
	}
}
