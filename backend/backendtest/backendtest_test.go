package backendtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/backendtest"
	"github.com/corralcache/corral/internal/fakeclock"
)

// mapBackend is a reference backend for the suite's own tests: a map behind a
// mutex, with expiry on a fake clock, and an optional flaw that the suite
// must catch.
type mapBackend struct {
	flaw string
	now  func() time.Time

	mu      sync.Mutex // protects m, entries, locks and version
	m       map[string]mapValue
	entries map[[2]string]mapValue
	locks   map[string]mapLock
	version backend.Version // of the last write
}

// mapLock is a lease's lock.
type mapLock struct {
	holder  string
	expires time.Time
}

type mapValue struct {
	v           []byte
	e           *backend.Entry
	placeholder bool
	version     backend.Version
	expires     time.Time // zero: never
}

var (
	_ backend.Backend               = (*mapBackend)(nil)
	_ backend.Conditional           = (*mapBackend)(nil)
	_ backend.ValueStore            = (*mapBackend)(nil)
	_ backend.ConditionalValueStore = (*mapBackend)(nil)
	_ backend.Leaser                = (*mapBackend)(nil)
)

func newMapBackend(flaw string, now func() time.Time) *mapBackend {
	return &mapBackend{flaw: flaw, now: now, m: map[string]mapValue{}, entries: map[[2]string]mapValue{}, locks: map[string]mapLock{}}
}

// liveLocked reports whether mv is present and has not expired.
func (b *mapBackend) liveLocked(mv mapValue, ok bool) bool {
	return ok && (b.flaw == "IgnoreTTL" || mv.expires.IsZero() || b.now().Before(mv.expires))
}

// nextLocked returns a new version.
func (b *mapBackend) nextLocked() backend.Version {
	b.version++
	return b.version
}

// expiresLocked returns the expiry of a write with ttl (not negative).
func (b *mapBackend) expiresLocked(ttl time.Duration) time.Time {
	if ttl > 0 {
		return b.now().Add(ttl)
	}
	return time.Time{}
}

func (b *mapBackend) Get(_ context.Context, key string) ([]byte, error) {
	if b.flaw == "TruncateKeys" && len(key) > 250 {
		key = key[:250]
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	mv, ok := b.m[key]
	if b.liveLocked(mv, ok) && (!mv.placeholder || b.flaw == "PlaceholderVisible") {
		if b.flaw == "AliasGet" {
			return mv.v, nil
		}
		return append([]byte{}, mv.v...), nil
	}
	if b.flaw == "MissError" {
		return nil, errors.New("not there")
	}
	return nil, backend.ErrNotFound
}

func (b *mapBackend) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := b.Get(ctx, k)
		switch {
		case err == nil:
			out[i] = v
		case b.flaw == "GetMultiEmptyForMissing":
			out[i] = []byte{}
		}
	}
	return out, nil
}

func (b *mapBackend) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if b.flaw == "TruncateKeys" && len(key) > 250 {
		key = key[:250]
	}
	if b.flaw == "DropEmpty" && len(value) == 0 {
		return nil
	}
	if b.flaw != "AliasSet" {
		value = append([]byte{}, value...)
	}
	if b.flaw == "NegativeTTLKeeps" && ttl < 0 {
		ttl = 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ttl < 0 {
		delete(b.m, key)
		return nil
	}
	mv := mapValue{v: value, version: b.nextLocked(), expires: b.expiresLocked(ttl)}
	if old, ok := b.m[key]; ok && b.flaw == "SetKeepsVersion" {
		mv.version = old.version
	}
	b.m[key] = mv
	return nil
}

func (b *mapBackend) SetMulti(ctx context.Context, items []backend.Item) error {
	for _, it := range items {
		ttl := it.TTL
		if b.flaw == "SetMultiIgnoresTTL" {
			ttl = 0
		}
		if err := b.Set(ctx, it.Key, it.Value, ttl); err != nil {
			return err
		}
	}
	return nil
}

