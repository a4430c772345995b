package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
)

// placeholderTTL is the placeholder TTL of the subtests that do not wait for
// it to pass: long enough never to expire while a subtest runs.
const placeholderTTL = time.Minute

// condSuite is the state of one subtest of a backend.Conditional.
type condSuite struct {
	*suite
	c backend.Conditional
}

// runConditional runs the subtests of backend.Conditional, each on a new
// backend, or skips them when the backend does not implement it.
func runConditional(t *testing.T, opts RunOptions, prefix string, newBackend func(t *testing.T) backend.Backend) {
	t.Helper()
	if _, ok := backend.As[backend.Conditional](newBackend(t)); !ok {
		t.Skip("the backend does not implement backend.Conditional")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *condSuite)
	}{
		{"InvalidArguments", testCondInvalid},
		{"Placeholder", testCondPlaceholder},
		{"Lease", testCondLease},
		{"SetIfUnchanged", testCondUnchanged},
		{"SetIfAfterSet", testCondAfterSet},
		{"SetIfAfterDelete", testCondAfterDelete},
		{"SetIfAfterSetIf", testCondAfterSetIf},
		{"ZeroVersion", testCondZeroVersion},
		{"NegativeTTL", testCondNegativeTTL},
		{"Values", testCondValues},
		{"MixedOutcomes", testCondMixed},
		{"Keys", testCondKeys},
		{"Expiry", testCondExpiry},
		{"ConcurrentGetForUpdate", testCondConcurrentGet},
		{"ConcurrentLeases", testCondConcurrentLeases},
		{"ConcurrentSetIf", testCondConcurrentSetIf},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "Expiry" && opts.SkipTTL {
				t.Skip("SkipTTL is set")
			}
			b := newBackend(t)
			s := &suite{b: b, opts: opts, prefix: prefix + tc.name + ":"}
			c, _ := backend.As[backend.Conditional](b)
			tc.fn(t, &condSuite{suite: s, c: c})
		})
	}
}

// getForUpdate calls GetForUpdate with placeholderTTL and checks the shape
// of its result.
func (s *condSuite) getForUpdate(t *testing.T, keys ...string) ([][]byte, []backend.Version) {
	t.Helper()
	return s.getForUpdateTTL(t, placeholderTTL, keys...)
}

func (s *condSuite) getForUpdateTTL(t *testing.T, ttl time.Duration, keys ...string) ([][]byte, []backend.Version) {
	t.Helper()
	values, versions, err := s.c.GetForUpdate(t.Context(), keys, ttl)
	if err != nil {
		t.Fatalf("GetForUpdate(%q): %v", keys, err)
	}
	if len(values) != len(keys) || len(versions) != len(keys) {
		t.Fatalf("GetForUpdate of %d keys returned %d values and %d versions", len(keys), len(values), len(versions))
	}
	for i, v := range versions {
		if v == 0 {
			t.Fatalf("GetForUpdate(%q) handed out the zero Version for %q", keys, keys[i])
		}
	}
	return values, versions
}

// getOneForUpdate reads one key with GetForUpdate.
func (s *condSuite) getOneForUpdate(t *testing.T, k string) ([]byte, backend.Version) {
	t.Helper()
	values, versions := s.getForUpdate(t, k)
	return values[0], versions[0]
}

