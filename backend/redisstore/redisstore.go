package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/redisdeadline"
	"github.com/corralcache/corral/internal/redisgroup"
)

// ErrInvalidOptions is returned (wrapped) by [New] and [Open] when their
// arguments cannot be used.
var ErrInvalidOptions = errors.New("redisstore: invalid options")

// DefaultBatchSize is the BatchSize New uses when Options.BatchSize is zero.
const DefaultBatchSize = 1000

// Options configures a [Store]. The zero value is ready to use.
type Options struct {
	// BatchSize bounds the keys of one MGET or DEL, so that a very large
	// multi-get does not hold the server for long; larger calls send several
	// commands in one pipeline. Default: DefaultBatchSize; negative is
	// invalid.
	BatchSize int
	// CloseClient makes Close close the client. Open sets it.
	CloseClient bool
	// Timeout bounds each operation of the Store: a dial, the command,
	// and any retry the client makes must fit in it (a context that ends
	// sooner bounds it instead). Default: the client's ReadTimeout, when
	// the client retries failed commands (MaxRetries, or a Cluster's
	// MaxRedirects) — so a command whose reply timed out is not sent again
	// (go-redis retries timeouts), which makes a failed call cost one read
	// timeout, not two, while a reset connection is still retried at once.
	// Negative: no bound beyond ctx and the client's own timeouts.
	Timeout time.Duration
	// TrackingPing is how often each connection that carries invalidations
	// (see Store.WatchInvalidations) is pinged, and TrackingTimeout how long
	// an unanswered ping may be outstanding before the connection is taken
	// for lost. Defaults: DefaultTrackingPing, DefaultTrackingTimeout;
	// negative is invalid, and TrackingTimeout must exceed TrackingPing.
	TrackingPing, TrackingTimeout time.Duration
}

// Store is a backend.Backend on Redis, with conditional writes
// ([backend.Conditional], [backend.ConditionalGrouper]). It is safe for
// concurrent use.
type Store struct {
	client redis.UniversalClient
	// single is true when every key lives on one server, so multi-key
	// commands (MGET, DEL k1 k2 …) may span any keys.
	single bool
	batch  int
	owned  bool
	// timeout bounds each operation (see internal/redisdeadline); zero:
	// no bound.
	timeout time.Duration
	// trackPing and trackTimeout pace the invalidation stream's heartbeat.
	trackPing, trackTimeout time.Duration
}

var (
	_ backend.Backend            = (*Store)(nil)
	_ backend.Grouper            = (*Store)(nil)
	_ backend.Conditional        = (*Store)(nil)
	_ backend.ConditionalGrouper = (*Store)(nil)
	_ backend.Shared             = (*Store)(nil)
)

// New returns a Store on client: a *redis.Client (single node or failover)
// or a *redis.ClusterClient. It returns an error wrapping ErrInvalidOptions
// when client is nil or BatchSize is negative.
func New(client redis.UniversalClient, o Options) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: client is nil", ErrInvalidOptions)
	}
	if o.BatchSize < 0 {
		return nil, fmt.Errorf("%w: BatchSize %d is negative", ErrInvalidOptions, o.BatchSize)
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.TrackingPing < 0 || o.TrackingTimeout < 0 {
		return nil, fmt.Errorf("%w: TrackingPing %v or TrackingTimeout %v is negative", ErrInvalidOptions, o.TrackingPing, o.TrackingTimeout)
	}
	if o.TrackingPing == 0 {
		o.TrackingPing = DefaultTrackingPing
	}
	if o.TrackingTimeout == 0 {
		o.TrackingTimeout = max(DefaultTrackingTimeout, 2*o.TrackingPing)
	}
	if o.TrackingTimeout <= o.TrackingPing {
		return nil, fmt.Errorf("%w: TrackingTimeout %v does not exceed TrackingPing %v", ErrInvalidOptions, o.TrackingTimeout, o.TrackingPing)
	}
	_, single := client.(*redis.Client)
	return &Store{client: client, single: single, batch: o.BatchSize, owned: o.CloseClient,
		timeout: redisdeadline.Resolve(o.Timeout, client), trackPing: o.TrackingPing, trackTimeout: o.TrackingTimeout}, nil
}

