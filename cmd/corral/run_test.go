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
		{"ping", "--config"}, {"inspect", "users", "k", "--soft"}, {"inspect", "users", "f", "1", "2", "3", "4"},
		{"regions", "users"}, {"-x"}, {"--json=yes", "ping"},
	} {
		code, out, stderr := runCLI(t, append([]string{"--config", "/nonexistent.yaml"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "usage:") || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr only", args, code, out, stderr)
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

// TestHelp checks that asking for the usage (-h, --help, help, wherever on
// the line) prints it on stdout and exits 0, before any configuration is
// read.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}, {"help", "invalidate"}, {"invalidate", "users", "--help"}, {"--json", "--help"}} {
		code, out, stderr := runCLI(t, append([]string{"--config", "/nonexistent.yaml"}, args...)...)
		if code != exitOK || !strings.HasPrefix(out, "usage:") || !strings.Contains(out, "corral [flags] regions") || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, code, out, stderr)
		}
	}
}

// TestJSONErrors checks that with --json every error reaches stderr as a
// JSON object: a usage mistake (with the usage), a configuration mistake
// (with its file, line and field), an unknown region; and that nothing
// else is written there.
func TestJSONErrors(t *testing.T) {
	good := writeFile(t, "regions:\n  users:\n    expiration: 1m\n")
	bad := writeFile(t, "regions:\n  users:\n    expiration: soon\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want problem
	}{
		{"unknown flag", []string{"--bogus", "--json", "ping"}, exitUsage, problem{Error: "unknown flag --bogus"}},
		{"unknown command", []string{"--json", "frobnicate"}, exitUsage, problem{Error: `unknown command "frobnicate"`}},
		{"bad file", []string{"--json", "--config", bad, "ping"}, exitNotFound, problem{File: bad, Line: 3, Field: "regions.users.expiration"}},
		{"unknown region", []string{"--json", "--config", good, "invalidate", "orders"}, exitNotFound, problem{}},
		{"bad argument", []string{"--json", "--config", good, "invalidate", "users", "f", "alice"}, exitUsage, problem{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.args...)
			if code != tc.code || out != "" {
				t.Fatalf("exit %d, stdout %q; want %d and nothing", code, out, tc.code)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			var p problem
			if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &p) != nil || p.Error == "" {
				t.Fatalf("stderr %q: want one JSON object with an error", stderr)
			}
			if tc.want.Error != "" && p.Error != tc.want.Error {
				t.Errorf("error %q, want %q", p.Error, tc.want.Error)
			}
			if tc.code == exitUsage && !strings.Contains(p.Usage, "usage:") {
				t.Errorf("usage %q: want the usage", p.Usage)
			}
			if tc.want.Field != "" && (p.File != tc.want.File || p.Line != tc.want.Line || p.Field != tc.want.Field) {
				t.Errorf("located %s:%d %s, want %s:%d %s", p.File, p.Line, p.Field, tc.want.File, tc.want.Line, tc.want.Field)
			}
		})
	}
	// Log lines are JSON too: a region with no expiration is logged.
	quiet := writeFile(t, "regions:\n  users: {}\n")
	code, _, stderr := runCLI(t, "--json", "--config", quiet, "regions")
	var line map[string]any
	if code != exitOK || json.Unmarshal([]byte(strings.TrimSpace(stderr)), &line) != nil || line["level"] != "WARN" {
		t.Errorf("exit %d, stderr %q: want the expiration warning as a JSON line", code, stderr)
	}
}

// TestRegions lists regions with every setting the command shows, as text
// and as JSON, without touching a server.
func TestRegions(t *testing.T) {
	t.Setenv("CLI_TEST_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	path := writeFile(t, `
regions:
  users:
    url: memory://?serialize=true
    expiration: 10m
    near: {max_entries: 1000, max_staleness: 50ms}
    keyring:
      current: 3
      keys: {3: "${CLI_TEST_KEY}", 2: "${CLI_TEST_KEY}"}
    early_refresh: {enabled: true}
  sessions:
    url: redis://:${CLI_TEST_KEY}@127.0.0.1:1/0
    expiration: never
`)
	code, out, stderr := runCLI(t, "--config", path, "regions")
	if code != exitOK || stderr != "" {
		t.Fatalf("regions: exit %d, %q", code, stderr)
	}
	for _, want := range []string{"REGION", "users", "memory://?serialize=true", "10m0s", "1000 entries, max staleness 50ms", "key 3 current, keys 2,3", "beta 1 (default)",
		"sessions", "redis://xxxxx@127.0.0.1:1/0", "never", "off"} {
		if !strings.Contains(out, want) {
			t.Errorf("regions: %q does not say %q", out, want)
		}
	}
	if strings.Contains(out, "AAEC") {
		t.Fatalf("regions shows a key: %q", out)
	}
	code, out, _ = runCLI(t, "--config", path, "--json", "regions")
	var infos []regionInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil || code != exitOK || len(infos) != 2 {
		t.Fatalf("regions --json: exit %d, %q, %v", code, out, err)
	}
	u, s := infos[0], infos[1]
	if u.Near == nil || u.Near.MaxEntries != 1000 || u.Near.MaxStaleness != "50ms" || u.Encryption == nil || u.Encryption.Current != 3 ||
		len(u.Encryption.IDs) != 2 || u.EarlyRefresh == nil || u.EarlyRefresh.Beta != 1 || u.Expiration != "10m0s" {
		t.Errorf("users %+v", u)
	}
	if s.Near != nil || s.Encryption != nil || s.EarlyRefresh != nil || s.Expiration != "never" || s.URL != "redis://xxxxx@127.0.0.1:1/0" {
		t.Errorf("sessions %+v", s)
	}
}

// TestInvalidateUnknown checks that invalidating a function, or one of its
// results, that the registry does not know exits 1 with a warning (as text
// on stderr, and in the JSON result), having invalidated all the same. The
// memory registry of a fresh process knows nothing: TestCLI in package
// integration plays the other cases on Redis and memcached.
func TestInvalidateUnknown(t *testing.T) {
	path := writeFile(t, "regions:\n  users:\n    expiration: 1m\n")
	code, out, stderr := runCLI(t, "--config", path, "invalidate", "users", "db.nope", "42")
	if code != exitNotFound || !strings.Contains(out, "recorded: false") || !strings.Contains(stderr, "warning: the registry of region users knows no cached result of function db.nope") {
		t.Errorf("one result: exit %d, %q, %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "--config", path, "invalidate", "users", "db.nope")
	if code != exitNotFound || !strings.Contains(out, "every result") || !strings.Contains(stderr, "warning:") {
		t.Errorf("every result: exit %d, %q, %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "--config", path, "--json", "invalidate", "users", "db.nope", "42")
	var res invalidateResult
	var p problem
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitNotFound || !res.Completed || res.Warning == "" || res.Checked == nil || !*res.Checked {
		t.Errorf("--json: exit %d, %q, %v", code, out, err)
	}
	if err := json.Unmarshal([]byte(stderr), &p); err != nil || p.Warning != res.Warning {
		t.Errorf("--json stderr %q, %v: want the warning as JSON", stderr, err)
	}
}