func (b *mapBackend) Delete(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.m[key]; !ok && b.flaw == "DeleteMissingErrors" {
		return errors.New("no such key")
	}
	if mv, ok := b.m[key]; ok && b.flaw == "DeleteKeepsVersion" {
		b.m[key] = mapValue{placeholder: true, version: mv.version}
		return nil
	}
	delete(b.m, key)
	return nil
}

func (b *mapBackend) GetForUpdate(_ context.Context, keys []string, ttl time.Duration) ([][]byte, []backend.Version, error) {
	if ttl <= 0 {
		return nil, nil, fmt.Errorf("map: placeholder TTL %v: %w", ttl, backend.ErrInvalidArgument)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	values := make([][]byte, len(keys))
	versions := make([]backend.Version, len(keys))
	leased := map[string]int{}
	for i, k := range keys {
		if j, dup := leased[k]; dup && b.flaw != "DuplicateKeyLeasedTwice" {
			values[i], versions[i] = values[j], versions[j]
			continue
		}
		leased[k] = i
		mv, ok := b.m[k]
		mv = b.leaseLocked(mv, ok, ttl)
		b.m[k] = mv
		if !mv.placeholder {
			values[i] = append([]byte{}, mv.v...)
		}
		versions[i] = mv.version
	}
	return values, versions, nil
}

// leaseLocked returns what a key holding mv (ok: anything) holds after a lease with the
// placeholder TTL ttl (positive): a value under a new version, or a new
// placeholder.
func (b *mapBackend) leaseLocked(mv mapValue, ok bool, ttl time.Duration) mapValue {
	live := b.liveLocked(mv, ok)
	switch {
	case live && b.flaw == "LeaseKeepsVersion":
		return mv
	case live && mv.placeholder && b.flaw == "LeaseKeepsPlaceholder":
		return mv
	case live && mv.placeholder && b.flaw == "PlaceholderLeaseKeepsTTL":
		mv.version = b.nextLocked()
		return mv
	case live && !mv.placeholder && b.flaw != "LeaseDropsValue":
		mv.version = b.nextLocked()
		if b.flaw == "LeaseResetsTTL" {
			mv.expires = b.expiresLocked(time.Hour)
		}
		return mv
	}
	mv = mapValue{placeholder: true, version: b.nextLocked(), expires: b.expiresLocked(ttl)}
	if b.flaw == "PlaceholderNoTTL" {
		mv.expires = time.Time{}
	}
	return mv
}

func (b *mapBackend) SetIf(_ context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	if len(items) != len(versions) {
		return nil, fmt.Errorf("map: %d items, %d versions: %w", len(items), len(versions), backend.ErrInvalidArgument)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	stored := make([]bool, len(items))
	for i, it := range items {
		mv, ok := b.m[it.Key]
		match := b.liveLocked(mv, ok) && mv.version == versions[i] && versions[i] != 0
		switch b.flaw {
		case "SetIfIgnoresVersion":
			match = b.liveLocked(mv, ok)
		case "ZeroVersionMatchesMissing":
			match = match || (versions[i] == 0 && !b.liveLocked(mv, ok))
		}
		if !match {
			continue
		}
		ttl := it.TTL
		if b.flaw == "SetIfIgnoresTTL" {
			ttl = 0
		}
		stored[i] = true
		if ttl < 0 {
			delete(b.m, it.Key)
			continue
		}
		b.m[it.Key] = mapValue{v: append([]byte{}, it.Value...), version: b.nextLocked(), expires: b.expiresLocked(ttl)}
	}
	return stored, nil
}

func (b *mapBackend) KeepsValues() bool { return true }

func (b *mapBackend) LoadEntry(ns, key string) (*backend.Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mv, ok := b.entries[[2]string{ns, key}]
	if !b.liveLocked(mv, ok) || (mv.placeholder && b.flaw != "EntryPlaceholderVisible") {
		return nil, false
	}
	return mv.e, true
}

func (b *mapBackend) StoreEntry(ns, key string, e *backend.Entry, ttl time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mv := mapValue{e: e, version: b.nextLocked(), expires: b.expiresLocked(ttl)}
	if old, ok := b.entries[[2]string{ns, key}]; ok && b.flaw == "StoreEntryKeepsVersion" {
		mv.version = old.version
	}
	b.entries[[2]string{ns, key}] = mv
}

func (b *mapBackend) DeleteEntry(ns, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, [2]string{ns, key})
}

func (b *mapBackend) LoadEntryForUpdate(ns, key string, ttl time.Duration) (*backend.Entry, backend.Version) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mv, ok := b.entries[[2]string{ns, key}]
	if !b.liveLocked(mv, ok) && ttl <= 0 {
		return nil, 0
	}
	if b.flaw == "EntryLeaseKeepsVersion" && b.liveLocked(mv, ok) {
		return mv.e, mv.version
	}
	if ttl <= 0 {
		mv.version = b.nextLocked() // a placeholder keeps its expiry
	} else {
		mv = b.leaseLocked(mv, ok, ttl)
	}
	b.entries[[2]string{ns, key}] = mv
	return mv.e, mv.version
}