// Open returns a Store on a client it makes from rawURL with [NewClient]
// (go-redis's URL options, TLS files, and fail-fast defaults), which it
// closes on Close. Errors wrap ErrInvalidOptions and never contain the
// URL's user or password.
func Open(rawURL string, o Options) (*Store, error) {
	client, err := NewClient(rawURL)
	if err != nil {
		return nil, err
	}
	o.CloseClient = true
	s, err := New(client, o)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return s, nil
}

// SharedBetweenProcesses reports true: every process with a client on the
// same server shares the store (see backend.Shared).
func (s *Store) SharedBetweenProcesses() bool { return true }

// Client returns the client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Close closes the client when the store owns it (Open, or
// Options.CloseClient), and otherwise does nothing.
func (s *Store) Close() error {
	if s.owned {
		return s.client.Close()
	}
	return nil
}

// Get returns the value under key, with one GET, or backend.ErrNotFound when
// the key holds nothing, a placeholder, or a string the Store did not write.
// Other errors are Redis errors, wrapped.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
	defer cancel()
	v, err := s.client.Get(ctx, key).Bytes()
	if err == nil {
		if v, ok := payload(v); ok {
			return v, nil
		}
		return nil, backend.ErrNotFound
	}
	if errors.Is(err, redis.Nil) {
		return nil, backend.ErrNotFound
	}
	return nil, fmt.Errorf("redisstore: get %q: %w", key, err)
}

// GetMulti returns the values under keys, in order, nil for the missing
// ones (as Get reports them): one MGET per BatchSize keys on a single node,
// a pipeline of GETs (one batch per node) on a Cluster. Errors are Redis
// errors, wrapped.
func (s *Store) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
	defer cancel()
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if s.single && len(keys) <= s.batch {
		vals, err := s.client.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: mget of %d keys: %w", len(keys), err)
		}
		return out, fill(out, vals)
	}
	var (
		mgets []*redis.SliceCmd
		gets  []*redis.StringCmd
	)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if s.single {
			for lo := 0; lo < len(keys); lo += s.batch {
				mgets = append(mgets, p.MGet(ctx, keys[lo:min(lo+s.batch, len(keys))]...))
			}
			return nil
		}
		gets = make([]*redis.StringCmd, len(keys))
		for i, k := range keys {
			gets[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: get of %d keys: %w", len(keys), err)
	}
	for i, c := range mgets {
		if err := fill(out[i*s.batch:], c.Val()); err != nil {
			return nil, err
		}
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

// fill copies MGET results into out: a string with a value's header is a
// value, anything else a miss.
func fill(out [][]byte, vals []any) error {
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
		case string:
			v, ok := payload(v)
			if !ok {
				continue
			}
			b := make([]byte, len(v)) // never nil, even when empty
			copy(b, v)
			out[i] = b
		default:
			return fmt.Errorf("redisstore: unexpected MGET reply %T", v)
		}
	}
	return nil
}

// pxTTL is the expiration go-redis sends for ttl: zero for none, and at
// least a millisecond (Redis's unit) for any positive ttl.
func pxTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return max(ttl, time.Millisecond)
}

// Set stores value, behind a header with a new version, under key with SET
// PX ttl (no expiry when ttl is zero). A negative ttl, a value that expires
// at once, deletes the key instead. Errors are Redis errors, wrapped.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
	defer cancel()
	var err error
	if ttl < 0 {
		err = s.client.Del(ctx, key).Err()
	} else {
		err = s.client.Set(ctx, key, withHeader(value), pxTTL(ttl)).Err()
	}
	if err != nil {
		return fmt.Errorf("redisstore: set %q: %w", key, err)
	}
	return nil
}

