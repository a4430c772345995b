package memcachestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/mcmeta"
)

// The conditional writes and the value half of a lease on the meta
// protocol (a Store on a Pool). A key's Version is the CAS value of its
// item, as on the text protocol; what changes is how a lease gets a new
// one:
//
//   - a missing key: `mg <key> N<ttl> c v f` vivifies it — memcached
//     creates an empty item (the placeholder) with a new CAS value, and
//     answers W to the caller that created it. One round trip.
//   - a value: `ms <key> 0 MA C<cas> c`, an append of nothing if the CAS
//     value is still the one read, makes a new item of the same bytes,
//     client flags and TTL (kept by the server, to the second) under a new
//     CAS value, which the `c` flag returns. A second round trip.
//   - a placeholder (an empty item, ours or vivified by another reader):
//     `ms <key> 0 C<cas> T<ttl> c` replaces it with a new one.
//
// An append or a replacement that finds the CAS value changed (EX) or the
// item gone (NF, NS) means a write came in between: the key is read again
// (vivifying it if it is gone), at most maxLeaseAttempts writes per key;
// a key overtaken every time gets the CAS value it last read, a version
// that no longer matches, as if the other write had come just after.
//
// Placeholders are empty items with client flags 0 (what vivification
// makes), or the header-only items with PlaceholderFlags the text
// protocol's leases make: readers report both missing, and both kinds of
// lease replace both.

// metaLease is the lease of one distinct key on the meta protocol.
type metaLease struct {
	key string // mangled
	// read is the item last read; its Status is zero when a read is due.
	read mcmeta.Reply
	// write is the request that takes the lease over read, when one is due.
	write  *mcmeta.Request
	writes int // writes sent
	// value is what the lease keeps: the payload of a value, nil for a
	// placeholder.
	value []byte
	// dead is a CAS value the key held and no longer does: the version of
	// a lease that was overtaken.
	dead    uint64
	version uint64
	done    bool
}

// leaseRead is the read that starts a lease of key: vivified into a
// placeholder of expiration phExp if missing.
func leaseRead(key string, phExp int32) mcmeta.Request {
	return mcmeta.Request{Cmd: mcmeta.Get, Key: key, Flags: mcmeta.Flags(nil).Int('N', int64(phExp)).Flag('c').Flag('v').Flag('f')}
}

// settleRead decides, from the item l last read, whether the read took
// the lease (it vivified the key), or which write will.
func (l *metaLease) settleRead(phExp int32) error {
	r := &l.read
	switch r.Status {
	case mcmeta.VA:
	case mcmeta.EN:
		// Gone between the vivification and the read: read again.
		l.read = mcmeta.Reply{}
		return nil
	case mcmeta.ServerError:
		return fmt.Errorf("memcachestore: lease %q: server error: %s", l.key, r.Message)
	default:
		return fmt.Errorf("memcachestore: lease %q: unexpected reply %s to mg", l.key, r.Status)
	}
	if r.CAS == 0 {
		return fmt.Errorf("memcachestore: lease %q: %w", l.key, ErrNoCAS)
	}
	if vivified(r) {
		l.value, l.version, l.done = nil, r.CAS, true
		return nil
	}
	flags := mcmeta.Flags(nil).Uint('C', r.CAS)
	if payload, ok := payloadOf(r.ClientFlags, r.Value); ok {
		l.value = payload
		flags = flags.Token('M', "A")
	} else {
		l.value = nil
		flags = flags.Int('T', int64(phExp))
	}
	l.write = &mcmeta.Request{Cmd: mcmeta.Set, Key: l.key, Flags: flags.Flag('c')}
	return nil
}

// vivified reports whether the read r created the item it returns: W
// (this caller won), not for a stale item (X), and the empty item
// vivification makes.
func vivified(r *mcmeta.Reply) bool {
	return r.Win && !r.Stale && len(r.Value) == 0 && r.ClientFlags == 0
}