// setIf calls SetIf and checks that it reports want.
func (s *condSuite) setIf(t *testing.T, items []backend.Item, versions []backend.Version, want ...bool) {
	t.Helper()
	stored, err := s.c.SetIf(t.Context(), items, versions)
	if err != nil {
		t.Fatalf("SetIf: %v", err)
	}
	if len(stored) != len(items) {
		t.Fatalf("SetIf of %d items reported %d outcomes", len(items), len(stored))
	}
	for i := range stored {
		if stored[i] != want[i] {
			t.Errorf("SetIf of %q with version %d: stored %t, want %t", items[i].Key, versions[i], stored[i], want[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// setOneIf stores value under k with SetIf and checks that it reports want.
func (s *condSuite) setOneIf(t *testing.T, k string, value []byte, v backend.Version, want bool) {
	t.Helper()
	s.setIf(t, []backend.Item{{Key: k, Value: value}}, []backend.Version{v}, want)
}

// mustGetMulti fails t unless GetMulti of keys returns want, a nil want
// element meaning missing.
func (s *suite) mustGetMulti(t *testing.T, keys []string, want [][]byte) {
	t.Helper()
	got, err := s.b.GetMulti(t.Context(), keys)
	if err != nil {
		t.Fatalf("GetMulti(%q): %v", keys, err)
	}
	if len(got) != len(keys) {
		t.Fatalf("GetMulti returned %d values for %d keys", len(got), len(keys))
	}
	for i := range got {
		if (got[i] == nil) != (want[i] == nil) || !bytes.Equal(got[i], want[i]) {
			t.Errorf("GetMulti value of %q = %q (nil %t), want %q (nil %t)", keys[i], got[i], got[i] == nil, want[i], want[i] == nil)
		}
	}
}

func testCondInvalid(t *testing.T, s *condSuite) {
	k := s.key(t, "k")
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, _, err := s.c.GetForUpdate(t.Context(), []string{k}, ttl); !errors.Is(err, backend.ErrInvalidArgument) {
			t.Errorf("GetForUpdate with placeholder TTL %v: %v, want backend.ErrInvalidArgument", ttl, err)
		}
	}
	_, err := s.c.SetIf(t.Context(), []backend.Item{{Key: k, Value: []byte("v")}}, nil)
	if !errors.Is(err, backend.ErrInvalidArgument) {
		t.Errorf("SetIf of one item with no version: %v, want backend.ErrInvalidArgument", err)
	}
	s.mustMiss(t, k)
	// No keys is no work, and no error.
	if vs, vers, err := s.c.GetForUpdate(t.Context(), nil, placeholderTTL); err != nil || len(vs) != 0 || len(vers) != 0 {
		t.Errorf("GetForUpdate of no keys = %q, %v, %v", vs, vers, err)
	}
	if stored, err := s.c.SetIf(t.Context(), nil, nil); err != nil || len(stored) != 0 {
		t.Errorf("SetIf of no items = %v, %v", stored, err)
	}
}

// testCondPlaceholder: GetForUpdate of a missing key leaves a placeholder that
// no read returns, and leases a key named twice in one call once; a second
// GetForUpdate replaces the placeholder by a new one, whose version alone a
// SetIf can use.
func testCondPlaceholder(t *testing.T, s *condSuite) {
	k, present := s.key(t, "k"), s.key(t, "present")
	s.set(t, present, []byte("P"), 0)
	values, versions := s.getForUpdate(t, k, present, k)
	if values[0] != nil || values[2] != nil {
		t.Fatalf("GetForUpdate of a missing key = %q, want nil", values[0])
	}
	if !bytes.Equal(values[1], []byte("P")) {
		t.Fatalf("GetForUpdate of a present key = %q, want P", values[1])
	}
	if versions[0] != versions[2] {
		t.Fatalf("GetForUpdate of a key named twice gave versions %d and %d", versions[0], versions[2])
	}
	if versions[0] == versions[1] {
		t.Fatalf("two keys share version %d", versions[0])
	}
	s.mustMiss(t, k)
	s.mustGetMulti(t, []string{k, present}, [][]byte{nil, []byte("P")})

	again, v := s.getOneForUpdate(t, k)
	if again != nil || v == versions[0] {
		t.Fatalf("GetForUpdate of a placeholder = %q, %d; want nil and a version other than the placeholder's %d", again, v, versions[0])
	}
	s.mustMiss(t, k)
	s.setOneIf(t, k, []byte("first"), versions[0], false)
	s.mustMiss(t, k)
	s.setOneIf(t, k, []byte("second"), v, true)
	s.mustGet(t, k, []byte("second"))
}

// testCondLease is the fencing the contract promises: creator A reads a key
// for update; its lock expires and creator B reads the key for update. A's
// SetIf then fails even when it comes before B's, and B's stores. A value
// stays as it is for readers while it is leased.
func testCondLease(t *testing.T, s *condSuite) {
	for _, held := range []string{"Nothing", "Placeholder", "Value"} {
		t.Run(held, func(t *testing.T) {
			k := s.key(t, held)
			var want []byte // what readers see before a SetIf
			switch held {
			case "Placeholder":
				s.getOneForUpdate(t, k)
			case "Value":
				want = []byte("old")
				s.set(t, k, want, time.Hour)
			}
			va, a := s.getOneForUpdate(t, k)
			vb, b := s.getOneForUpdate(t, k)
			if a == b {
				t.Fatalf("two GetForUpdate of %q gave the same version %d", k, a)
			}
			for _, got := range [][]byte{va, vb} {
				if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
					t.Fatalf("GetForUpdate = %q (nil %t), want %q (nil %t)", got, got == nil, want, want == nil)
				}
			}
			if want == nil {
				s.mustMiss(t, k)
			} else {
				s.mustGet(t, k, want)
			}
			s.mustGetMulti(t, []string{k}, [][]byte{want})

			s.setOneIf(t, k, []byte("A"), a, false)
			if want == nil {
				s.mustMiss(t, k)
			} else {
				s.mustGet(t, k, want)
			}
			s.setOneIf(t, k, []byte("B"), b, true)
			s.mustGet(t, k, []byte("B"))
			s.setOneIf(t, k, []byte("A"), a, false)
			s.mustGet(t, k, []byte("B"))
		})
	}
	// Of leases taken one after another, only the last one's SetIf stores,
	// whatever the order of the SetIfs.
	t.Run("Chain", func(t *testing.T) {
		const n = 5
		k := s.key(t, "chain")
		s.set(t, k, []byte("old"), time.Hour)
		versions := make([]backend.Version, n)
		for i := range versions {
			_, versions[i] = s.getOneForUpdate(t, k)
			for j := range i {
				if versions[j] == versions[i] {
					t.Fatalf("leases %d and %d share version %d", j, i, versions[i])
				}
			}
		}
		for i, v := range versions {
			s.setOneIf(t, k, fmt.Appendf(nil, "lease%d", i), v, i == n-1)
		}
		s.mustGet(t, k, []byte(fmt.Sprintf("lease%d", n-1)))
	})
	// One GetForUpdate of several keys leases each of them.
	t.Run("Multi", func(t *testing.T) {
		k1, k2 := s.key(t, "multi1"), s.key(t, "multi2")
		s.set(t, k2, []byte("two"), time.Hour)
		_, first := s.getForUpdate(t, k1, k2)
		_, second := s.getForUpdate(t, k2)
		if second[0] == first[1] {
			t.Fatalf("a second lease on %q kept version %d", k2, second[0])
		}
		items := []backend.Item{{Key: k1, Value: []byte("a")}, {Key: k2, Value: []byte("b")}}
		s.setIf(t, items, first, true, false)
		s.mustGetMulti(t, []string{k1, k2}, [][]byte{[]byte("a"), []byte("two")})
	})
}

func testCondUnchanged(t *testing.T, s *condSuite) {
	k := s.key(t, "k")
	_, v1 := s.getOneForUpdate(t, k)
	s.setOneIf(t, k, []byte("first"), v1, true)
	s.mustGet(t, k, []byte("first"))

	got, v2 := s.getOneForUpdate(t, k)
	if !bytes.Equal(got, []byte("first")) {
		t.Fatalf("GetForUpdate after SetIf = %q, want first", got)
	}
	if v2 == v1 {
		t.Fatalf("SetIf kept the version %d of the placeholder it replaced", v1)
	}
	s.setOneIf(t, k, []byte("second"), v2, true)
	s.mustGet(t, k, []byte("second"))
	// The placeholder's version no longer names what the key holds.
	s.setOneIf(t, k, []byte("stale"), v1, false)
	s.mustGet(t, k, []byte("second"))
}

// testCondAfterSet is the stale set the contract exists for: a reader reads a
// key for update, a writer writes it, and the reader's later SetIf must fail,
// leaving the writer's value.
func testCondAfterSet(t *testing.T, s *condSuite) {
	writes := []struct {
		name  string
		write func(t *testing.T, k string, v []byte)
	}{
		{"Set", func(t *testing.T, k string, v []byte) { s.set(t, k, v, 0) }},
		{"SetMulti", func(t *testing.T, k string, v []byte) {
			if err := s.b.SetMulti(t.Context(), []backend.Item{{Key: k, Value: v}}); err != nil {
				t.Fatalf("SetMulti: %v", err)
			}
		}},
	}
	for _, w := range writes {
		for _, held := range []string{"Placeholder", "Value"} {
			t.Run(w.name+"Over"+held, func(t *testing.T) {
				k := s.key(t, held+w.name)
				if held == "Value" {
					s.set(t, k, []byte("old"), 0)
				}
				_, v := s.getOneForUpdate(t, k)
				w.write(t, k, []byte("writer"))
				s.setOneIf(t, k, []byte("reader"), v, false)
				s.mustGet(t, k, []byte("writer"))
				// The same value written again is still a new write.
				_, v = s.getOneForUpdate(t, k)
				w.write(t, k, []byte("writer"))
				s.setOneIf(t, k, []byte("reader"), v, false)
				s.mustGet(t, k, []byte("writer"))
			})
		}
	}
}

// testCondAfterDelete: an invalidation between the read and the SetIf makes
// the SetIf fail, so the key stays missing.
func testCondAfterDelete(t *testing.T, s *condSuite) {
	deletes := []struct {
		name string
		del  func(t *testing.T, k string)
	}{
		{"Delete", func(t *testing.T, k string) {
			if err := s.b.Delete(t.Context(), k); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}},
		{"DeleteMulti", func(t *testing.T, k string) {
			if err := s.b.DeleteMulti(t.Context(), []string{k}); err != nil {
				t.Fatalf("DeleteMulti: %v", err)
			}
		}},
	}
	for _, d := range deletes {
		for _, held := range []string{"Placeholder", "Value"} {
			t.Run(d.name+"Of"+held, func(t *testing.T) {
				k := s.key(t, held+d.name)
				if held == "Value" {
					s.set(t, k, []byte("old"), 0)
				}
				_, v := s.getOneForUpdate(t, k)
				d.del(t, k)
				s.setOneIf(t, k, []byte("reader"), v, false)
				s.mustMiss(t, k)
				// A new read starts afresh.
				_, v2 := s.getOneForUpdate(t, k)
				if v2 == v {
					t.Fatalf("GetForUpdate after %s returned the deleted version %d", d.name, v)
				}
				s.setOneIf(t, k, []byte("reader"), v2, true)
				s.mustGet(t, k, []byte("reader"))
			})
		}
	}
}

func testCondAfterSetIf(t *testing.T, s *condSuite) {
	k := s.key(t, "k")
	_, v := s.getOneForUpdate(t, k)
	s.setOneIf(t, k, []byte("first"), v, true)
	s.setOneIf(t, k, []byte("second"), v, false)
	s.mustGet(t, k, []byte("first"))
	// Two items of one call with the same key and version: exactly one is
	// stored, and the key holds its value.
	k2 := s.key(t, "k2")
	_, v = s.getOneForUpdate(t, k2)
	items := []backend.Item{{Key: k2, Value: []byte("a")}, {Key: k2, Value: []byte("b")}}
	stored, err := s.c.SetIf(t.Context(), items, []backend.Version{v, v})
	if err != nil || len(stored) != 2 || stored[0] == stored[1] {
		t.Fatalf("SetIf of two items with one key and version = %v, %v; want exactly one stored", stored, err)
	}
	if stored[0] {
		s.mustGet(t, k2, []byte("a"))
	} else {
		s.mustGet(t, k2, []byte("b"))
	}
}

func testCondZeroVersion(t *testing.T, s *condSuite) {
	missing, present := s.key(t, "missing"), s.key(t, "present")
	s.set(t, present, []byte("P"), 0)
	s.setIf(t, []backend.Item{{Key: missing, Value: []byte("v")}, {Key: present, Value: []byte("v")}},
		[]backend.Version{0, 0}, false, false)
	s.mustMiss(t, missing)
	s.mustGet(t, present, []byte("P"))
	// A version of another key does not match.
	_, v := s.getOneForUpdate(t, present)
	s.setOneIf(t, missing, []byte("v"), v, false)
	s.mustMiss(t, missing)
}

// testCondNegativeTTL: SetIf of a value with a negative TTL, which expires
// at once, stores it (the key's old value is gone) when the version matches.
func testCondNegativeTTL(t *testing.T, s *condSuite) {
	k, changed := s.key(t, "k"), s.key(t, "changed")
	s.set(t, k, []byte("old"), 0)
	_, versions := s.getForUpdate(t, k, changed)
	s.set(t, changed, []byte("writer"), 0)
	items := []backend.Item{{Key: k, Value: []byte("new"), TTL: -1}, {Key: changed, Value: []byte("new"), TTL: -1}}
	s.setIf(t, items, versions, true, false)
	s.mustMiss(t, k)
	s.mustGet(t, changed, []byte("writer"))
}

// testCondValues: binary and empty values round-trip through SetIf, Get,
// GetMulti and GetForUpdate.
func testCondValues(t *testing.T, s *condSuite) {
	all := make([]byte, 0, 2*256)
	for i := range 256 {
		all = append(all, byte(i), 0)
	}
	tests := []struct {
		name  string
		value []byte
	}{
		{"Empty", []byte{}},
		{"Nil", nil},
		{"NUL", []byte{0}},
		{"HeaderLike", []byte("\xf5\x00\x00\x00\x00\x00\x00\x00\x01\xf6\x00\x00\x00\x00\x00\x00\x00\x02")},
		{"CRLF", []byte("END\r\nVALUE x 0 1\r\n")},
		{"AllBytes", all},
		{"Large", bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 100_000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := s.key(t, tc.name)
			_, v := s.getOneForUpdate(t, k)
			s.setOneIf(t, k, tc.value, v, true)
			want := tc.value
			if want == nil {
				want = []byte{}
			}
			s.mustGet(t, k, want)
			s.mustGetMulti(t, []string{k}, [][]byte{want})
			got, _ := s.getOneForUpdate(t, k)
			if got == nil || !bytes.Equal(got, want) {
				t.Fatalf("GetForUpdate = %q (nil %t), want %q", got, got == nil, want)
			}
		})
	}
}

// testCondMixed: one SetIf of many keys stores those unchanged since their
// read and only those.
func testCondMixed(t *testing.T, s *condSuite) {
	const n = 12
	keys := make([]string, n)
	for i := range keys {
		keys[i] = s.key(t, fmt.Sprintf("k%d", i))
		if i%2 == 1 {
			s.set(t, keys[i], fmt.Appendf(nil, "old%d", i), 0)
		}
	}
	values, versions := s.getForUpdate(t, keys...)
	items := make([]backend.Item, n)
	want := make([]bool, n)
	final := make([][]byte, n)
	for i, k := range keys {
		if i%2 == 1 && !bytes.Equal(values[i], fmt.Appendf(nil, "old%d", i)) {
			t.Fatalf("GetForUpdate value of %q = %q", k, values[i])
		}
		items[i] = backend.Item{Key: k, Value: fmt.Appendf(nil, "new%d", i)}
		switch i % 3 {
		case 0: // unchanged
			want[i], final[i] = true, items[i].Value
		case 1: // written
			s.set(t, k, []byte("writer"), 0)
			final[i] = []byte("writer")
		case 2: // deleted
			if err := s.b.Delete(t.Context(), k); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.setIf(t, items, versions, want...)
	s.mustGetMulti(t, keys, final)
}

// testCondKeys: keys the backend must encode (long, with spaces or control
// bytes, not UTF-8) work with the conditional methods.
func testCondKeys(t *testing.T, s *condSuite) {
	for _, name := range []string{
		strings.Repeat("0123456789", 30),
		"a key with spaces",
		"tab\there\r\nnewline\x00nul",
		"\xff\xfe not UTF-8",
	} {
		k := s.key(t, name)
		_, v := s.getOneForUpdate(t, k)
		s.setOneIf(t, k, []byte(name), v, true)
		s.mustGet(t, k, []byte(name))
		s.mustMiss(t, s.key(t, name+"#"))
		got, v2 := s.getOneForUpdate(t, k)
		if !bytes.Equal(got, []byte(name)) {
			t.Fatalf("GetForUpdate(%q) = %q", k, got)
		}
		s.setOneIf(t, k, []byte("stale"), v, false)
		s.setOneIf(t, k, []byte("again"), v2, true)
		s.mustGet(t, k, []byte("again"))
	}
}

// expiryWaits are the least and the most time the Expiry subtests wait for
// items of TTL ttl to be gone: the TTL plus a grace for servers that expire
// on whole seconds, and keep placeholders a second longer than asked.
func expiryWaits(ttl time.Duration) (least, most time.Duration) {
	return ttl + 2*time.Second, ttl + 4*time.Second
}

// testCondExpiry: a placeholder expires after its TTL, and a SetIf with its
// version then fails; a value stored by SetIf expires after its item's TTL;
// a lease keeps a value's TTL, and gives a placeholder it replaces the new
// placeholder TTL.
func testCondExpiry(t *testing.T, s *condSuite) {
	ttl := s.opts.TTL
	ph, short, leased, renewed := s.key(t, "placeholder"), s.key(t, "short"), s.key(t, "leased"), s.key(t, "renewed")
	_, vs := s.getForUpdateTTL(t, ttl, ph, short, renewed)
	s.setIf(t, []backend.Item{{Key: short, Value: []byte("s"), TTL: ttl}}, vs[1:2], true)
	s.mustGet(t, short, []byte("s"))
	s.set(t, leased, []byte("l"), ttl)
	if got, _ := s.getOneForUpdate(t, leased); !bytes.Equal(got, []byte("l")) {
		t.Fatalf("GetForUpdate of a value with a TTL = %q, want l", got)
	}
	_, lv := s.getOneForUpdate(t, leased) // the live lease
	s.mustGet(t, leased, []byte("l"))
	_, rv := s.getOneForUpdate(t, renewed) // a placeholder of placeholderTTL

	// Wait until the short value and the leased one are gone, and long
	// enough for the placeholder of ttl to be gone too.
	const step = 100 * time.Millisecond
	least, most := expiryWaits(ttl)
	var waited time.Duration
	for {
		_, errShort := s.b.Get(t.Context(), short)
		_, errLeased := s.b.Get(t.Context(), leased)
		gone := errors.Is(errShort, backend.ErrNotFound) && errors.Is(errLeased, backend.ErrNotFound)
		if gone && waited >= least {
			break
		}
		if waited >= most {
			t.Fatalf("after %v with TTL %v: short value %v, leased value %v (a lease must keep a value's TTL)", waited, ttl, errShort, errLeased)
		}
		s.opts.Sleep(step)
		waited += step
	}
	s.setOneIf(t, ph, []byte("late"), vs[0], false)
	s.mustMiss(t, ph)
	s.setOneIf(t, leased, []byte("late"), lv, false)
	s.mustMiss(t, leased)
	// The placeholder the second lease made lives for its own TTL.
	s.setOneIf(t, renewed, []byte("renewed"), rv, true)
	s.mustGet(t, renewed, []byte("renewed"))
	_, v := s.getOneForUpdate(t, ph)
	s.setOneIf(t, ph, []byte("on time"), v, true)
	s.mustGet(t, ph, []byte("on time"))
}

// testCondConcurrentGet: readers of one key at once all get a value (nil for
// a missing key, the value for a present one) and no error.
func testCondConcurrentGet(t *testing.T, s *condSuite) {
	const readers = 50
	for _, held := range []string{"Nothing", "Value"} {
		t.Run(held, func(t *testing.T) {
			k := s.key(t, held)
			var want []byte
			if held == "Value" {
				want = []byte("v")
				s.set(t, k, want, time.Hour)
			}
			errs := make([]error, readers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range readers {
				wg.Go(func() {
					<-start
					values, vs, err := s.c.GetForUpdate(context.Background(), []string{k}, placeholderTTL)
					switch {
					case err != nil:
						errs[i] = err
					case len(vs) != 1 || len(values) != 1 || vs[0] == 0 || !bytes.Equal(values[0], want) || (values[0] == nil) != (want == nil):
						errs[i] = fmt.Errorf("GetForUpdate = %q, %v; want %q", values, vs, want)
					}
				})
			}
			close(start)
			waitGroup(t, &wg)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("reader %d: %v", i, err)
				}
			}
			if want == nil {
				s.mustMiss(t, k)
			} else {
				s.mustGet(t, k, want)
			}
		})
	}
}

// testCondConcurrentLeases: of goroutines that each read a key for update
// and then SetIf it, exactly one stores: the one whose lease was taken
// last. With the leases serialised (by a mutex, in a known order), it must
// be the last of that order; with the leases at once, exactly one stores.
func testCondConcurrentLeases(t *testing.T, s *condSuite) {
	const goroutines = 30
	for _, serial := range []bool{false, true} {
		for _, held := range []string{"Nothing", "Placeholder", "Value"} {
			name := held
			if serial {
				name = "Serialised" + held
			}
			t.Run(name, func(t *testing.T) {
				k := s.key(t, name)
				switch held {
				case "Placeholder":
					s.getOneForUpdate(t, k)
				case "Value":
					s.set(t, k, []byte("old"), time.Hour)
				}
				var (
					mu    sync.Mutex // serialises the leases when serial is set
					order []int      // the goroutines in the order of their leases
				)
				versions := make([]backend.Version, goroutines)
				stored := make([]bool, goroutines)
				errs := make([]error, goroutines)
				start, leased := make(chan struct{}), make(chan struct{})
				var reads, wg sync.WaitGroup
				reads.Add(goroutines)
				for i := range goroutines {
					wg.Go(func() {
						<-start
						if serial {
							mu.Lock()
						}
						_, vs, err := s.c.GetForUpdate(context.Background(), []string{k}, placeholderTTL)
						if serial {
							order = append(order, i)
							mu.Unlock()
						}
						reads.Done()
						if err != nil || len(vs) != 1 {
							errs[i] = fmt.Errorf("GetForUpdate = %v, %v", vs, err)
							return
						}
						versions[i] = vs[0]
						<-leased // every lease is taken before any SetIf
						item := backend.Item{Key: k, Value: fmt.Appendf(nil, "g%d", i)}
						st, err := s.c.SetIf(context.Background(), []backend.Item{item}, vs)
						if err != nil || len(st) != 1 {
							errs[i] = fmt.Errorf("SetIf = %v, %v", st, err)
							return
						}
						stored[i] = st[0]
					})
				}
				close(start)
				reads.Wait()
				close(leased)
				waitGroup(t, &wg)
				winner := -1
				for i := range goroutines {
					if errs[i] != nil {
						t.Fatalf("goroutine %d: %v", i, errs[i])
					}
					if !stored[i] {
						continue
					}
					if winner >= 0 {
						t.Fatalf("goroutines %d and %d both stored, with versions %d and %d", winner, i, versions[winner], versions[i])
					}
					winner = i
				}
				if winner < 0 {
					t.Fatal("no goroutine stored: the last lease must")
				}
				if serial && winner != order[goroutines-1] {
					t.Fatalf("goroutine %d stored, but goroutine %d took the last lease", winner, order[goroutines-1])
				}
				s.mustGet(t, k, fmt.Appendf(nil, "g%d", winner))
			})
		}
	}
}

// testCondConcurrentSetIf: of many writers with one version, exactly one
// stores its value.
func testCondConcurrentSetIf(t *testing.T, s *condSuite) {
	const (
		writers = 50
		rounds  = 4
	)
	k := s.key(t, "k")
	for round := range rounds {
		if round == 2 {
			s.set(t, k, []byte("plain"), 0) // rounds start from a value as well as a placeholder
		}
		_, v := s.getOneForUpdate(t, k)
		stored := make([]bool, writers)
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				<-start
				item := backend.Item{Key: k, Value: fmt.Appendf(nil, "round%d-writer%d", round, i)}
				st, err := s.c.SetIf(context.Background(), []backend.Item{item}, []backend.Version{v})
				switch {
				case err != nil:
					errs[i] = err
				case len(st) != 1:
					errs[i] = fmt.Errorf("SetIf of one item reported %v", st)
				default:
					stored[i] = st[0]
				}
			})
		}
		close(start)
		waitGroup(t, &wg)
		winner := -1
		for i := range writers {
			if errs[i] != nil {
				t.Fatalf("round %d, writer %d: %v", round, i, errs[i])
			}
			if !stored[i] {
				continue
			}
			if winner >= 0 {
				t.Fatalf("round %d: writers %d and %d both stored with version %d", round, winner, i, v)
			}
			winner = i
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer stored with version %d", round, v)
		}
		s.mustGet(t, k, fmt.Appendf(nil, "round%d-writer%d", round, winner))
	}
}

