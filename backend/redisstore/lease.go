package redisstore

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/redisdeadline"
	"github.com/corralcache/corral/internal/redisgroup"
)

// The Store's leases (backend.Leaser): the lock is a key of its own,
// LeaseKey.Lock, in the value's hash slot — the key the region's Locker
// would lock, so that a process that locks through redislocker and one
// that leases exclude each other — and the fence is the version in the
// value's header, as for GetForUpdate. One script takes both; one script
// stores under the fence and ends the lock. Every call is one pipeline:
// one round trip, also on a Cluster, where its batches go to their nodes
// in parallel.

//go:embed lease.lua
var leaseLua string

//go:embed store_leased.lua
var storeLeasedLua string

//go:embed extend_lease.lua
var extendLeaseLua string

var (
	leaseScript       = redis.NewScript(leaseLua)
	storeLeasedScript = redis.NewScript(storeLeasedLua)
	extendLeaseScript = redis.NewScript(extendLeaseLua)
)

var _ backend.Leaser = (*Store)(nil)

// Lease implements backend.Leaser: one run of a script per distinct key
// takes its lock and leases it (a new version in its header, or a
// placeholder), or reports it held or changed; the keys of o.Also are read
// in the same pipeline.
func (s *Store) Lease(ctx context.Context, keys []backend.LeaseKey, o backend.LeaseOptions) ([]backend.Lease, [][]byte, error) {
	if o.Holder == "" || o.LockTTL <= 0 || o.PlaceholderTTL <= 0 {
		return nil, nil, fmt.Errorf("redisstore: lease: holder %q, lock TTL %v, placeholder TTL %v: %w", o.Holder, o.LockTTL, o.PlaceholderTTL, backend.ErrInvalidArgument)
	}
	calls := make([]scriptCall, 0, len(keys))
	call := make([]int, len(keys)) // the index in calls of each key's run
	var first map[string]int       // a key's first index in calls, when several
	if len(keys) > 1 {
		first = make(map[string]int, len(keys))
	}
	// On a single node, one key's run reads the Also keys itself: one
	// command, no pipeline.
	inScript := s.single && len(keys) == 1 && len(o.Also) > 0
	lockMS, phMS := pxTTL(o.LockTTL).Milliseconds(), pxTTL(o.PlaceholderTTL).Milliseconds()
	for i, k := range keys {
		if j, dup := first[k.Key]; dup {
			call[i] = j
			continue
		}
		if first != nil {
			first[k.Key] = len(calls)
		}
		call[i] = len(calls)
		ph := appendHeader(make([]byte, 0, headerLen), kindPlaceholder, newVersion())
		var seen []byte
		if k.Version != 0 {
			seen = binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(k.Version))
		}
		more := []string{k.Lock}
		if inScript {
			more = append(append(make([]string, 0, 1+len(o.Also)), k.Lock), o.Also...)
		}
		calls = append(calls, scriptCall{key: k.Key, more: more, args: []any{o.Holder, lockMS, ph, phMS, seen}})
	}
	var also [][]byte
	var alsoCmds []*redis.StringCmd
	var alsoMGet *redis.SliceCmd
	var extra func(redis.Pipeliner)
	if len(o.Also) > 0 && !inScript {
		extra = func(p redis.Pipeliner) {
			if s.single {
				alsoMGet = p.MGet(ctx, o.Also...)
				return
			}
			alsoCmds = make([]*redis.StringCmd, len(o.Also))
			for i, k := range o.Also {
				alsoCmds[i] = p.Get(ctx, k)
			}
		}
	}
	var cmds []*redis.Cmd
	var err error
	switch {
	case len(calls) > 0:
		var one [1]*redis.Cmd
		cmds, err = s.evalAll(ctx, &one, leaseScript, calls, false, extra)
	case extra != nil:
		ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
		defer cancel()
		_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error { extra(p); return nil })
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("redisstore: lease of %d keys: %w", len(calls), err)
	}
	if inScript {
		also = make([][]byte, len(o.Also))
		reply, err := cmds[0].Slice()
		if err == nil && len(reply) != 2+len(o.Also) {
			err = fmt.Errorf("%d values", len(reply))
		}
		if err == nil {
			err = fill(also, reply[2:])
		}
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: lease: unexpected reply: %w", err)
		}
	} else if also, err = alsoValues(o.Also, alsoMGet, alsoCmds); err != nil {
		return nil, nil, err
	}
	results := make([]backend.Lease, len(calls))
	for j, c := range cmds {
		r, err := parseLease(c, calls[j].args[2].([]byte))
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: lease %q: %w", calls[j].key, err)
		}
		results[j] = r
	}
	if len(calls) == len(keys) {
		return results, also, nil // no key named twice: call[i] == i
	}
	leases := make([]backend.Lease, len(keys))
	given := make([]bool, len(calls))
	for i, j := range call {
		leases[i] = results[j]
		if v := results[j].Value; v != nil {
			if given[j] {
				leases[i].Value = append([]byte{}, v...) // callers own their values
			}
			given[j] = true
		}
	}
	return leases, also, nil
}

