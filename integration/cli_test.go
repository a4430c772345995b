package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/region"
)

// buildCLI builds cmd/corral into a directory of the test.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "corral")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/corralcache/corral/cmd/corral").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/corral: %v\n%s", err, out)
	}
	return bin
}

// cli runs the corral binary with the config file and env, and returns its
// exit status and output.
type cli struct {
	t    *testing.T
	bin  string
	file string
	env  []string
}

func (c cli) run(args ...string) (int, string, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--config", c.file}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("corral %q: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// TestCLI runs the corral binary against a region on Redis (password from
// the environment) and on memcached that this test process uses as an
// application would: it inspects an entry the application stored, lists
// a cached function's keys, invalidates one result from JSON arguments,
// every result, and the whole region (soft, then hard), and checks what
// the application sees after each; and the exit statuses.
func TestCLI(t *testing.T) {
	bin := buildCLI(t)
	redisSrv := servers.Redis(t, "--requirepass", configSecret)
	mc := servers.Memcached(t)
	for _, sc := range []struct {
		name, url string
		listable  bool
	}{
		{"redis", "redis://:${PW}@" + redisSrv.Addr, true},
		{"memcached", "memcached://" + mc.Addr, false},
	} {
		t.Run(sc.name, func(t *testing.T) {
			env := []string{"PW=" + configSecret}
			file := writeConfig(t, sc.url)
			c := cli{t: t, bin: bin, file: file, env: env}
			ctx := mcCtx(t, time.Minute)

			app, err := config.Load(file, config.Options{Environ: env})
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
			users, _ := app.Region("users")
			load := func(_ context.Context, id int, name string) (string, error) { return name + "@v1", nil }
			f, err := region.Cache2(users, load, region.Named("users.load"))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"alice", "bob"} {
				if _, err := f.Call(ctx, 42, name); err != nil {
					t.Fatal(err)
				}
			}
			aliceKey, _, err := f.Key(ctx, 42, "alice")
			if err != nil {
				t.Fatal(err)
			}

			code, out, stderr := c.run("ping")
			if code != 0 || !strings.Contains(out, "ok") || strings.Contains(out+stderr, configSecret) {
				t.Fatalf("ping: exit %d, %q, %q", code, out, stderr)
			}

			// invalidate --tag: the tagged value is retired in this process
			// (another than the command's) within InvalidationRefresh.
			var made atomic.Int32
			tagged := func(context.Context) (string, error) { return fmt.Sprint("v", made.Add(1)), nil }
			if v, err := region.GetOrCreate(ctx, users, "tagged", tagged, region.WithTags("user:42")); err != nil || v != "v1" {
				t.Fatalf("tagged: %q, %v", v, err)
			}
			tagState := func() string {
				t.Helper()
				code, out, _ := c.run("--json", "inspect", "users", "tagged")
				var res struct {
					Tags []struct {
						Name    string `json:"name"`
						Current bool   `json:"current"`
					} `json:"tags"`
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res.Tags) != 1 || res.Tags[0].Name != "user:42" {
					t.Fatalf("inspect of a tagged value: exit %d, %q, %v", code, out, err)
				}
				return fmt.Sprint(res.Tags[0].Current)
			}
			if got := tagState(); got != "true" {
				t.Fatalf("inspect: tag current %s before the invalidation", got)
			}
			if code, out, stderr := c.run("invalidate", "--tag", "user:42", "users"); code != 0 || !strings.Contains(out, "user:42") {
				t.Fatalf("invalidate --tag: exit %d, %q, %q", code, out, stderr)
			}
			if got := tagState(); got != "false" {
				t.Fatalf("inspect: tag current %s after the invalidation", got)
			}
			eventually(t, 5*time.Second, "the tag's invalidation to reach this process", func() bool {
				v, err := region.GetOrCreate(ctx, users, "tagged", tagged, region.WithTags("user:42"))
				return err == nil && v != "v1"
			})
			if code, _, _ := c.run("invalidate", "--tag", "", "users"); code == 0 {
				t.Fatal("invalidate --tag with an empty tag succeeded")
			}

			code, out, _ = c.run("--json", "inspect", "users", aliceKey)
			var info struct {
				Present    bool   `json:"present"`
				State      string `json:"state"`
				Size       int    `json:"size"`
				Serializer string `json:"serializer"`
				Expiration string `json:"expiration"`
			}
			if err := json.Unmarshal([]byte(out), &info); err != nil || code != 0 || !info.Present || info.State != "fresh" ||
				info.Size == 0 || info.Serializer != "msgpack" || info.Expiration != "1m0s" {
				t.Fatalf("inspect: exit %d, %q, %v", code, out, err)
			}
			// The same entry, named by the function and JSON arguments:
			// the way to find it on memcached, whose keys cannot be listed.
			code, out, _ = c.run("--json", "inspect", "users", "users.load", "42", `"alice"`)
			var byArgs struct {
				Key     string `json:"key"`
				Present bool   `json:"present"`
			}
			if err := json.Unmarshal([]byte(out), &byArgs); err != nil || code != 0 || !byArgs.Present || byArgs.Key != aliceKey {
				t.Fatalf("inspect by function and arguments: exit %d, %q, %v; want key %q", code, out, err, aliceKey)
			}
			if code, out, _ := c.run("inspect", "users", "no-such-key"); code != 1 || !strings.Contains(out, "false") {
				t.Fatalf("inspect of a missing key: exit %d, %q", code, out)
			}
			// A cached "not found" is present, and says so.
			gone := func(context.Context) (string, error) { return "", region.ErrNotFound }
			if _, err := region.GetOrCreate(ctx, users, "gone", gone, region.WithNegativeExpiration(time.Minute)); !errors.Is(err, region.ErrNotFound) {
				t.Fatal(err)
			}
			code, out, _ = c.run("--json", "inspect", "users", "gone")
			var neg struct {
				Present  bool `json:"present"`
				NotFound bool `json:"not_found"`
			}
			if err := json.Unmarshal([]byte(out), &neg); err != nil || code != 0 || !neg.Present || !neg.NotFound {
				t.Fatalf("inspect of a cached not found: exit %d, %q, %v", code, out, err)
			}
			if code, out, _ := c.run("inspect", "users", "gone"); code != 0 || !strings.Contains(out, "not found") {
				t.Fatalf("inspect of a cached not found, as text: exit %d, %q", code, out)
			}
			if code, out, _ = c.run("--json", "inspect", "users", aliceKey); !strings.Contains(out, `"not_found": false`) && !strings.Contains(out, `"not_found":false`) {
				t.Fatalf("inspect of a value: %q, want not_found false", out)
			}

			code, out, stderr = c.run("--json", "keys", "users", "users.load")
			if sc.listable {
				var keys []string
				if err := json.Unmarshal([]byte(out), &keys); err != nil || code != 0 || len(keys) != 2 || !strings.Contains(out, aliceKey) {
					t.Fatalf("keys: exit %d, %q, %v", code, out, err)
				}
			} else if code != 1 || !strings.Contains(stderr, "cannot list") {
				t.Fatalf("keys on memcached: exit %d, %q; want 1 and why", code, stderr)
			}

			// A misspelt function, and arguments of another type or
			// count, are invalidated all the same but are not success:
			// exit 1 and a warning that says what the registry can tell.
			code, out, stderr = c.run("invalidate", "users", "users.nope", "42", `"alice"`)
			if want := "knows no cached result of function users.nope"; !sc.listable {
				want = "memcached's registry cannot tell which"
				if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(out, "recorded: false") {
					t.Fatalf("misspelt function on memcached: exit %d, %q, %q", code, out, stderr)
				}
			} else if code != 1 || !strings.Contains(stderr, "warning: ") || !strings.Contains(stderr, want) {
				t.Fatalf("misspelt function: exit %d, %q, %q", code, out, stderr)
			}
			for _, args := range [][]string{{`"42"`, `"alice"`}, {"42"}, {"42", `"alice"`, "1"}} {
				code, out, stderr = c.run(append([]string{"--json", "invalidate", "users", "users.load"}, args...)...)
				var res struct {
					Recorded *bool  `json:"recorded"`
					Checked  *bool  `json:"checked"`
					Warning  string `json:"warning"`
				}
				want := "though 2 other results of users.load are"
				if !sc.listable {
					want = "cannot tell which"
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.Recorded == nil || *res.Recorded ||
					res.Checked == nil || *res.Checked != sc.listable || !strings.Contains(res.Warning, want) {
					t.Fatalf("invalidate users.load %v: exit %d, %q, %v; want 1 and a warning saying %q", args, code, out, err, want)
				}
				var line struct{ Warning string }
				if err := json.Unmarshal([]byte(strings.TrimSpace(stderr)), &line); err != nil || line.Warning != res.Warning {
					t.Fatalf("--json stderr %q, %v: want the warning as one JSON line", stderr, err)
				}
			}
			code, out, stderr = c.run("invalidate", "users", "users.nope")
			if sc.listable && (code != 1 || !strings.Contains(stderr, "knows no cached result of function users.nope")) {
				t.Fatalf("invalidate a misspelt function: exit %d, %q, %q", code, out, stderr)
			}
			if !sc.listable && (code != 0 || !strings.Contains(stderr, "note: ") || !strings.Contains(stderr, "could not be checked")) {
				t.Fatalf("invalidate a misspelt function on memcached: exit %d, %q, %q; want 0 and a note", code, out, stderr)
			}
			if _, found, err := f.Get(ctx, 42, "alice"); err != nil || !found {
				t.Fatalf("alice after invalidations of other keys: found %v, %v", found, err)
			}

			// One result, named by JSON arguments.
			if code, out, stderr := c.run("invalidate", "users", "users.load", "42", `"alice"`); code != 0 || !strings.Contains(out, "recorded: true") {
				t.Fatalf("invalidate one: exit %d, %q, %q", code, out, stderr)
			}
			if _, found, err := f.Get(ctx, 42, "alice"); err != nil || found {
				t.Fatalf("alice after the CLI invalidated her: found %v, %v", found, err)
			}
			if _, found, err := f.Get(ctx, 42, "bob"); err != nil || !found {
				t.Fatalf("bob, not invalidated: found %v, %v", found, err)
			}

			// The whole region, soft then hard: Inspect reads the
			// generations afresh, so the application's view is checked at
			// once.
			if code, _, stderr := c.run("invalidate", "users", "--soft"); code != 0 {
				t.Fatalf("invalidate --soft: exit %d, %q", code, stderr)
			}
			bobKey, _, _ := f.Key(ctx, 42, "bob")
			if in, err := users.Inspect(ctx, bobKey); err != nil || in.State != "stale" {
				t.Fatalf("bob after --soft: %+v, %v", in, err)
			}
			if code, _, stderr := c.run("invalidate", "users"); code != 0 { // --hard is the default
				t.Fatalf("invalidate: exit %d, %q", code, stderr)
			}
			if in, err := users.Inspect(ctx, bobKey); err != nil || in.State != "invalidated" {
				t.Fatalf("bob after a hard invalidation: %+v, %v", in, err)
			}
			if code, out, _ := c.run("--json", "inspect", "users", bobKey); code != 0 || !strings.Contains(out, `"invalidated"`) {
				t.Fatalf("CLI inspect after a hard invalidation: exit %d, %q", code, out)
			}

			// Every result of the function: created after the hard
			// invalidation, retired by InvalidateAll.
			if _, err := f.Call(ctx, 7, "carol"); err != nil {
				t.Fatal(err)
			}
			if code, out, stderr := c.run("invalidate", "users", "users.load"); code != 0 || !strings.Contains(out, "every result") {
				t.Fatalf("invalidate all: exit %d, %q, %q", code, out, stderr)
			}
			deadline := time.After(10 * time.Second) // InvalidationRefresh is 20ms in the file
			for {
				_, found, err := f.Get(ctx, 7, "carol")
				if err != nil {
					t.Fatal(err)
				}
				if !found {
					break
				}
				select {
				case <-deadline:
					t.Fatal("carol still cached 10s after the CLI's InvalidateAll")
				case <-time.After(5 * time.Millisecond):
				}
			}

			if code, _, stderr := c.run("invalidate", "orders"); code != 1 || !strings.Contains(stderr, "unknown region") {
				t.Fatalf("unknown region: exit %d, %q", code, stderr)
			}
			if code, out, stderr := c.run("--json", "invalidate", "orders"); code != 1 || out != "" || !strings.HasPrefix(stderr, `{"error":`) || !strings.Contains(stderr, "unknown region") {
				t.Fatalf("unknown region, --json: exit %d, %q, %q; want the error as JSON", code, out, stderr)
			}
			if code, out, stderr := c.run("invalidate"); code != 2 || out != "" || !strings.Contains(stderr, "usage:") {
				t.Fatalf("usage: exit %d, %q, %q; want 2 and the usage on stderr", code, out, stderr)
			}
			if code, out, stderr := c.run("--bogus", "ping"); code != 2 || out != "" || !strings.Contains(stderr, "unknown flag --bogus") {
				t.Fatalf("unknown flag: exit %d, %q, %q", code, out, stderr)
			}
			for _, help := range [][]string{{"--help"}, {"-h"}, {"help"}} {
				if code, out, stderr := c.run(help...); code != 0 || !strings.HasPrefix(out, "usage:") || stderr != "" {
					t.Fatalf("%v: exit %d, %q, %q; want 0 and the usage on stdout", help, code, out, stderr)
				}
			}
			code, out, stderr = c.run("regions")
			if code != 0 || !strings.Contains(out, "users") || !strings.Contains(out, "1m0s") || strings.Contains(out+stderr, configSecret) {
				t.Fatalf("regions: exit %d, %q, %q", code, out, stderr)
			}
		})
	}
}

// TestCLIClientLogs runs the corral binary with --json against a Redis
// port where nothing listens: go-redis's own "failed to dial" line must
// reach stderr as JSON, like the command's own lines, not as go-redis's
// plain text.
func TestCLIClientLogs(t *testing.T) {
	bin := buildCLI(t)
	file := writeConfig(t, "redis://127.0.0.1:"+strconv.Itoa(servers.FreePort(t)))
	c := cli{t: t, bin: bin, file: file}
	code, out, stderr := c.run("--json", "ping")
	if code != 1 || !strings.Contains(out, `"ok": false`) {
		t.Fatalf("ping of a closed port: exit %d, %q", code, out)
	}
	dial := false
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("stderr line %q is not JSON", line)
		}
		dial = dial || (v["logger"] == "go-redis" && strings.Contains(fmt.Sprint(v["msg"]), "failed to dial"))
	}
	if !dial {
		t.Fatalf("stderr %q: want go-redis's failed dial as a JSON line", stderr)
	}
}