// waitGroup waits for wg, failing t if that takes a minute: a hang guard.
func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("goroutines still running after a minute")
	}
}

// conditionalValueStore is what the subtests of ConditionalValueStore use.
type conditionalValueStore interface {
	backend.ValueStore
	backend.ConditionalValueStore
}

// entrySuite is the state of one subtest of a backend.ConditionalValueStore.
type entrySuite struct {
	vs   conditionalValueStore
	opts RunOptions
	// ns is the namespace of the subtest's keys.
	ns string
}

// runConditionalValueStore runs the subtests of
// backend.ConditionalValueStore, each on a new backend, or skips them when
// the backend does not implement it and backend.ValueStore.
func runConditionalValueStore(t *testing.T, opts RunOptions, prefix string, newBackend func(t *testing.T) backend.Backend) {
	t.Helper()
	if _, ok := backend.As[conditionalValueStore](newBackend(t)); !ok {
		t.Skip("the backend does not implement backend.ValueStore and backend.ConditionalValueStore")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *entrySuite)
	}{
		{"Placeholder", testEntryPlaceholder},
		{"Lease", testEntryLease},
		{"StoreEntryIfUnchanged", testEntryUnchanged},
		{"StoreEntryIfAfterWrite", testEntryAfterWrite},
		{"StoreEntryIfAfterDeleteEntry", testEntryAfterDelete},
		{"ZeroVersion", testEntryZeroVersion},
		{"Expiry", testEntryExpiry},
		{"Concurrent", testEntryConcurrent},
		{"ConcurrentLeases", testEntryConcurrentLeases},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "Expiry" && opts.SkipTTL {
				t.Skip("SkipTTL is set")
			}
			vs, _ := backend.As[conditionalValueStore](newBackend(t))
			tc.fn(t, &entrySuite{vs: vs, opts: opts, ns: prefix + tc.name + ":"})
		})
	}
}

