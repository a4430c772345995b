package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
)

// RunOptions adjust what [RunWith] checks.
type RunOptions struct {
	// SkipTTL skips the subtests that wait for a short hard TTL to pass:
	// TTL, and the Expiry subtests of the conditional and lease contracts.
	SkipTTL bool
	// TTL is the short hard TTL of those subtests, and the placeholder TTL
	// of the conditional ones; zero means 2s. Backends with whole-second
	// expiry (memcached) need at least 2s, so that a value is still present
	// when read right after it was written.
	TTL time.Duration
	// Sleep, when set, replaces time.Sleep in those subtests, so that a
	// backend built on an injected clock can pass a function that advances
	// it. The suite counts the time it waited by the durations it passed.
	Sleep func(d time.Duration)
}

// Run runs the conformance suite as subtests of t, with default
// [RunOptions]. newBackend is called once per subtest and must return a
// ready backend; it registers its own clean-up with t.Cleanup.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	t.Helper()
	RunWith(t, RunOptions{}, newBackend)
}

// RunWith runs the conformance suite as subtests of t, adjusted by opts. See
// [Run].
func RunWith(t *testing.T, opts RunOptions, newBackend func(t *testing.T) backend.Backend) {
	t.Helper()
	if opts.TTL <= 0 {
		opts.TTL = 2 * time.Second
	}
	if opts.Sleep == nil {
		opts.Sleep = time.Sleep
	}
	prefix := fmt.Sprintf("backendtest:%016x:", rand.Uint64())

	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"GetMissing", testGetMissing},
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"BinaryValue", testBinaryValue},
		{"EmptyValue", testEmptyValue},
		{"SetCopiesValue", testSetCopiesValue},
		{"GetResultIsOwned", testGetResultIsOwned},
		{"GetMulti", testGetMulti},
		{"SetMulti", testSetMulti},
		{"Delete", testDelete},
		{"DeleteMulti", testDeleteMulti},
		{"TTL", testTTL},
		{"NegativeTTL", testNegativeTTL},
		{"Keys", testKeys},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "TTL" && opts.SkipTTL {
				t.Skip("SkipTTL is set")
			}
			b := newBackend(t)
			if b == nil {
				t.Fatal("newBackend returned nil")
			}
			tc.fn(t, &suite{b: b, opts: opts, prefix: prefix + tc.name + ":"})
		})
	}
	t.Run("Conditional", func(t *testing.T) {
		runConditional(t, opts, prefix+"Conditional:", newBackend)
	})
	t.Run("ConditionalValueStore", func(t *testing.T) {
		runConditionalValueStore(t, opts, prefix+"ConditionalValueStore:", newBackend)
	})
	t.Run("Leaser", func(t *testing.T) {
		runLeaser(t, opts, prefix+"Leaser:", newBackend)
	})
}

// suite is the state of one subtest.
type suite struct {
	b      backend.Backend
	opts   RunOptions
	prefix string
}

// key returns a key unique to this run and subtest, and deletes it when the
// subtest ends.
func (s *suite) key(t *testing.T, name string) string {
	t.Helper()
	k := s.prefix + name
	t.Cleanup(func() {
		// The backend may already be closed by its own clean-up; a
		// failure here only leaves a key behind.
		_ = s.b.Delete(context.Background(), k)
	})
	return k
}

func (s *suite) set(t *testing.T, k string, v []byte, ttl time.Duration) {
	t.Helper()
	if err := s.b.Set(t.Context(), k, v, ttl); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
}

// mustGet fails t unless key holds want.
func (s *suite) mustGet(t *testing.T, k string, want []byte) {
	t.Helper()
	got, err := s.b.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get(%q): %v, want %q", k, err, want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %q, want %q", k, got, want)
	}
}

// mustMiss fails t unless key is absent.
func (s *suite) mustMiss(t *testing.T, k string) {
	t.Helper()
	got, err := s.b.Get(t.Context(), k)
	if !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want backend.ErrNotFound", k, got, err)
	}
	if got != nil {
		t.Fatalf("Get(%q) returned value %q with ErrNotFound, want nil", k, got)
	}
}

func testGetMissing(t *testing.T, s *suite) {
	s.mustMiss(t, s.key(t, "missing"))
}