func (b *mapBackend) StoreEntryIf(ns, key string, e *backend.Entry, ttl time.Duration, v backend.Version) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	mv, ok := b.entries[[2]string{ns, key}]
	if !b.liveLocked(mv, ok) || mv.version != v || v == 0 {
		return false
	}
	b.entries[[2]string{ns, key}] = mapValue{e: e, version: b.nextLocked(), expires: b.expiresLocked(ttl)}
	return true
}

func (b *mapBackend) DeleteMulti(ctx context.Context, keys []string) error {
	if b.flaw == "DeleteMultiFirstOnly" && len(keys) > 0 {
		keys = keys[:1]
	}
	for _, k := range keys {
		if err := b.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (b *mapBackend) Lease(ctx context.Context, keys []backend.LeaseKey, o backend.LeaseOptions) ([]backend.Lease, [][]byte, error) {
	if o.Holder == "" || o.LockTTL <= 0 || o.PlaceholderTTL <= 0 {
		return nil, nil, fmt.Errorf("map: lease options %+v: %w", o, backend.ErrInvalidArgument)
	}
	also, _ := b.GetMulti(ctx, o.Also)
	if b.flaw == "AlsoMissingEmpty" {
		for i := range also {
			if also[i] == nil {
				also[i] = []byte{}
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	leases := make([]backend.Lease, len(keys))
	leased := map[string]int{}
	for i, k := range keys {
		if j, dup := leased[k.Key]; dup && b.flaw != "DuplicateLeasedTwice" {
			leases[i] = leases[j]
			leases[i].Value = bytes.Clone(leases[j].Value)
			continue
		}
		leased[k.Key] = i
		mv, ok := b.m[k.Key]
		live := b.liveLocked(mv, ok)
		var cur backend.Lease
		if live {
			cur.Version = mv.version
			if !mv.placeholder {
				cur.Value = append([]byte{}, mv.v...)
			}
		}
		lk, locked := b.locks[k.Lock]
		locked = locked && (b.flaw == "LockNoTTL" || b.now().Before(lk.expires)) && b.flaw != "LeaseIgnoresLock"
		changed := k.Version != 0 && cur.Version != k.Version
		switch {
		case changed && b.flaw != "PollTakesOnChange":
			cur.Status = backend.LeaseChanged
		case locked:
			cur.Status = backend.LeaseHeld
		default:
			b.locks[k.Lock] = mapLock{holder: o.Holder, expires: b.now().Add(o.LockTTL)}
			if b.flaw != "LeaseSameVersion" || !live {
				mv = b.leaseLocked(mv, ok, max(o.PlaceholderTTL, o.LockTTL))
				b.m[k.Key] = mv
			}
			cur = backend.Lease{Status: backend.LeaseTaken, Version: mv.version}
			if !mv.placeholder {
				cur.Value = append([]byte{}, mv.v...)
			}
			if changed {
				cur.Status = backend.LeaseChanged
			}
		}
		leases[i] = cur
	}
	return leases, also, nil
}

func (b *mapBackend) StoreLeased(ctx context.Context, items []backend.Item, held []backend.LeaseKey, holder string, g backend.Group) ([]bool, []bool, error) {
	stored, err := b.storeLeased(ctx, items, held, holder, g)
	return stored, make([]bool, len(held)), err
}

func (b *mapBackend) storeLeased(ctx context.Context, items []backend.Item, held []backend.LeaseKey, holder string, g backend.Group) ([]bool, error) {
	if len(held) < len(items) || holder == "" || g.Name != "" && len(g.Members) != len(items) {
		return nil, fmt.Errorf("map: store leased: %w", backend.ErrInvalidArgument)
	}
	versions := make([]backend.Version, len(items))
	for i := range items {
		versions[i] = held[i].Version
		if b.flaw == "StoreIgnoresVersion" {
			versions[i] = b.currentVersion(items[i].Key)
		}
	}
	stored, err := b.SetIf(ctx, items, versions)
	if b.flaw != "StoreKeepsLock" {
		_ = b.ReleaseLeases(ctx, held, holder)
	}
	return stored, err
}

// currentVersion is the Version key holds.
func (b *mapBackend) currentVersion(key string) backend.Version {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[key].version
}

func (b *mapBackend) ExtendLeases(_ context.Context, keys []backend.LeaseKey, holder string, ttl time.Duration) ([]bool, error) {
	if holder == "" || ttl <= 0 {
		return nil, fmt.Errorf("map: extend leases: %w", backend.ErrInvalidArgument)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ok := make([]bool, len(keys))
	for i, k := range keys {
		lk, locked := b.locks[k.Lock]
		if locked && b.now().Before(lk.expires) && (lk.holder == holder || b.flaw == "ExtendAnyHolder") {
			b.locks[k.Lock] = mapLock{holder: lk.holder, expires: b.now().Add(ttl)}
			ok[i] = true
		}
	}
	return ok, nil
}

func (b *mapBackend) ReleaseLeases(_ context.Context, keys []backend.LeaseKey, holder string) error {
	if holder == "" {
		return fmt.Errorf("map: release leases: %w", backend.ErrInvalidArgument)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		if lk, locked := b.locks[k.Lock]; locked && (lk.holder == holder || b.flaw == "ReleaseAnyHolder") {
			delete(b.locks, k.Lock)
		}
	}
	return nil
}

func runMapSuite(t *testing.T, flaw string) {
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	backendtest.RunWith(t, backendtest.RunOptions{Sleep: clk.Advance}, func(t *testing.T) backend.Backend {
		return newMapBackend(flaw, clk.Now)
	})
}

func TestSuitePassesCorrectBackend(t *testing.T) {
	runMapSuite(t, "")
}

func TestSuiteSkipTTL(t *testing.T) {
	var slept time.Duration
	backendtest.RunWith(t, backendtest.RunOptions{SkipTTL: true, Sleep: func(d time.Duration) { slept += d }},
		func(t *testing.T) backend.Backend {
			// A backend that ignores TTLs passes when the TTL subtest is skipped.
			return newMapBackend("IgnoreTTL", time.Now)
		})
	if slept != 0 {
		t.Fatalf("the suite slept %v with SkipTTL", slept)
	}
}

// TestSuiteSkipsConditional: the conditional subtests run only on backends
// that implement the conditional interfaces. The wrapped backend's flaws
// would fail them.
func TestSuiteSkipsConditional(t *testing.T) {
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	backendtest.RunWith(t, backendtest.RunOptions{Sleep: clk.Advance}, func(t *testing.T) backend.Backend {
		// Embedding hides every method but backend.Backend's.
		return struct{ backend.Backend }{newMapBackend("SetIfIgnoresVersion", clk.Now)}
	})
}

// TestHelperFlawedBackend runs the suite against a flawed backend; it runs
// only as the child process of TestSuiteCatchesFlaws.
func TestHelperFlawedBackend(t *testing.T) {
	flaw := os.Getenv("BACKENDTEST_FLAW")
	if flaw == "" {
		t.Skip("runs only as a child of TestSuiteCatchesFlaws")
	}
	runMapSuite(t, flaw)
}

func TestSuiteCatchesFlaws(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process per flaw")
	}
	tests := []struct {
		flaw        string
		failingTest string // the subtest that must report it
	}{
		{"MissError", "GetMissing"},
		{"GetMultiEmptyForMissing", "GetMulti"},
		{"IgnoreTTL", "TTL"},
		{"SetMultiIgnoresTTL", "TTL"},
		{"AliasSet", "SetCopiesValue"},
		{"AliasGet", "GetResultIsOwned"},
		{"DropEmpty", "EmptyValue"},
		{"DeleteMissingErrors", "Delete"},
		{"DeleteMultiFirstOnly", "DeleteMulti"},
		{"TruncateKeys", "Keys"},
		{"NegativeTTLKeeps", "NegativeTTL"},
		{"PlaceholderVisible", "Conditional/Placeholder"},
		{"LeaseKeepsVersion", "Conditional/Lease"},
		{"LeaseKeepsPlaceholder", "Conditional/Placeholder"},
		{"LeaseDropsValue", "Conditional/Lease"},
		{"LeaseResetsTTL", "Conditional/Expiry"},
		{"PlaceholderLeaseKeepsTTL", "Conditional/Expiry"},
		{"DuplicateKeyLeasedTwice", "Conditional/Placeholder"},
		{"SetIfIgnoresVersion", "Conditional/SetIfAfterSet"},
		{"SetKeepsVersion", "Conditional/SetIfAfterSet"},
		{"DeleteKeepsVersion", "Conditional/SetIfAfterDelete"},
		{"ZeroVersionMatchesMissing", "Conditional/ZeroVersion"},
		{"PlaceholderNoTTL", "Conditional/Expiry"},
		{"SetIfIgnoresTTL", "Conditional/Expiry"},
		{"EntryPlaceholderVisible", "ConditionalValueStore/Placeholder"},
		{"StoreEntryKeepsVersion", "ConditionalValueStore/StoreEntryIfAfterWrite"},
		{"EntryLeaseKeepsVersion", "ConditionalValueStore/Lease"},
		{"LeaseIgnoresLock", "Leaser/Held"},
		{"LeaseSameVersion", "Leaser/FenceAfterLease"},
		{"PollTakesOnChange", "Leaser/Poll"},
		{"StoreIgnoresVersion", "Leaser/FenceAfterWrite"},
		{"StoreKeepsLock", "Leaser/StoreLeased"},
		{"ReleaseAnyHolder", "Leaser/Release"},
		{"ExtendAnyHolder", "Leaser/Extend"},
		{"LockNoTTL", "Leaser/Expiry"},
		{"AlsoMissingEmpty", "Leaser/Also"},
		{"DuplicateLeasedTwice", "Leaser/DuplicateKeys"},
	}
	for _, tc := range tests {
		t.Run(tc.flaw, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperFlawedBackend$", "-test.v")
			cmd.Env = append(os.Environ(), "BACKENDTEST_FLAW="+tc.flaw)
			out, err := cmd.CombinedOutput()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("suite against flaw %s: err = %v, want a failing exit\n%s", tc.flaw, err, out)
			}
			want := "--- FAIL: TestHelperFlawedBackend/" + tc.failingTest + " "
			if !bytes.Contains(out, []byte(want)) {
				t.Fatalf("suite against flaw %s did not fail %s:\n%s", tc.flaw, tc.failingTest, lastLines(out, 40))
			}
		})
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