// key returns a key of the subtest's namespace, and deletes its entry when
// the subtest ends.
func (s *entrySuite) key(t *testing.T, name string) string {
	t.Helper()
	t.Cleanup(func() { s.vs.DeleteEntry(s.ns, name) })
	return name
}

// loadForUpdate calls LoadEntryForUpdate with placeholderTTL, and checks
// that the version is not zero.
func (s *entrySuite) loadForUpdate(t *testing.T, k string) (*backend.Entry, backend.Version) {
	t.Helper()
	e, v := s.vs.LoadEntryForUpdate(s.ns, k, placeholderTTL)
	if v == 0 {
		t.Fatalf("LoadEntryForUpdate(%q) handed out the zero Version", k)
	}
	return e, v
}

// storeIf calls StoreEntryIf and checks that it reports want.
func (s *entrySuite) storeIf(t *testing.T, k string, e *backend.Entry, v backend.Version, want bool) {
	t.Helper()
	if got := s.vs.StoreEntryIf(s.ns, k, e, 0, v); got != want {
		t.Fatalf("StoreEntryIf(%q, version %d) = %t, want %t", k, v, got, want)
	}
}

// mustLoad fails t unless (ns, k) holds e itself, or nothing when e is nil.
func (s *entrySuite) mustLoad(t *testing.T, k string, e *backend.Entry) {
	t.Helper()
	got, ok := s.vs.LoadEntry(s.ns, k)
	if got != e || ok != (e != nil) {
		t.Fatalf("LoadEntry(%q) = %v, %t; want %v", k, got, ok, e)
	}
}