func testRoundTrip(t *testing.T, s *suite) {
	k := s.key(t, "k")
	s.set(t, k, []byte("hello"), 0)
	s.mustGet(t, k, []byte("hello"))
	// Reads do not consume the value.
	s.mustGet(t, k, []byte("hello"))
}

func testOverwrite(t *testing.T, s *suite) {
	k := s.key(t, "k")
	s.set(t, k, []byte("first value, longer"), 0)
	s.set(t, k, []byte("second"), 0)
	s.mustGet(t, k, []byte("second"))
}

func testBinaryValue(t *testing.T, s *suite) {
	v := make([]byte, 0, 3*256)
	for i := range 256 {
		v = append(v, byte(i), 0, '\n')
	}
	tests := []struct {
		name  string
		value []byte
	}{
		{"NUL", []byte{0}},
		{"NULs", []byte("a\x00b\x00\x00c")},
		{"CRLF", []byte("END\r\nVALUE x 0 1\r\n")},
		{"AllBytes", v},
		{"Large", bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 100_000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := s.key(t, tc.name)
			s.set(t, k, tc.value, 0)
			s.mustGet(t, k, tc.value)
		})
	}
}

func testEmptyValue(t *testing.T, s *suite) {
	for _, v := range [][]byte{{}, nil} {
		name := "Empty"
		if v == nil {
			name = "Nil"
		}
		t.Run(name, func(t *testing.T) {
			k := s.key(t, "k")
			s.set(t, k, v, 0)
			got, err := s.b.Get(t.Context(), k)
			if err != nil {
				t.Fatalf("Get of an empty value: %v, want no error", err)
			}
			if len(got) != 0 {
				t.Fatalf("Get of an empty value = %q, want empty", got)
			}
			vs, err := s.b.GetMulti(t.Context(), []string{k})
			if err != nil {
				t.Fatalf("GetMulti: %v", err)
			}
			if len(vs) != 1 || vs[0] == nil || len(vs[0]) != 0 {
				t.Fatalf("GetMulti of an empty value = %#v, want one non-nil empty value", vs)
			}
		})
	}
}

func testSetCopiesValue(t *testing.T, s *suite) {
	k := s.key(t, "k")
	buf := []byte("original")
	s.set(t, k, buf, 0)
	copy(buf, "XXXXXXXX")
	s.mustGet(t, k, []byte("original"))

	k2 := s.key(t, "multi")
	buf = []byte("original")
	if err := s.b.SetMulti(t.Context(), []backend.Item{{Key: k2, Value: buf}}); err != nil {
		t.Fatalf("SetMulti: %v", err)
	}
	copy(buf, "XXXXXXXX")
	s.mustGet(t, k2, []byte("original"))
}

func testGetResultIsOwned(t *testing.T, s *suite) {
	k := s.key(t, "k")
	s.set(t, k, []byte("original"), 0)
	got, err := s.b.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	copy(got, "XXXXXXXX")
	s.mustGet(t, k, []byte("original"))

	vs, err := s.b.GetMulti(t.Context(), []string{k})
	if err != nil || len(vs) != 1 {
		t.Fatalf("GetMulti = %q, %v", vs, err)
	}
	copy(vs[0], "YYYYYYYY")
	s.mustGet(t, k, []byte("original"))
}

