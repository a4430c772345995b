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

// getForUpdateScript takes a lease on KEYS[1] with the version in ARGV[1],
// the header of a placeholder (kind and version): if the key holds a value
// of ours, it overwrites the value's 8 version bytes in place (SETRANGE at
// offset 1, which keeps the value and its TTL) and returns the value as it
// was read, old header included; otherwise — a placeholder, nothing, or a
// string not ours — it stores the placeholder ARGV[1] with the TTL ARGV[2],
// in milliseconds, and returns it. 245 is kindValue.
var getForUpdateScript = redis.NewScript(getForUpdateLua)

//go:embed get_for_update.lua
var getForUpdateLua string

// setIfScript stores ARGV[2] (a header and a value) under KEYS[1] if the key
// holds a value or placeholder of ours whose version is ARGV[1] (8 bytes),
// comparing the header alone (GETRANGE), and returns 1; otherwise it returns
// 0. ARGV[3] is the TTL in milliseconds: 0 for none, negative to delete the
// key instead (a value that expires at once).
var setIfScript = redis.NewScript(setIfLua)

//go:embed set_if.lua
var setIfLua string

// scriptCall is one run of a script on key (and on the keys of more, in
// the same Cluster hash slot).
type scriptCall struct {
	key    string
	more   []string
	args   []any
	script *redis.Script // nil: the script evalEach is given
}

// keys are the KEYS of the run.
func (c scriptCall) keys() []string {
	keys := make([]string, 1+len(c.more))
	keys[0] = c.key
	copy(keys[1:], c.more)
	return keys
}

// GetForUpdate returns the value under each key, in the order of keys, nil
// for a missing one, and takes a new lease on each key: it draws a new
// random version per key, and every version handed out before for the key
// stops matching. A value keeps its bytes and its TTL: the script rewrites
// the 8 version bytes of its header in place (SETRANGE, O(1)). A key that
// holds nothing, a placeholder, or a string the Store did not write gets a
// new placeholder that expires after placeholderTTL (at least a
// millisecond). A key named twice is leased once. One script run per
// distinct key, all in one pipeline: one round trip, also on a Cluster.
// It returns an error wrapping [backend.ErrInvalidArgument] when
// placeholderTTL is not positive; other errors are Redis errors, wrapped,
// and the leases taken before one stand.
func (s *Store) GetForUpdate(ctx context.Context, keys []string, placeholderTTL time.Duration) ([][]byte, []backend.Version, error) {
	if placeholderTTL <= 0 {
		return nil, nil, fmt.Errorf("redisstore: placeholder TTL %v is not positive: %w", placeholderTTL, backend.ErrInvalidArgument)
	}
	values := make([][]byte, len(keys))
	versions := make([]backend.Version, len(keys))
	if len(keys) == 0 {
		return values, versions, nil
	}
	ms := pxTTL(placeholderTTL).Milliseconds()
	calls := make([]scriptCall, 0, len(keys))
	call := make([]int, len(keys)) // the index in calls of each key's run
	first := make(map[string]int, len(keys))
	for i, k := range keys {
		if j, dup := first[k]; dup {
			call[i] = j
			continue
		}
		first[k], call[i] = len(calls), len(calls)
		ph := appendHeader(make([]byte, 0, headerLen), kindPlaceholder, newVersion())
		calls = append(calls, scriptCall{key: k, args: []any{ph, ms}})
	}
	cmds, err := s.evalEach(ctx, getForUpdateScript, calls, false, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("redisstore: get for update of %d keys: %w", len(calls), err)
	}
	leased := make([][]byte, len(calls))
	leasedVersions := make([]backend.Version, len(calls))
	for j, c := range cmds {
		raw, err := c.Text()
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: get for update %q: %w", calls[j].key, err)
		}
		kind, _, value, ok := parse(raw)
		if !ok {
			return nil, nil, fmt.Errorf("redisstore: get for update %q: reply of %d bytes has no header", calls[j].key, len(raw))
		}
		// The version is the one this call drew, now in the key's header.
		_, leasedVersions[j], _, _ = parse(calls[j].args[0].([]byte))
		if kind == kindValue {
			leased[j] = append(make([]byte, 0, len(value)), value...) // never nil
		}
	}
	given := make([]bool, len(calls))
	for i, j := range call {
		versions[i] = leasedVersions[j]
		switch {
		case leased[j] == nil:
		case given[j]:
			values[i] = append([]byte{}, leased[j]...) // callers own their values
		default:
			values[i], given[j] = leased[j], true
		}
	}
	return values, versions, nil
}