// testEntryPlaceholder: LoadEntryForUpdate of a missing key leaves a
// placeholder that LoadEntry does not return; a second LoadEntryForUpdate
// replaces it by a new one, whose version alone StoreEntryIf can use.
func testEntryPlaceholder(t *testing.T, s *entrySuite) {
	k, present := s.key(t, "k"), s.key(t, "present")
	p := &backend.Entry{Value: "P"}
	s.vs.StoreEntry(s.ns, present, p, 0)
	e, v := s.loadForUpdate(t, k)
	if e != nil {
		t.Fatalf("LoadEntryForUpdate of a missing key = %v, want nil", e)
	}
	s.mustLoad(t, k, nil)
	e, v2 := s.loadForUpdate(t, k)
	if e != nil || v2 == v {
		t.Fatalf("LoadEntryForUpdate of a placeholder = %v, %d; want nil and a version other than the placeholder's %d", e, v2, v)
	}
	s.mustLoad(t, k, nil)
	e, pv := s.loadForUpdate(t, present)
	if e != p || pv == v || pv == v2 {
		t.Fatalf("LoadEntryForUpdate of a present key = %v, %d; want %v and a version of its own", e, pv, p)
	}
	s.storeIf(t, k, &backend.Entry{Value: "first"}, v, false)
	s.mustLoad(t, k, nil)
	second := &backend.Entry{Value: "second"}
	s.storeIf(t, k, second, v2, true)
	s.mustLoad(t, k, second)
}