func testGetMulti(t *testing.T, s *suite) {
	a, b, c := s.key(t, "a"), s.key(t, "b"), s.key(t, "c")
	missing := s.key(t, "missing")
	s.set(t, a, []byte("A"), 0)
	s.set(t, b, []byte("B"), 0)
	s.set(t, c, []byte("C"), 0)

	tests := []struct {
		name string
		keys []string
		want [][]byte
	}{
		{"None", []string{}, [][]byte{}},
		{"Order", []string{c, a, b}, [][]byte{[]byte("C"), []byte("A"), []byte("B")}},
		{"Missing", []string{missing, b, missing}, [][]byte{nil, []byte("B"), nil}},
		{"AllMissing", []string{missing}, [][]byte{nil}},
		{"Duplicates", []string{a, b, a}, [][]byte{[]byte("A"), []byte("B"), []byte("A")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.b.GetMulti(t.Context(), tc.keys)
			if err != nil {
				t.Fatalf("GetMulti: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("GetMulti returned %d values for %d keys", len(got), len(tc.keys))
			}
			for i := range got {
				if (got[i] == nil) != (tc.want[i] == nil) || !bytes.Equal(got[i], tc.want[i]) {
					t.Errorf("GetMulti value %d = %q (nil %t), want %q (nil %t)",
						i, got[i], got[i] == nil, tc.want[i], tc.want[i] == nil)
				}
			}
		})
	}
}

func testSetMulti(t *testing.T, s *suite) {
	if err := s.b.SetMulti(t.Context(), nil); err != nil {
		t.Fatalf("SetMulti of no items: %v", err)
	}
	items := make([]backend.Item, 50)
	for i := range items {
		items[i] = backend.Item{
			Key:   s.key(t, fmt.Sprintf("k%d", i)),
			Value: fmt.Appendf(nil, "value %d\x00", i),
		}
	}
	items[7].Value = []byte{}
	if err := s.b.SetMulti(t.Context(), items); err != nil {
		t.Fatalf("SetMulti: %v", err)
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
		s.mustGet(t, it.Key, it.Value)
	}
	got, err := s.b.GetMulti(t.Context(), keys)
	if err != nil {
		t.Fatalf("GetMulti: %v", err)
	}
	for i, it := range items {
		if got[i] == nil || !bytes.Equal(got[i], it.Value) {
			t.Errorf("GetMulti value %d = %q, want %q", i, got[i], it.Value)
		}
	}
}

func testDelete(t *testing.T, s *suite) {
	k, other := s.key(t, "k"), s.key(t, "other")
	s.set(t, k, []byte("v"), 0)
	s.set(t, other, []byte("o"), 0)
	if err := s.b.Delete(t.Context(), k); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	s.mustMiss(t, k)
	s.mustGet(t, other, []byte("o"))
	if err := s.b.Delete(t.Context(), k); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
	// A deleted key can be written again.
	s.set(t, k, []byte("again"), 0)
	s.mustGet(t, k, []byte("again"))
}

func testDeleteMulti(t *testing.T, s *suite) {
	a, b, keep, missing := s.key(t, "a"), s.key(t, "b"), s.key(t, "keep"), s.key(t, "missing")
	s.set(t, a, []byte("A"), 0)
	s.set(t, b, []byte("B"), 0)
	s.set(t, keep, []byte("K"), 0)
	if err := s.b.DeleteMulti(t.Context(), []string{a, missing, b}); err != nil {
		t.Fatalf("DeleteMulti: %v", err)
	}
	s.mustMiss(t, a)
	s.mustMiss(t, b)
	s.mustGet(t, keep, []byte("K"))
	if err := s.b.DeleteMulti(t.Context(), []string{a, missing}); err != nil {
		t.Fatalf("DeleteMulti of missing keys: %v, want nil", err)
	}
	if err := s.b.DeleteMulti(t.Context(), nil); err != nil {
		t.Fatalf("DeleteMulti of no keys: %v, want nil", err)
	}
}

func testTTL(t *testing.T, s *suite) {
	ttl := s.opts.TTL
	short, shortMulti := s.key(t, "short"), s.key(t, "shortMulti")
	forever, long := s.key(t, "forever"), s.key(t, "long")
	s.set(t, short, []byte("s"), ttl)
	s.set(t, forever, []byte("f"), 0)
	err := s.b.SetMulti(t.Context(), []backend.Item{
		{Key: shortMulti, Value: []byte("sm"), TTL: ttl},
		{Key: long, Value: []byte("l"), TTL: time.Hour},
	})
	if err != nil {
		t.Fatalf("SetMulti: %v", err)
	}
	s.mustGet(t, short, []byte("s"))
	s.mustGet(t, shortMulti, []byte("sm"))

	// Wait until both short values are gone, bounded by the TTL plus a
	// grace for servers that expire on whole seconds.
	const step = 100 * time.Millisecond
	limit := ttl + 2*time.Second
	var waited time.Duration
	for {
		vs, err := s.b.GetMulti(t.Context(), []string{short, shortMulti})
		if err != nil {
			t.Fatalf("GetMulti: %v", err)
		}
		if vs[0] == nil && vs[1] == nil {
			break
		}
		if waited >= limit {
			t.Fatalf("values with TTL %v still present after %v: %q", ttl, waited, vs)
		}
		s.opts.Sleep(step)
		waited += step
	}
	s.mustMiss(t, short)
	s.mustMiss(t, shortMulti)
	s.mustGet(t, forever, []byte("f"))
	s.mustGet(t, long, []byte("l"))

	// An expired key can be written again.
	s.set(t, short, []byte("again"), 0)
	s.mustGet(t, short, []byte("again"))
}

// testNegativeTTL: a value written with a negative TTL expires at once, and
// takes the place of the key's old value.
func testNegativeTTL(t *testing.T, s *suite) {
	k, multi := s.key(t, "k"), s.key(t, "multi")
	s.set(t, k, []byte("old"), 0)
	s.set(t, multi, []byte("old"), 0)
	s.set(t, k, []byte("new"), -time.Second)
	if err := s.b.SetMulti(t.Context(), []backend.Item{{Key: multi, Value: []byte("new"), TTL: -1}}); err != nil {
		t.Fatalf("SetMulti: %v", err)
	}
	s.mustMiss(t, k)
	s.mustMiss(t, multi)
}

func testKeys(t *testing.T, s *suite) {
	tests := []struct {
		name string
		key  string // appended to the suite's prefix; "" for a 200-byte key
	}{
		{"Long200", ""},
		{"Long300", strings.Repeat("0123456789", 30)},
		{"Spaces", "a key with spaces"},
		{"ControlBytes", "tab\there\r\nnewline\x00nul"},
		{"Unicode", "ключ-鍵-🔑-end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.key
			if name == "" {
				name = strings.Repeat("k", 200-len(s.prefix))
			}
			k := s.key(t, name)
			if tc.name == "Long200" && len(k) != 200 {
				t.Fatalf("test key is %d bytes, want 200", len(k))
			}
			s.set(t, k, []byte(tc.name), 0)
			s.mustGet(t, k, []byte(tc.name))
			got, err := s.b.GetMulti(t.Context(), []string{k})
			if err != nil || len(got) != 1 || !bytes.Equal(got[0], []byte(tc.name)) {
				t.Fatalf("GetMulti = %q, %v; want %q", got, err, tc.name)
			}
			// Keys are compared exactly: a longer key, or one that is a
			// prefix of k, is another key.
			s.mustMiss(t, s.key(t, name+"#"))
			s.mustMiss(t, s.key(t, name[:len(name)-1]))
			if err := s.b.Delete(t.Context(), k); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			s.mustMiss(t, k)
		})
	}
}

