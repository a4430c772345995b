package region_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

// resum recomputes an envelope's checksum after a test altered it, so that
// only the encryption stands in the way.
func resum(env []byte) []byte {
	binary.BigEndian.PutUint32(env[2:], uint32(xxhash.Sum64(env[6:])))
	return env
}

// TestNegativeCachingEncrypted caches a "not found" on a region with a
// Keyring: the entry is sealed (header and key authenticated) and answered
// from the cache without calling the creator; the same bytes moved to
// another key, tampered with (a header bit, the negative flag cleared) or
// written unsealed by a region without the keyring are misses, whose
// creator runs.
func TestNegativeCachingEncrypted(t *testing.T) {
	mem := newMemory(t, true)
	ctx := context.Background()
	var calls atomic.Int32
	notFound := func(context.Context) (string, error) {
		calls.Add(1)
		return "", fmt.Errorf("%w: user 7", region.ErrNotFound)
	}
	found := func(context.Context) (string, error) {
		calls.Add(1)
		return "created", nil
	}

	plain := cryptRegion(t, mem, region.Config{NegativeExpiration: time.Minute})
	if _, err := region.GetOrCreate(ctx, plain, "plain", notFound); !errors.Is(err, region.ErrNotFound) {
		t.Fatalf("plain region: %v, want ErrNotFound", err)
	}
	_ = plain.Close()

	r := cryptRegion(t, mem, region.Config{Keyring: keyring(t, 1, 1), NegativeExpiration: time.Minute, Expiration: time.Hour})
	calls.Store(0)
	for i := range 2 {
		if v, err := region.GetOrCreate(ctx, r, "u7", notFound); !errors.Is(err, region.ErrNotFound) || v != "" {
			t.Fatalf("call %d: %q, %v; want ErrNotFound", i, v, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("creator called %d times, want 1 (the second call answered from the cache)", n)
	}
	if _, ok, err := region.Get[string](ctx, r, "u7"); ok || !errors.Is(err, region.ErrNotFound) {
		t.Fatalf("Get = %t, %v; want ErrNotFound", ok, err)
	}
	if s := r.Stats(); s.DecodeErrors != 0 || s.Hits != 2 {
		t.Fatalf("stats %+v, want 2 hits and no decode error", s)
	}
	info, err := r.Inspect(ctx, "u7")
	if err != nil || !info.NotFound || !info.Sealed || info.State != "fresh" {
		t.Fatalf("Inspect = %+v, %v; want a fresh, sealed, not-found entry", info, err)
	}
	raw, err := mem.Get(ctx, r.BackendKey("u7"))
	if err != nil {
		t.Fatal(err)
	}
	if env, err := serializer.InspectEnvelope(raw); err != nil || !env.Sealed || !env.Meta.Negative {
		t.Fatalf("stored envelope %+v, %v; want sealed and negative", env, err)
	}

	bad := map[string][]byte{
		"moved":      raw,
		"created":    resum(func() []byte { b := append([]byte(nil), raw...); b[10] ^= 1; return b }()),
		"flag":       resum(func() []byte { b := append([]byte(nil), raw...); b[6] &^= 0x04; return b }()),
		"unsealed":   nil, // the plain region's entry, read through the keyring
		"unsealed 2": nil,
	}
	plainRaw, err := mem.Get(ctx, r.BackendKey("plain"))
	if err != nil {
		t.Fatal(err)
	}
	bad["unsealed"], bad["unsealed 2"] = plainRaw, plainRaw
	for key, data := range bad {
		if err := mem.Set(ctx, r.BackendKey(key), data, 0); err != nil {
			t.Fatal(err)
		}
		calls.Store(0)
		if v, err := region.GetOrCreate(ctx, r, key, found); err != nil || v != "created" || calls.Load() != 1 {
			t.Errorf("%s: GetOrCreate = %q, %v after %d creator calls; want a miss, created once", key, v, err, calls.Load())
		}
	}
	if d := r.Stats().DecodeErrors; d != uint64(len(bad)) {
		t.Errorf("decode errors %d, want %d", d, len(bad))
	}
}

// TestNegativeNotRefreshedEarly checks that a cached "not found" is never
// refreshed early (XFetch): with a Rand that always draws, a fresh value
// is refreshed in the background, a fresh "not found" is not, on both
// kinds of backend.
func TestNegativeNotRefreshedEarly(t *testing.T) {
	for _, serialize := range []bool{false, true} {
		t.Run(fmt.Sprintf("serialize=%t", serialize), func(t *testing.T) {
			clk := newClock()
			r, err := region.New("xfneg", region.Config{
				Backend: newMemory(t, serialize), Clock: clk, Logger: quiet,
				Expiration: 10 * time.Second, NegativeExpiration: 10 * time.Second,
				EarlyRefresh: region.EarlyRefresh{Enabled: true, Rand: func() float64 { return 1 - 1e-12 }},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var negCalls, valCalls int
			neg := func(context.Context) (int, error) {
				negCalls++
				clk.Advance(time.Second) // δ = 1 s
				return 0, region.ErrNotFound
			}
			val := func(context.Context) (int, error) {
				valCalls++
				clk.Advance(time.Second)
				return valCalls, nil
			}
			if _, err := region.GetOrCreate(ctx, r, "neg", neg); !errors.Is(err, region.ErrNotFound) {
				t.Fatal(err)
			}
			if _, err := region.GetOrCreate(ctx, r, "val", val); err != nil {
				t.Fatal(err)
			}
			clk.Advance(5 * time.Second)
			for range 3 {
				if _, err := region.GetOrCreate(ctx, r, "neg", neg); !errors.Is(err, region.ErrNotFound) {
					t.Fatalf("cached not found: %v", err)
				}
			}
			if _, err := region.GetOrCreate(ctx, r, "val", val); err != nil {
				t.Fatal(err)
			}
			_ = r.Close() // waits for background regenerations
			if negCalls != 1 {
				t.Errorf("the not-found creator ran %d times, want 1 (no early refresh)", negCalls)
			}
			if valCalls != 2 {
				t.Errorf("the value creator ran %d times, want 2 (one early refresh): the test cannot tell", valCalls)
			}
			if s := r.Stats(); s.EarlyRefreshes != 1 {
				t.Errorf("EarlyRefreshes = %d, want 1", s.EarlyRefreshes)
			}
		})
	}
}

// TestTracedHitsKeepTypedAndNotFound checks, with a Tracer that traces
// hits, that a Typed handle still refuses a value of another type (the
// traced path must not fall back to the lenient package-level read, which
// would overwrite it), and that a cached "not found" ends its call span as
// an answer (outcome hit, no error) and is reported to ReportOutcome.
func TestTracedHitsKeepTypedAndNotFound(t *testing.T) {
	for _, serialize := range []bool{false, true} {
		t.Run(fmt.Sprintf("serialize=%t", serialize), func(t *testing.T) {
			ft := &fakeTracer{hits: true}
			r := newRegion(t, region.Config{Backend: newMemory(t, serialize), Tracer: ft, NegativeExpiration: time.Minute})
			ctx := context.Background()
			if err := r.Set(ctx, "k", "a string"); err != nil {
				t.Fatal(err)
			}
			ints := region.NewTyped[int](r)
			if _, err := ints.GetOrCreate(ctx, "k", func(context.Context) (int, error) { return 1, nil }); !errors.Is(err, region.ErrTypeMismatch) {
				t.Fatalf("Typed[int] over a string, traced: %v, want ErrTypeMismatch", err)
			}
			if v, ok, err := region.Get[string](ctx, r, "k"); !ok || err != nil || v != "a string" {
				t.Fatalf("the string was overwritten: %q, %t, %v", v, ok, err)
			}
			nf := func(context.Context) (int, error) { return 0, region.ErrNotFound }
			if _, err := region.GetOrCreate(ctx, r, "gone", nf); !errors.Is(err, region.ErrNotFound) {
				t.Fatal(err)
			}
			var o region.Outcome
			if _, err := region.GetOrCreate(ctx, r, "gone", nf, region.ReportOutcome(&o)); !errors.Is(err, region.ErrNotFound) || o != region.OutcomeHit {
				t.Fatalf("cached not found: %v, outcome %v; want ErrNotFound, hit", err, o)
			}
			if info, err := r.Inspect(ctx, "gone"); err != nil || !info.NotFound || info.State != "fresh" {
				t.Fatalf("Inspect of a cached not found = %+v, %v; want NotFound, fresh", info, err)
			}
			if info, err := r.Inspect(ctx, "k"); err != nil || info.NotFound {
				t.Fatalf("Inspect of a value = %+v, %v; want NotFound false", info, err)
			}
			ft.mu.Lock()
			last := ft.spans[len(ft.spans)-1]
			ft.mu.Unlock()
			if last.start.Kind != observe.SpanCall || !last.ended || last.outcome != region.OutcomeHit || last.err != nil {
				t.Fatalf("span of a cached not found: %+v, want a call span ended as a hit without error", *last)
			}
		})
	}
}

// TestTypedEncryptedTamperedTypeTag: on an encrypted region, an entry
// whose type tag was altered (checksum recomputed) is a miss that a Typed
// read replaces, not a value of another type that it refuses: the tag is
// believed only once the envelope is authenticated.
func TestTypedEncryptedTamperedTypeTag(t *testing.T) {
	mem := newMemory(t, true)
	ctx := context.Background()
	r := cryptRegion(t, mem, region.Config{Keyring: keyring(t, 1, 1)})
	if err := r.Set(ctx, "k", "stored"); err != nil {
		t.Fatal(err)
	}
	raw, err := mem.Get(ctx, r.BackendKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	raw[15] ^= 0x80 // the type tag (offset 15, 4 bytes)
	if err := mem.Set(ctx, r.BackendKey("k"), resum(raw), 0); err != nil {
		t.Fatal(err)
	}
	strs := region.NewTyped[string](r)
	v, err := strs.GetOrCreate(ctx, "k", func(context.Context) (string, error) { return "created", nil })
	if err != nil || v != "created" {
		t.Fatalf("Typed GetOrCreate over a tampered type tag = %q, %v; want a miss, created", v, err)
	}
	// A genuine value of another type is still refused.
	if err := r.Set(ctx, "n", 7); err != nil {
		t.Fatal(err)
	}
	if _, err := strs.GetOrCreate(ctx, "n", func(context.Context) (string, error) { return "x", nil }); !errors.Is(err, region.ErrTypeMismatch) {
		t.Fatalf("Typed[string] over an int, encrypted: %v, want ErrTypeMismatch", err)
	}
}