// SetIf stores items[i], behind a header with a new version, only if its key
// still holds the value or placeholder versions[i] names; stored[i] reports
// whether it did. A script compares the key's 9-byte header (GETRANGE, not
// the value) and writes in one step; one run per item with a version other
// than zero, all in one pipeline: one round trip, also on a Cluster. A
// negative TTL deletes the key when the version matches. It returns an
// error wrapping [backend.ErrInvalidArgument] when versions and items differ
// in length; other errors are Redis errors, wrapped, and then stored reports
// the items known to be stored.
func (s *Store) SetIf(ctx context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	if len(items) != len(versions) {
		return nil, fmt.Errorf("redisstore: %d items with %d versions: %w", len(items), len(versions), backend.ErrInvalidArgument)
	}
	stored := make([]bool, len(items))
	calls, idx := setIfCalls(items, versions)
	if len(calls) == 0 {
		return stored, nil
	}
	cmds, err := s.evalEach(ctx, setIfScript, calls, false, nil)
	markStored(stored, idx, cmds)
	if err != nil {
		return stored, fmt.Errorf("redisstore: set if unchanged of %d keys: %w", len(calls), err)
	}
	return stored, nil
}

// SetIfGrouped stores items as SetIf does and records members (members[i]
// names items[i]) in the redisreg set group, whose records expire after
// groupTTL (zero: never), in one round trip. group is a key returned by
// redisreg.Registry.Group. Every member is recorded, stored or not.
//
// On a single node the scripts and the record run in one MULTI/EXEC
// transaction, atomic with respect to a concurrent
// redisreg.Registry.ForgetAll. On a Cluster the values and the set live in
// different hash slots, so they go in one pipeline, one batch per node. When
// any part fails, SetIfGrouped deletes the keys it stored or may have stored
// (a miss is always safe) and reports them not stored, as SetMultiGrouped
// does; only if that delete fails too can an unrecorded value remain, and
// then both errors are returned.
//
// It returns an error wrapping [backend.ErrInvalidArgument] when versions or
// members differ in length from items; other errors are Redis errors,
// wrapped, and then stored reports the items known to be stored.
func (s *Store) SetIfGrouped(ctx context.Context, items []backend.Item, versions []backend.Version, group string, members []string, groupTTL time.Duration) ([]bool, error) {
	if len(items) != len(versions) || len(items) != len(members) {
		return nil, fmt.Errorf("redisstore: %d items with %d versions and %d members: %w",
			len(items), len(versions), len(members), backend.ErrInvalidArgument)
	}
	stored := make([]bool, len(items))
	calls, idx := setIfCalls(items, versions)
	if len(calls) == 0 {
		return stored, nil
	}
	cmds, err := s.evalEach(ctx, setIfScript, calls, s.single, func(p redis.Pipeliner) {
		redisgroup.QueueRecord(ctx, p, group, groupTTL, members...)
	})
	markStored(stored, idx, cmds)
	if err == nil {
		return stored, nil
	}
	err = fmt.Errorf("redisstore: set if unchanged of %d keys recorded in %q: %w", len(calls), group, err)
	var keys []string
	for j, c := range cmds {
		if stored[idx[j]] || c.Err() != nil {
			keys = append(keys, calls[j].key)
		}
	}
	if derr := s.DeleteMulti(context.WithoutCancel(ctx), keys); derr != nil {
		return stored, errors.Join(err, fmt.Errorf("redisstore: values may remain unrecorded: %w", derr))
	}
	for _, i := range idx {
		stored[i] = false
	}
	return stored, err
}