func testConcurrent(t *testing.T, s *suite) {
	const (
		goroutines = 8
		rounds     = 200
	)
	shared := s.key(t, "shared")
	own := make([]string, goroutines)
	for g := range own {
		own[g] = s.key(t, fmt.Sprintf("own%d", g))
	}
	valueOf := func(g, i int) []byte { return fmt.Appendf(nil, "g%d-i%d", g, i) }

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			ctx := context.Background()
			for i := range rounds {
				v := valueOf(g, i)
				if err := s.b.Set(ctx, own[g], v, 0); err != nil {
					errs <- fmt.Errorf("goroutine %d: Set: %w", g, err)
					return
				}
				got, err := s.b.Get(ctx, own[g])
				if err != nil || !bytes.Equal(got, v) {
					errs <- fmt.Errorf("goroutine %d: Get(own) = %q, %v; want %q", g, got, err, v)
					return
				}
				if err := s.b.Set(ctx, shared, v, 0); err != nil {
					errs <- fmt.Errorf("goroutine %d: Set(shared): %w", g, err)
					return
				}
				got, err = s.b.Get(ctx, shared)
				if err != nil || !bytes.HasPrefix(got, []byte("g")) || !bytes.Contains(got, []byte("-i")) {
					errs <- fmt.Errorf("goroutine %d: Get(shared) = %q, %v; want some goroutine's value", g, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for g := range goroutines {
		s.mustGet(t, own[g], valueOf(g, rounds-1))
	}
}
