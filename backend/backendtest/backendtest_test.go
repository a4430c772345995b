package backendtest_test

import (
	"bytes"
	"context"
	"errors"
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

	mu sync.Mutex // protects m
	m  map[string]mapValue
}

type mapValue struct {
	v       []byte
	expires time.Time // zero: never
}

var _ backend.Backend = (*mapBackend)(nil)

func (b *mapBackend) Get(_ context.Context, key string) ([]byte, error) {
	if b.flaw == "TruncateKeys" && len(key) > 250 {
		key = key[:250]
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	mv, ok := b.m[key]
	if ok && (b.flaw == "IgnoreTTL" || mv.expires.IsZero() || b.now().Before(mv.expires)) {
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
	mv := mapValue{v: value}
	if ttl > 0 {
		mv.expires = b.now().Add(ttl)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
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
	delete(b.m, key)
	return nil
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

func runMapSuite(t *testing.T, flaw string) {
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	backendtest.RunWith(t, backendtest.RunOptions{Sleep: clk.Advance}, func(t *testing.T) backend.Backend {
		return &mapBackend{flaw: flaw, now: clk.Now, m: map[string]mapValue{}}
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
			return &mapBackend{flaw: "IgnoreTTL", now: time.Now, m: map[string]mapValue{}}
		})
	if slept != 0 {
		t.Fatalf("the suite slept %v with SkipTTL", slept)
	}
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