// setIfCalls returns the runs of setIfScript for the items whose version is
// not zero (no key holds the zero version), and the index in items of each.
func setIfCalls(items []backend.Item, versions []backend.Version) ([]scriptCall, []int) {
	calls := make([]scriptCall, 0, len(items))
	idx := make([]int, 0, len(items))
	for i, it := range items {
		if versions[i] == 0 {
			continue
		}
		want := binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(versions[i]))
		var (
			value []byte
			ms    int64 = -1 // delete: the value expires at once
		)
		if it.TTL >= 0 {
			value, ms = withHeader(it.Value), pxTTL(it.TTL).Milliseconds()
		}
		calls = append(calls, scriptCall{key: it.Key, args: []any{want, value, ms}})
		idx = append(idx, i)
	}
	return calls, idx
}

// markStored sets stored[idx[j]] for each run of setIfScript that returned 1.
func markStored(stored []bool, idx []int, cmds []*redis.Cmd) {
	for j, c := range cmds {
		if n, err := c.Int64(); err == nil && n == 1 {
			stored[idx[j]] = true
		}
	}
}

// evalEach runs script once per call, and the commands extra queues (if not
// nil), in one pipeline — a MULTI/EXEC transaction when tx is set — and
// returns the scripts' commands in the order of calls with the first error
// of any command. Scripts are sent by digest (EVALSHA); if the server lacks
// the script (after a restart or SCRIPT FLUSH), the runs that failed for it
// are sent again with the script's body (EVAL), which also loads it, in a
// second round trip. In a transaction no script ran then, so the whole
// transaction is sent again, extra commands included.
func (s *Store) evalEach(ctx context.Context, script *redis.Script, calls []scriptCall, tx bool, extra func(redis.Pipeliner)) ([]*redis.Cmd, error) {
	if len(calls) == 1 && !tx && extra == nil {
		cmd := s.evalOne(ctx, script, calls[0])
		return []*redis.Cmd{cmd}, cmd.Err()
	}
	ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
	defer cancel()
	run := s.client.Pipelined
	if tx {
		run = s.client.TxPipelined
	}
	cmds := make([]*redis.Cmd, len(calls))
	all := make([]int, len(calls))
	for i := range all {
		all[i] = i
	}
	send := func(which []int, byBody, withExtra bool) ([]redis.Cmder, error) {
		return run(ctx, func(p redis.Pipeliner) error {
			for _, i := range which {
				c := calls[i]
				sc := script
				if c.script != nil {
					sc = c.script
				}
				if byBody {
					cmds[i] = sc.Eval(ctx, p, c.keys(), c.args...)
				} else {
					cmds[i] = sc.EvalSha(ctx, p, c.keys(), c.args...)
				}
			}
			if withExtra && extra != nil {
				extra(p)
			}
			return nil
		})
	}
	sent, perr := send(all, false, true)
	var retry []int
	for i, c := range cmds {
		if c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	switch {
	case len(retry) == 0:
	case tx:
		sent, perr = send(all, true, true)
	default:
		// The extra commands ran with the first pipeline; keep their results.
		extraCmds := sent[len(calls):]
		_, perr = send(retry, true, false)
		sent = append(append([]redis.Cmder{}, asCmders(cmds)...), extraCmds...)
	}
	for _, c := range sent {
		if err := c.Err(); err != nil {
			return cmds, err
		}
	}
	if perr != nil {
		return cmds, perr
	}
	return cmds, nil
}

// evalOne is evalEach of one run, without a pipeline.
func (s *Store) evalOne(ctx context.Context, script *redis.Script, c scriptCall) *redis.Cmd {
	ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
	defer cancel()
	if c.script != nil {
		script = c.script
	}
	keys := c.keys()
	cmd := script.EvalSha(ctx, s.client, keys, c.args...)
	if cmd.Err() != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd = script.Eval(ctx, s.client, keys, c.args...)
	}
	return cmd
}

// evalAll is evalEach with one[:] for the result of a lone run.
func (s *Store) evalAll(ctx context.Context, one *[1]*redis.Cmd, script *redis.Script, calls []scriptCall, tx bool, extra func(redis.Pipeliner)) ([]*redis.Cmd, error) {
	if len(calls) == 1 && !tx && extra == nil {
		one[0] = s.evalOne(ctx, script, calls[0])
		return one[:], one[0].Err()
	}
	return s.evalEach(ctx, script, calls, tx, extra)
}

func asCmders(cmds []*redis.Cmd) []redis.Cmder {
	out := make([]redis.Cmder, len(cmds))
	for i, c := range cmds {
		out[i] = c
	}
	return out
}
