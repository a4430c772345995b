package history_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/internal/history"
)

// Hand-written histories use times in milliseconds; process 0 unless said.

func ms(t int64) int64 { return t * int64(time.Millisecond) }

func read(key string, start, end, v int64) history.Op {
	return history.Op{Kind: history.Read, Key: key, Start: ms(start), End: ms(end), Version: v, Via: "call", Outcome: "hit"}
}

func dbWrite(key string, start, end, v int64) history.Op {
	return history.Op{Kind: history.DBWrite, Key: key, Start: ms(start), End: ms(end), Version: v}
}

func inval(kind history.Kind, key string, start, end int64) history.Op {
	return history.Op{Kind: kind, Key: key, Start: ms(start), End: ms(end)}
}

func set(key string, start, end, v int64) history.Op {
	return history.Op{Kind: history.Set, Key: key, Start: ms(start), End: ms(end), Version: v}
}

func create(key string, start, end, v int64) history.Op {
	return history.Op{Kind: history.Create, Key: key, Start: ms(start), End: ms(end), Version: v}
}

// in moves op to process p.
func in(p int, op history.Op) history.Op { op.Proc = p; return op }

// failed marks op as failed.
func failed(op history.Op) history.Op { op.Err = "boom"; return op }

func TestCheck(t *testing.T) {
	lagged := history.Options{RemoteLag: map[history.Kind]time.Duration{history.Hard: 100 * time.Millisecond}}
	for _, tc := range []struct {
		name string
		ops  []history.Op
		opts history.Options
		// want lists, per violation in read order, the missed operation's
		// kind and the version it promised; nil: the history passes.
		want []string
	}{
		{name: "empty"},
		{
			name: "reads before any write see version 0",
			ops:  []history.Op{read("k", 0, 1, 0), read("k", 2, 3, 0)},
		},
		{
			name: "a read after a write and its invalidation sees it",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Invalidate, "k", 1, 2),
				read("k", 3, 4, 1),
			},
		},
		{
			name: "a read overlapping the invalidation may return the old version",
			ops: []history.Op{
				read("k", 0, 1, 0),
				dbWrite("k", 1, 2, 1), inval(history.Invalidate, "k", 2, 5),
				read("k", 4, 6, 0),
			},
		},
		{
			name: "cache-aside: between the db write and its invalidation the old version is fine",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), read("k", 2, 3, 0), inval(history.Invalidate, "k", 4, 5),
			},
		},
		{
			name: "a failed invalidation promises nothing",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), failed(inval(history.Invalidate, "k", 1, 2)),
				read("k", 3, 4, 0),
			},
		},
		{
			name: "a failed read is not judged",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Invalidate, "k", 1, 2),
				failed(read("k", 3, 4, 0)),
			},
		},
		{
			name: "soft invalidation promises nothing",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Soft, "", 1, 2),
				read("k", 3, 4, 0),
			},
		},
		{
			name: "an invalidation of another key promises nothing",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Invalidate, "j", 1, 2),
				read("k", 3, 4, 0),
			},
		},
		{
			name: "InvalidateAll covers its prefix only",
			ops: []history.Op{
				dbWrite("g/1", 0, 1, 1), inval(history.InvalidateAll, "f/", 1, 2),
				read("g/1", 3, 4, 0),
			},
		},
		{
			name: "a tag covers the keys it tags only",
			ops: []history.Op{
				dbWrite("g/2", 0, 1, 1), inval(history.Tag, history.TagOf("g/1"), 1, 2),
				read("g/2", 3, 4, 0),
			},
		},
		{
			name: "a newer version than promised is fine",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), set("k", 1, 2, 1),
				dbWrite("k", 3, 4, 2), read("k", 5, 6, 2),
			},
		},
		{
			name: "another process may miss a hard invalidation within the lag",
			opts: lagged,
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Hard, "", 1, 2),
				in(1, read("k", 50, 51, 0)),
			},
		},
		{
			name: "the lag is per kind",
			opts: lagged,
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Invalidate, "k", 1, 2),
				in(1, read("k", 50, 51, 0)),
			},
			want: []string{"invalidate v1"},
		},
		{
			name: "the invalidating process gets no lag",
			opts: lagged,
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Hard, "", 1, 2),
				read("k", 50, 51, 0),
			},
			want: []string{"invalidate-hard v1"},
		},
		{
			name: "another process past the lag",
			opts: lagged,
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Hard, "", 1, 2),
				in(1, read("k", 103, 104, 0)),
			},
			want: []string{"invalidate-hard v1"},
		},
		{
			name: "stale set: a read after the write and its invalidation returns the old version",
			ops: []history.Op{
				create("k", 0, 5, 0),
				dbWrite("k", 1, 2, 1), inval(history.Invalidate, "k", 2, 3),
				read("k", 6, 7, 0),
			},
			want: []string{"invalidate v1"},
		},
		{
			name: "a read that begins as the invalidation ends follows it (program order)",
			ops: []history.Op{
				dbWrite("k", 1, 2, 1), inval(history.Invalidate, "k", 2, 5),
				read("k", 5, 6, 0),
			},
			want: []string{"invalidate v1"},
		},
		{
			name: "write-through raced by a regeneration",
			ops: []history.Op{
				dbWrite("k", 1, 2, 1), set("k", 2, 3, 1),
				read("k", 6, 7, 0),
			},
			want: []string{"set v1"},
		},
		{
			name: "InvalidateAll of the key's prefix",
			ops: []history.Op{
				dbWrite("f/1", 0, 1, 1), inval(history.InvalidateAll, "f/", 1, 2),
				read("f/1", 3, 4, 0),
			},
			want: []string{"invalidate-all v1"},
		},
		{
			name: "a tag of the key, from a write of another key sharing it",
			ops: []history.Op{
				dbWrite("f/5", 0, 1, 1), inval(history.Tag, history.TagOf("g/1"), 1, 2),
				read("f/5", 3, 4, 0),
			},
			want: []string{"invalidate-tag v1"},
		},
		{
			name: "a hard invalidation promises what the database held when it began",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), in(1, inval(history.Hard, "", 2, 3)),
				in(1, read("k", 4, 5, 0)),
			},
			want: []string{"invalidate-hard v1"},
		},
		{
			name: "a hard invalidation that began before the db write ended promises only older versions",
			ops: []history.Op{
				dbWrite("k", 0, 2, 1), in(1, inval(history.Hard, "", 1, 3)),
				in(1, read("k", 4, 5, 0)),
			},
		},
		{
			name: "each offending read once, against the newest promise",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Invalidate, "k", 1, 2),
				dbWrite("k", 3, 4, 2), inval(history.Hard, "", 4, 5),
				dbWrite("k", 6, 7, 3), inval(history.Invalidate, "k", 7, 8),
				read("k", 10, 11, 1), read("k", 9, 12, 0),
			},
			want: []string{"invalidate v3", "invalidate v3"},
		},
		{
			name: "the earliest invalidation among equal promises",
			ops: []history.Op{
				dbWrite("k", 0, 1, 1), inval(history.Invalidate, "k", 1, 2),
				inval(history.Hard, "", 3, 4),
				read("k", 10, 11, 0),
			},
			want: []string{"invalidate v1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := history.Check(tc.ops, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range tc.ops {
				if op.Failed() && !slices.Contains(res.Failed, op) {
					t.Errorf("failed operation %+v missing from Result.Failed", op)
				}
			}
			var got []string
			for _, v := range res.Violations {
				got = append(got, fmt.Sprintf("%s v%d", v.Missed.Kind, v.Write.Version))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("violations %q, want %q\n%s", got, tc.want, res.Report(10))
			}
		})
	}
}

func TestCheckMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []history.Op
	}{
		{"an operation that ends before it begins", []history.Op{read("k", 2, 1, 0)}},
		{"two db writes of one version", []history.Op{dbWrite("k", 0, 1, 1), in(1, dbWrite("k", 2, 3, 1))}},
		{"a set older than a completed db write (overlapping writes)", []history.Op{
			dbWrite("k", 0, 1, 1), dbWrite("k", 1, 2, 2), set("k", 3, 4, 1), read("k", 5, 6, 2),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := history.Check(tc.ops, history.Options{}); !errors.Is(err, history.ErrMalformed) {
				t.Fatalf("Check = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestViolationReport checks that a failure names the read, the missed
// invalidation, the write and the creator, with their times.
func TestViolationReport(t *testing.T) {
	ops := []history.Op{
		in(2, create("k", 0, 5, 0)),
		in(1, dbWrite("k", 1, 2, 1)), in(1, inval(history.Invalidate, "k", 2, 3)),
		read("k", 6, 7, 0),
	}
	res, err := history.Check(ops, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Violations) != 1 || res.Reads != 1 || res.Invalidations != 1 {
		t.Fatalf("result %+v, want 1 violation of 1 read against 1 invalidation", res)
	}
	if c := res.Violations[0].Creator; c == nil || c.Proc != 2 {
		t.Fatalf("creator %+v, want p2's", c)
	}
	report := res.Report(5)
	for _, want := range []string{
		"1 of 1 reads violate the rule",
		"1 × read (call, hit) after invalidate, other process",
		"p0/g0 read k returned v0 [6.000ms → 7.000ms] (call, hit)",
		"but v1 was promised by p1/g0's invalidate [2.000ms → 3.000ms], which ended 3ms before the read began (lag allowed: 0s)",
		"after p1/g0's db-write of v1 [1.000ms → 2.000ms]",
		"v0 was computed by p2/g0's creator [0.000ms → 5.000ms], which returned after the invalidation began",
		"served from the cache",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	ops := []history.Op{
		in(1, read("f/1", 1, 2, 3)),
		failed(dbWrite("g/0", 2, 3, 0)),
		inval(history.Hard, "", 3, 4),
	}
	var buf bytes.Buffer
	if err := history.Encode(&buf, ops); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(ops) {
		t.Fatalf("%d lines, want %d:\n%s", n, len(ops), buf.String())
	}
	got, err := history.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ops) {
		t.Fatalf("decoded %+v, want %+v", got, ops)
	}
	if _, err := history.Decode(strings.NewReader(`{"kind":"read"}` + "\n{")); err == nil {
		t.Fatal("Decode of a truncated line succeeded")
	}
}

func TestNowIsMonotonic(t *testing.T) {
	prev := history.Now()
	for range 1000 {
		now := history.Now()
		if now < prev {
			t.Fatalf("Now went back from %d to %d", prev, now)
		}
		prev = now
	}
}

// TestReportExamplesEachMissedKind checks that the examples cover every kind
// of missed operation before a second class of one kind.
func TestReportExamplesEachMissedKind(t *testing.T) {
	shared := read("k", 10, 11, 0)
	shared.Outcome = "shared"
	ops := []history.Op{
		dbWrite("k", 0, 1, 1), inval(history.Invalidate, "k", 1, 2),
		read("k", 3, 4, 0), shared,
		dbWrite("j", 0, 1, 1), inval(history.Hard, "", 2, 3),
		read("j", 5, 6, 0),
	}
	res, err := history.Check(ops, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	report := res.Report(2)
	for _, want := range []string{
		`example of "read (call, hit) after invalidate, same process"`,
		`example of "read (call, hit) after invalidate-hard, same process"`,
		"(examples of 1 more classes left out)",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}