// settleWrite takes the reply to l's write.
func (l *metaLease) settleWrite(r *mcmeta.Reply) error {
	l.write = nil
	l.writes++
	switch r.Status {
	case mcmeta.HD:
		if r.CAS == 0 {
			return fmt.Errorf("memcachestore: lease %q: %w", l.key, ErrNoCAS)
		}
		l.version, l.done = r.CAS, true
		return nil
	case mcmeta.EX, mcmeta.NF, mcmeta.NS:
		// Written, deleted or expired since it was read.
		l.dead = l.read.CAS
		l.read = mcmeta.Reply{}
		return nil
	case mcmeta.ServerError:
		return fmt.Errorf("memcachestore: lease %q: server error: %s", l.key, r.Message)
	}
	return fmt.Errorf("memcachestore: lease %q: unexpected reply %s to ms", l.key, r.Status)
}

// leaseMeta takes a new lease on each of leases, whose first read may
// already be done (l.read set), in as few round trips as it can: one when
// every key was missing and read with leaseRead, two when some held
// something.
func (s *Store) leaseMeta(ctx context.Context, leases []*metaLease, phExp int32) error {
	var reqs []mcmeta.Request
	var replies []mcmeta.Reply
	var batch []*metaLease
	for range 2*maxLeaseAttempts + 1 {
		// Reads due.
		reqs, batch = reqs[:0], batch[:0]
		for _, l := range leases {
			if !l.done && l.read.Status == 0 {
				reqs = append(reqs, leaseRead(l.key, phExp))
				batch = append(batch, l)
			}
		}
		if len(reqs) > 0 {
			replies = grow(replies, len(reqs))
			if err := s.do(ctx, "lease", reqs, replies); err != nil {
				return err
			}
			for i, l := range batch {
				l.read = replies[i]
			}
		}
		// Writes due.
		reqs, batch = reqs[:0], batch[:0]
		pending := false
		for _, l := range leases {
			if l.done || l.read.Status == 0 {
				pending = pending || !l.done
				continue
			}
			if err := l.settleRead(phExp); err != nil {
				return err
			}
			switch {
			case l.done:
			case l.write != nil:
				reqs = append(reqs, *l.write)
				batch = append(batch, l)
			default:
				pending = true
			}
		}
		if len(reqs) > 0 {
			replies = grow(replies, len(reqs))
			if err := s.do(ctx, "lease", reqs, replies); err != nil {
				return err
			}
			for i, l := range batch {
				if err := l.settleWrite(&replies[i]); err != nil {
					return err
				}
				if !l.done && l.writes == maxLeaseAttempts {
					// Overtaken in every round: a lease void at once.
					l.version, l.done = l.dead, true
				}
				pending = pending || !l.done
			}
		}
		if !pending {
			return nil
		}
	}
	return errors.New("memcachestore: lease: keys keep vanishing between their vivification and their read")
}

// grow returns a slice of n zero replies, reusing rs.
func grow(rs []mcmeta.Reply, n int) []mcmeta.Reply {
	if cap(rs) < n {
		return make([]mcmeta.Reply, n)
	}
	rs = rs[:n]
	clear(rs)
	return rs
}

// do sends reqs on the meta protocol, translating its errors.
func (s *Store) do(ctx context.Context, op string, reqs []mcmeta.Request, replies []mcmeta.Reply) error {
	err := s.meta.Do(ctx, reqs, replies)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mcmeta.ErrTooOld):
		return fmt.Errorf("memcachestore: %s: %w: %w", op, ErrServerTooOld, err)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return err
	}
	return fmt.Errorf("memcachestore: %s: %w", op, err)
}