// testEntryLease is testCondLease on a ValueStore: of two leases, only the
// later one's StoreEntryIf stores, even when the earlier one's comes first,
// and a leased entry stays as it is for LoadEntry.
func testEntryLease(t *testing.T, s *entrySuite) {
	for _, held := range []string{"Nothing", "Placeholder", "Entry"} {
		t.Run(held, func(t *testing.T) {
			k := s.key(t, held)
			var want *backend.Entry
			switch held {
			case "Placeholder":
				s.loadForUpdate(t, k)
			case "Entry":
				want = &backend.Entry{Value: "old"}
				s.vs.StoreEntry(s.ns, k, want, time.Hour)
			}
			ea, a := s.loadForUpdate(t, k)
			eb, b := s.loadForUpdate(t, k)
			if a == b {
				t.Fatalf("two LoadEntryForUpdate of %q gave the same version %d", k, a)
			}
			if ea != want || eb != want {
				t.Fatalf("LoadEntryForUpdate = %v and %v, want %v", ea, eb, want)
			}
			s.mustLoad(t, k, want)
			s.storeIf(t, k, &backend.Entry{Value: "A"}, a, false)
			s.mustLoad(t, k, want)
			eB := &backend.Entry{Value: "B"}
			s.storeIf(t, k, eB, b, true)
			s.mustLoad(t, k, eB)
			s.storeIf(t, k, &backend.Entry{Value: "A"}, a, false)
			s.mustLoad(t, k, eB)
		})
	}
}

