package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/keyreg"
)

// TestArgKeys checks that each JSON argument derives the same key as the Go
// value a program passes to a cached function: the registry entry the
// command invalidates is the one the program recorded.
func TestArgKeys(t *testing.T) {
	for _, tc := range []struct {
		json string
		go_  any
	}{
		{"42", 42},
		{"42", int64(42)},
		{"-7", int32(-7)},
		{`{"$uint": 42}`, uint(42)},
		{`{"$uint": 18446744073709551615}`, uint64(18446744073709551615)},
		{"1.5", 1.5},
		{"1e3", float64(1000)},
		{`"alice"`, "alice"},
		{`"with,comma:and}brace"`, "with,comma:and}brace"},
		{"true", true},
		{"null", (*int)(nil)},
		{"[1, 2, 3]", []int{1, 2, 3}},
		{`["a", "b"]`, [2]string{"a", "b"}},
		{`{"b": 2, "a": 1}`, map[string]int{"a": 1, "b": 2}},
		{`{"k": ["x"]}`, map[string][]string{"k": {"x"}}},
		{`{"$time": "2026-01-02T15:04:05.5+02:00"}`, time.Date(2026, 1, 2, 13, 4, 5, 5e8, time.UTC)},
	} {
		t.Run(tc.json, func(t *testing.T) {
			v, err := parseArg(tc.json)
			if err != nil {
				t.Fatal(err)
			}
			got, err := keyreg.Key("f", v)
			if err != nil {
				t.Fatal(err)
			}
			want, err := keyreg.Key("f", tc.go_)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("key %q, want %q (the Go value %T's)", got, want, tc.go_)
			}
		})
	}
	for _, bad := range []string{"alice", "1 2", "99999999999999999999", `{"$uint": -1}`, `{"$time": "yesterday"}`, "[1,"} {
		if _, err := parseArg(bad); err == nil {
			t.Errorf("parseArg(%s): no error", bad)
		}
	}
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestUsage checks that mistakes on the command line exit with 2 and the
// usage, before any configuration is read.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"ping", "extra"}, {"inspect", "users"}, {"keys", "users"},
		{"invalidate"}, {"invalidate", "users", "--hard", "--soft"}, {"invalidate", "users", "f", "1", "--hard"},
		{"invalidate", "users", "f", "1", "2", "3", "4"}, {"--bogus", "ping"}, {"ping", "--timeout", "soon"},
		{"ping", "--config"}, {"inspect", "users", "k", "--soft"}, {"--help"}, {"inspect", "users", "f", "1", "2", "3", "4"},
	} {
		code, _, stderr := runCLI(t, append([]string{"--config", "/nonexistent.yaml"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "usage:") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and the usage", args, code, stderr)
		}
	}
	// A JSON argument that does not parse is a usage error too, found
	// after loading.
	path := writeFile(t, "regions:\n  users: {}\n")
	if code, _, stderr := runCLI(t, "--config", path, "invalidate", "users", "f", "alice"); code != exitUsage || !strings.Contains(stderr, "quote strings") {
		t.Errorf("bare word argument: exit %d, %q", code, stderr)
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "corral.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInProcess runs the commands on a memory:// region, which starts
// empty in each run: what they can show without a server.
func TestInProcess(t *testing.T) {
	path := writeFile(t, "regions:\n  users:\n    expiration: 1m\n")
	if code, out, _ := runCLI(t, "--config", path, "ping"); code != exitOK || !strings.Contains(out, "users") || !strings.Contains(out, "ok") {
		t.Errorf("ping: %d %q", code, out)
	}
	code, out, _ := runCLI(t, "--config", path, "--json", "inspect", "users", "k")
	var res inspectResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitNotFound || res.Present || res.Serializer != "msgpack" {
		t.Errorf("inspect of a missing key: exit %d, %q, %v", code, out, err)
	}
	if code, _, _ := runCLI(t, "--config", path, "keys", "users", "f"); code != exitNotFound {
		t.Errorf("keys with none recorded: exit %d, want 1", code)
	}
	if code, out, _ := runCLI(t, "--config", path, "invalidate", "users", "--soft"); code != exitOK || !strings.Contains(out, "soft") {
		t.Errorf("invalidate --soft: %d %q", code, out)
	}
	if code, _, stderr := runCLI(t, "--config", path, "inspect", "orders", "k"); code != exitNotFound || !strings.Contains(stderr, "unknown region") {
		t.Errorf("unknown region: %d %q", code, stderr)
	}
	bad := writeFile(t, "regions:\n  users:\n    expiration: soon\n")
	if code, _, stderr := runCLI(t, "--config", bad, "ping"); code != exitNotFound || !strings.Contains(stderr, "corral.yaml:3: regions.users.expiration") {
		t.Errorf("bad file: %d %q", code, stderr)
	}
}