// getForUpdateMeta is GetForUpdate on the meta protocol: one vivifying
// read of every distinct key, then one write (in one pipeline per server)
// for the keys that held something.
func (s *Store) getForUpdateMeta(ctx context.Context, keys []string, placeholderTTL time.Duration) ([][]byte, []backend.Version, error) {
	values := make([][]byte, len(keys))
	versions := make([]backend.Version, len(keys))
	mangled, unique := mangleAll(keys)
	leases := make([]*metaLease, len(unique))
	byKey := make(map[string]*metaLease, len(unique))
	for i, m := range unique {
		leases[i] = &metaLease{key: m}
		byKey[m] = leases[i]
	}
	if err := s.leaseMeta(ctx, leases, s.placeholderExp(placeholderTTL)); err != nil {
		return nil, nil, err
	}
	leased := make(map[string][]byte, len(leases))
	for i, m := range mangled {
		l := byKey[m]
		versions[i] = s.version(m, l.version)
		if l.value != nil {
			leased[m] = l.value
		}
	}
	fillFrom(values, mangled, leased)
	return values, versions, nil
}

// placeholderExp is the expiration of a placeholder that must outlive ttl:
// memcached may drop an item of N seconds after N-1.
func (s *Store) placeholderExp(ttl time.Duration) int32 {
	return Expiration(ttl+time.Second, s.opts.Now())
}

// storeRequest is the conditional write of items[i] on the meta protocol:
// `ms <key> <header+value> C<version> T<exp>`, or an error wrapping
// ErrTooLarge.
// ok is false, with no error, for a version handed out by another server
// than the one the key maps to now: nothing is to be sent.
func (s *Store) storeRequest(it backend.Item, version backend.Version) (req mcmeta.Request, ok bool, err error) {
	item, err := s.item(it.Key, it.Value, it.TTL)
	if err != nil {
		return mcmeta.Request{}, false, err
	}
	cas, ok := s.casOf(item.Key, version)
	if !ok {
		return mcmeta.Request{}, false, nil
	}
	flags := mcmeta.Flags(nil).Uint('C', cas).Int('T', int64(item.Expiration))
	return mcmeta.Request{Cmd: mcmeta.Set, Key: item.Key, Value: item.Value, Flags: flags}, true, nil
}

// storeOutcome reads the reply to a storeRequest of value under key: true
// for stored, false for a key changed or gone since its version, or an
// error.
func storeOutcome(key string, value []byte, r *mcmeta.Reply) (bool, error) {
	switch r.Status {
	case mcmeta.HD:
		return true, nil
	case mcmeta.EX, mcmeta.NF, mcmeta.NS:
		return false, nil
	case mcmeta.ServerError:
		if strings.Contains(r.Message, "too large") {
			return false, fmt.Errorf("memcachestore: value of %d bytes exceeds the item limit: %w: %s", len(value), ErrTooLarge, r.Message)
		}
		return false, fmt.Errorf("memcachestore: store %q: server error: %s", key, r.Message)
	case 0:
		return false, nil // not answered: the call's error says why
	}
	return false, fmt.Errorf("memcachestore: store %q: unexpected reply %s", key, r.Status)
}

// setIfMeta is SetIf on the meta protocol: one `ms … C<version>` per item,
// in one pipeline per server.
func (s *Store) setIfMeta(ctx context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	stored := make([]bool, len(items))
	reqs := make([]mcmeta.Request, 0, len(items))
	sent := make([]int, 0, len(items))
	var first error
	for i, it := range items {
		if versions[i] == 0 {
			continue
		}
		req, ok, err := s.storeRequest(it, versions[i])
		if err != nil {
			first = cmp(first, err)
		}
		if ok {
			reqs = append(reqs, req)
			sent = append(sent, i)
		}
	}
	if len(reqs) == 0 {
		return stored, first
	}
	replies := make([]mcmeta.Reply, len(reqs))
	err := s.do(ctx, "conditional set", reqs, replies)
	for j, i := range sent {
		ok, rerr := storeOutcome(items[i].Key, items[i].Value, &replies[j])
		stored[i] = ok
		if rerr != nil {
			first = cmp(first, rerr)
		}
	}
	if err != nil {
		return stored, err
	}
	return stored, first
}