func testEntryUnchanged(t *testing.T, s *entrySuite) {
	k := s.key(t, "k")
	first, second := &backend.Entry{Value: 1}, &backend.Entry{Value: 2}
	_, v1 := s.loadForUpdate(t, k)
	s.storeIf(t, k, first, v1, true)
	s.mustLoad(t, k, first)
	e, v2 := s.loadForUpdate(t, k)
	if e != first || v2 == v1 {
		t.Fatalf("LoadEntryForUpdate after StoreEntryIf = %v, %d; want %v and a version not %d", e, v2, first, v1)
	}
	s.storeIf(t, k, second, v1, false)
	s.storeIf(t, k, second, v2, true)
	s.mustLoad(t, k, second)
}

// testEntryAfterWrite is the stale set on a ValueStore: a write between the
// read and StoreEntryIf wins.
func testEntryAfterWrite(t *testing.T, s *entrySuite) {
	for _, held := range []string{"Placeholder", "Entry"} {
		for _, write := range []string{"StoreEntry", "StoreEntryIf"} {
			t.Run(write+"Over"+held, func(t *testing.T) {
				k := s.key(t, write+held)
				if held == "Entry" {
					s.vs.StoreEntry(s.ns, k, &backend.Entry{Value: "old"}, 0)
				}
				_, v := s.loadForUpdate(t, k)
				writer := &backend.Entry{Value: "writer"}
				if write == "StoreEntry" {
					s.vs.StoreEntry(s.ns, k, writer, 0)
				} else {
					s.storeIf(t, k, writer, v, true)
				}
				s.storeIf(t, k, &backend.Entry{Value: "reader"}, v, false)
				s.mustLoad(t, k, writer)
			})
		}
	}
}

func testEntryAfterDelete(t *testing.T, s *entrySuite) {
	for _, held := range []string{"Placeholder", "Entry"} {
		t.Run(held, func(t *testing.T) {
			k := s.key(t, held)
			if held == "Entry" {
				s.vs.StoreEntry(s.ns, k, &backend.Entry{Value: "old"}, 0)
			}
			_, v := s.loadForUpdate(t, k)
			s.vs.DeleteEntry(s.ns, k)
			s.storeIf(t, k, &backend.Entry{Value: "reader"}, v, false)
			s.mustLoad(t, k, nil)
			if _, v2 := s.loadForUpdate(t, k); v2 == v {
				t.Fatalf("LoadEntryForUpdate after DeleteEntry returned the deleted version %d", v)
			}
		})
	}
}

func testEntryZeroVersion(t *testing.T, s *entrySuite) {
	k, present := s.key(t, "k"), s.key(t, "present")
	p := &backend.Entry{Value: "P"}
	s.vs.StoreEntry(s.ns, present, p, 0)
	s.storeIf(t, k, &backend.Entry{}, 0, false)
	s.storeIf(t, present, &backend.Entry{}, 0, false)
	s.mustLoad(t, k, nil)
	s.mustLoad(t, present, p)
	// A placeholder TTL that is not positive makes no placeholder.
	for range 2 {
		if e, v := s.vs.LoadEntryForUpdate(s.ns, k, 0); e != nil || v != 0 {
			t.Fatalf("LoadEntryForUpdate of a missing key with TTL 0 = %v, %d; want nil, 0", e, v)
		}
	}
	if e, v := s.vs.LoadEntryForUpdate(s.ns, present, 0); e != p || v == 0 {
		t.Fatalf("LoadEntryForUpdate of a present key with TTL 0 = %v, %d; want %v and its version", e, v, p)
	}
}