// parseLease reads a reply of leaseScript; ph is the placeholder header
// the run offered, whose version is the lease's when taken.
func parseLease(c *redis.Cmd, ph []byte) (backend.Lease, error) {
	reply, err := c.Slice()
	if err != nil || len(reply) < 2 {
		return backend.Lease{}, fmt.Errorf("unexpected reply %v (%v)", reply, err)
	}
	status, _ := reply[0].(int64)
	var l backend.Lease
	switch status {
	case 1:
		l.Status = backend.LeaseTaken
		_, l.Version, _, _ = parse(ph)
	case 2:
		l.Status = backend.LeaseHeld
	case 3:
		l.Status = backend.LeaseChanged
	default:
		return l, fmt.Errorf("unexpected status %v", reply[0])
	}
	if raw, ok := reply[1].(string); ok {
		kind, v, value, ok := parse(raw)
		if ok && l.Status != backend.LeaseTaken {
			l.Version = v
		}
		if ok && kind == kindValue {
			l.Value = append(make([]byte, 0, len(value)), value...) // never nil
		}
	}
	return l, nil
}

// alsoValues are the values the Also reads of a pipeline returned.
func alsoValues(keys []string, mget *redis.SliceCmd, gets []*redis.StringCmd) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if mget != nil {
		vals, err := mget.Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: mget of %d keys: %w", len(keys), err)
		}
		return out, fill(out, vals)
	}
	for i, c := range gets {
		v, err := c.Bytes()
		switch {
		case err == nil:
			if v, ok := payload(v); ok {
				out[i] = v
			}
		case !errors.Is(err, redis.Nil):
			return nil, fmt.Errorf("redisstore: get %q: %w", keys[i], err)
		}
	}
	return out, nil
}

// StoreLeased implements backend.Leaser: one run of a script per lease
// stores its item if the fence holds and ends the holder's lock; the group
// record, when asked, goes in the same pipeline — a MULTI/EXEC transaction
// on a single node, and, on a Cluster (where the record lives in another
// hash slot), a pipeline whose failure deletes the keys it may have
// stored, as SetIfGrouped does.
func (s *Store) StoreLeased(ctx context.Context, items []backend.Item, held []backend.LeaseKey, holder string, g backend.Group) ([]bool, []bool, error) {
	if holder == "" || len(held) < len(items) || (g.Name != "" && len(g.Members) != len(items)) {
		return nil, nil, fmt.Errorf("redisstore: store leased: %d items, %d leases, %d members, holder %q: %w", len(items), len(held), len(g.Members), holder, backend.ErrInvalidArgument)
	}
	stored, lost := make([]bool, len(items)), make([]bool, len(held))
	calls := make([]scriptCall, 0, len(held))
	for i, h := range held {
		var want, value []byte
		ms := int64(-1) // delete: the value expires at once
		if i < len(items) && h.Version != 0 {
			want = binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(h.Version))
			if items[i].TTL >= 0 {
				value, ms = withHeader(items[i].Value), pxTTL(items[i].TTL).Milliseconds()
			}
		}
		calls = append(calls, scriptCall{key: h.Key, more: []string{h.Lock}, args: []any{want, value, ms, holder}})
	}
	if len(calls) == 0 {
		return stored, lost, nil
	}
	var extra func(redis.Pipeliner)
	if g.Name != "" {
		extra = func(p redis.Pipeliner) {
			redisgroup.QueueRecord(ctx, p, g.Name, g.TTL, g.Members...)
		}
	}
	var one [1]*redis.Cmd
	cmds, err := s.evalAll(ctx, &one, storeLeasedScript, calls, extra != nil && s.single, extra)
	for i, c := range cmds {
		n, err := c.Int64()
		if err != nil {
			continue
		}
		if i < len(items) && n&1 == 1 {
			stored[i] = true
		}
		lost[i] = n&2 == 0
	}
	if err == nil {
		return stored, lost, nil
	}
	err = fmt.Errorf("redisstore: store of %d leased keys: %w", len(items), err)
	if extra == nil {
		return stored, lost, err
	}
	var keys []string
	for i := range items {
		if stored[i] || cmds[i].Err() != nil {
			keys = append(keys, items[i].Key)
		}
	}
	if derr := s.DeleteMulti(context.WithoutCancel(ctx), keys); derr != nil {
		return stored, lost, errors.Join(err, fmt.Errorf("redisstore: values may remain unrecorded: %w", derr))
	}
	for i := range stored {
		stored[i] = false
	}
	return stored, lost, err
}

// ExtendLeases implements backend.Leaser.
func (s *Store) ExtendLeases(ctx context.Context, keys []backend.LeaseKey, holder string, ttl time.Duration) ([]bool, error) {
	if holder == "" || ttl <= 0 {
		return nil, fmt.Errorf("redisstore: extend leases: holder %q, TTL %v: %w", holder, ttl, backend.ErrInvalidArgument)
	}
	ok := make([]bool, len(keys))
	if len(keys) == 0 {
		return ok, nil
	}
	calls := make([]scriptCall, len(keys))
	for i, k := range keys {
		calls[i] = scriptCall{key: k.Lock, args: []any{holder, pxTTL(ttl).Milliseconds()}}
	}
	cmds, err := s.evalEach(ctx, extendLeaseScript, calls, false, nil)
	for i, c := range cmds {
		if n, err := c.Int64(); err == nil && n == 1 {
			ok[i] = true
		}
	}
	if err != nil {
		return ok, fmt.Errorf("redisstore: extend %d leases: %w", len(keys), err)
	}
	return ok, nil
}

// ReleaseLeases implements backend.Leaser: StoreLeased with nothing to
// store.
func (s *Store) ReleaseLeases(ctx context.Context, keys []backend.LeaseKey, holder string) error {
	_, _, err := s.StoreLeased(ctx, nil, keys, holder, backend.Group{})
	return err
}