// SetMulti stores every item in one pipeline of SETs (one batch per node on
// a Cluster). Errors are Redis errors, wrapped; on an error some items may be
// stored and others not.
func (s *Store) SetMulti(ctx context.Context, items []backend.Item) error {
	ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
	defer cancel()
	switch len(items) {
	case 0:
		return nil
	case 1:
		return s.Set(ctx, items[0].Key, items[0].Value, items[0].TTL)
	}
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		queueSets(ctx, p, items)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: set of %d keys: %w", len(items), err)
	}
	return nil
}

// queueSets queues a SET of each item, or a DEL for a negative TTL.
func queueSets(ctx context.Context, p redis.Pipeliner, items []backend.Item) {
	for _, it := range items {
		if it.TTL < 0 {
			p.Del(ctx, it.Key)
			continue
		}
		p.Set(ctx, it.Key, withHeader(it.Value), pxTTL(it.TTL))
	}
}

// Delete removes key. Errors are Redis errors, wrapped.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
	defer cancel()
	if err := s.client.Del(ctx, key).Err(); err != nil {
		return fmt.Errorf("redisstore: delete %q: %w", key, err)
	}
	return nil
}

// DeleteMulti removes every key: one DEL per BatchSize keys on a single
// node, a pipeline of DELs (one batch per node) on a Cluster. Errors are
// Redis errors, wrapped.
func (s *Store) DeleteMulti(ctx context.Context, keys []string) error {
	ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
	defer cancel()
	if len(keys) == 0 {
		return nil
	}
	if s.single && len(keys) <= s.batch {
		if err := s.client.Del(ctx, keys...).Err(); err != nil {
			return fmt.Errorf("redisstore: delete %d keys: %w", len(keys), err)
		}
		return nil
	}
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		queueDels(ctx, p, s.single, s.batch, keys)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: delete %d keys: %w", len(keys), err)
	}
	return nil
}

func queueDels(ctx context.Context, p redis.Pipeliner, single bool, batch int, keys []string) {
	if single {
		for lo := 0; lo < len(keys); lo += batch {
			p.Del(ctx, keys[lo:min(lo+batch, len(keys))]...)
		}
		return
	}
	for _, k := range keys {
		p.Del(ctx, k)
	}
}

// SetMultiGrouped stores every item and records members (members[i] names
// items[i]) in the redisreg set group, whose records expire after groupTTL
// (zero: never), in one round trip. group is a key returned by
// redisreg.Registry.Group; members are the keys the registry reports.
//
// On a single node the SETs and the record go in one MULTI/EXEC transaction:
// all or nothing, and atomic with respect to a concurrent
// redisreg.Registry.ForgetAll.
//
// On a Cluster the values and the set live in different hash slots, usually
// on different nodes, so no transaction can span them: the pipeline sends
// one batch per node, in parallel, still one round trip. A value stored
// without its record would escape invalidation by function, so when any part
// fails, SetMultiGrouped deletes the items' keys (a miss is always safe) and
// returns the error; only if that delete fails too can an unrecorded value
// remain, and then both errors are returned.
//
// Errors are Redis errors, wrapped.
func (s *Store) SetMultiGrouped(ctx context.Context, items []backend.Item, group string, members []string, groupTTL time.Duration) error {
	ctx, cancel := redisdeadline.Bound(ctx, s.timeout)
	defer cancel()
	if len(items) != len(members) {
		return fmt.Errorf("redisstore: %d items with %d members", len(items), len(members))
	}
	if len(items) == 0 {
		return nil
	}
	exec := s.client.Pipelined
	if s.single {
		exec = s.client.TxPipelined
	}
	_, err := exec(ctx, func(p redis.Pipeliner) error {
		queueSets(ctx, p, items)
		redisgroup.QueueRecord(ctx, p, group, groupTTL, members...)
		return nil
	})
	if err == nil {
		return nil
	}
	err = fmt.Errorf("redisstore: set of %d keys recorded in %q: %w", len(items), group, err)
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	if derr := s.DeleteMulti(context.WithoutCancel(ctx), keys); derr != nil {
		return errors.Join(err, fmt.Errorf("redisstore: values may remain unrecorded: %w", derr))
	}
	return err
}