// testEntryExpiry: a placeholder expires after its TTL, and StoreEntryIf
// with its version then fails; an entry expires after its TTL, leased or
// not; a lease gives a placeholder it replaces the new placeholder TTL.
func testEntryExpiry(t *testing.T, s *entrySuite) {
	ttl := s.opts.TTL
	ph, short, leased, renewed := s.key(t, "placeholder"), s.key(t, "short"), s.key(t, "leased"), s.key(t, "renewed")
	_, v := s.vs.LoadEntryForUpdate(s.ns, ph, ttl)
	_, sv := s.vs.LoadEntryForUpdate(s.ns, short, ttl)
	if !s.vs.StoreEntryIf(s.ns, short, &backend.Entry{Value: "s"}, ttl, sv) {
		t.Fatal("StoreEntryIf over a fresh placeholder = false")
	}
	l := &backend.Entry{Value: "l"}
	s.vs.StoreEntry(s.ns, leased, l, ttl)
	if e, _ := s.loadForUpdate(t, leased); e != l {
		t.Fatalf("LoadEntryForUpdate of an entry with a TTL = %v, want %v", e, l)
	}
	_, lv := s.loadForUpdate(t, leased)
	s.vs.LoadEntryForUpdate(s.ns, renewed, ttl)
	_, rv := s.loadForUpdate(t, renewed) // a placeholder of placeholderTTL

	const step = 100 * time.Millisecond
	least, most := expiryWaits(ttl)
	var waited time.Duration
	for {
		_, shortHere := s.vs.LoadEntry(s.ns, short)
		_, leasedHere := s.vs.LoadEntry(s.ns, leased)
		if !shortHere && !leasedHere && waited >= least {
			break
		}
		if waited >= most {
			t.Fatalf("after %v with TTL %v: short entry present %t, leased entry present %t (a lease must keep an entry's TTL)", waited, ttl, shortHere, leasedHere)
		}
		s.opts.Sleep(step)
		waited += step
	}
	s.storeIf(t, ph, &backend.Entry{Value: "late"}, v, false)
	s.mustLoad(t, ph, nil)
	s.storeIf(t, leased, &backend.Entry{Value: "late"}, lv, false)
	s.mustLoad(t, leased, nil)
	r := &backend.Entry{Value: "renewed"}
	s.storeIf(t, renewed, r, rv, true)
	s.mustLoad(t, renewed, r)
	_, v2 := s.loadForUpdate(t, ph)
	onTime := &backend.Entry{Value: "on time"}
	s.storeIf(t, ph, onTime, v2, true)
	s.mustLoad(t, ph, onTime)
}

// testEntryConcurrent: of many writers with one version, exactly one
// stores its entry.
func testEntryConcurrent(t *testing.T, s *entrySuite) {
	const goroutines = 50
	k := s.key(t, "k")
	_, v := s.loadForUpdate(t, k)
	stored := make([]bool, goroutines)
	entries := make([]*backend.Entry, goroutines)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range goroutines {
		entries[i] = &backend.Entry{Value: i}
		wg.Go(func() {
			<-start
			stored[i] = s.vs.StoreEntryIf(s.ns, k, entries[i], 0, v)
		})
	}
	close(start)
	waitGroup(t, &wg)
	winner := -1
	for i, ok := range stored {
		if !ok {
			continue
		}
		if winner >= 0 {
			t.Fatalf("writers %d and %d both stored with version %d", winner, i, v)
		}
		winner = i
	}
	if winner < 0 {
		t.Fatalf("no writer stored with version %d", v)
	}
	s.mustLoad(t, k, entries[winner])
}

// testEntryConcurrentLeases is testCondConcurrentLeases on a ValueStore.
func testEntryConcurrentLeases(t *testing.T, s *entrySuite) {
	const goroutines = 50
	for _, serial := range []bool{false, true} {
		for _, held := range []string{"Nothing", "Placeholder", "Entry"} {
			name := held
			if serial {
				name = "Serialised" + held
			}
			t.Run(name, func(t *testing.T) {
				k := s.key(t, name)
				switch held {
				case "Placeholder":
					s.loadForUpdate(t, k)
				case "Entry":
					s.vs.StoreEntry(s.ns, k, &backend.Entry{Value: "old"}, time.Hour)
				}
				var (
					mu    sync.Mutex // serialises the leases when serial is set
					order []int      // the goroutines in the order of their leases
				)
				versions := make([]backend.Version, goroutines)
				stored := make([]bool, goroutines)
				entries := make([]*backend.Entry, goroutines)
				start, leased := make(chan struct{}), make(chan struct{})
				var reads, wg sync.WaitGroup
				reads.Add(goroutines)
				for i := range goroutines {
					entries[i] = &backend.Entry{Value: i}
					wg.Go(func() {
						<-start
						if serial {
							mu.Lock()
						}
						_, versions[i] = s.vs.LoadEntryForUpdate(s.ns, k, placeholderTTL)
						if serial {
							order = append(order, i)
							mu.Unlock()
						}
						reads.Done()
						<-leased
						stored[i] = s.vs.StoreEntryIf(s.ns, k, entries[i], 0, versions[i])
					})
				}
				close(start)
				reads.Wait()
				close(leased)
				waitGroup(t, &wg)
				winner := -1
				for i, ok := range stored {
					if versions[i] == 0 {
						t.Fatalf("goroutine %d got the zero version", i)
					}
					if !ok {
						continue
					}
					if winner >= 0 {
						t.Fatalf("goroutines %d and %d both stored, with versions %d and %d", winner, i, versions[winner], versions[i])
					}
					winner = i
				}
				if winner < 0 {
					t.Fatal("no goroutine stored: the last lease must")
				}
				if serial && winner != order[goroutines-1] {
					t.Fatalf("goroutine %d stored, but goroutine %d took the last lease", winner, order[goroutines-1])
				}
				s.mustLoad(t, k, entries[winner])
			})
		}
	}
}
