package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corralcache/corral/integration/internal/servers"
)

// webappDelay is the store's lookup time given to the webapp instances.
const webappDelay = 500 * time.Millisecond

// webappInstance is one running examples/webapp process.
type webappInstance struct {
	name string
	url  string
	log  *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the writes of a child process's
// output copier and the reads of a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildWebapp builds examples/webapp into a directory of the test.
func buildWebapp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "webapp")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/corralcache/corral/examples/webapp").CombinedOutput()
	if err != nil {
		t.Fatalf("go build examples/webapp: %v\n%s", err, out)
	}
	return bin
}

// startWebapp runs the webapp binary on a free loopback port against the
// Redis server at redisAddr, waits until it answers, and stops it (SIGINT,
// then SIGKILL) when the test ends.
func startWebapp(t *testing.T, bin, name, redisAddr string) *webappInstance {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(servers.FreePort(t))
	in := &webappInstance{name: name, url: "http://" + addr, log: &syncBuffer{}}
	cmd := exec.Command(bin, "-addr", addr, "-redis", redisAddr, "-delay", webappDelay.String(), "-name", name)
	cmd.Stdout, cmd.Stderr = in.log, in.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start webapp %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("webapp %s output:\n%s", name, in.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := webappClient.Get(in.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in
			}
		}
		select {
		case <-exited:
			t.Fatalf("webapp %s exited:\n%s", name, in.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("webapp %s did not answer on %s within 30s:\n%s", name, addr, in.log.String())
		}
	}
}

var webappClient = &http.Client{Timeout: 15 * time.Second}

// webappHost is the Host every request names, as a load balancer in front of
// the instances would pass it: the Host is part of a cached response's key.
const webappHost = "webapp.test"

// webappDo sends a request for target to the instance, naming webappHost.
func (in *webappInstance) do(t *testing.T, method, target, contentType string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, in.url+target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = webappHost
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := webappClient.Do(req)
	if err != nil {
		t.Fatalf("%s through %s: %v", method, in.name, err)
	}
	return resp
}

// webappReply is what a GET returned.
type webappReply struct {
	status  int
	cache   string
	body    string
	elapsed time.Duration
}

func (in *webappInstance) get(t *testing.T, username string) webappReply {
	t.Helper()
	start := time.Now()
	resp := in.do(t, http.MethodGet, "/email?username="+url.QueryEscape(username), "", nil)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET through %s: %v", in.name, err)
	}
	return webappReply{resp.StatusCode, resp.Header.Get("X-Cache"), string(body), time.Since(start)}
}

func (in *webappInstance) post(t *testing.T, contentType, body string) {
	t.Helper()
	resp := in.do(t, http.MethodPost, "/email", contentType, strings.NewReader(body))
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST through %s: %s: %s", in.name, resp.Status, out)
	}
}

func emailJSON(user, email string) string {
	return fmt.Sprintf("{\"username\":%q,\"email\":%q}\n", user, email)
}

// TestWebappTwoInstancesOnRedis runs two webapp processes on one
// redis-server: a slow first read, a fast identical second one, the cache
// shared between the instances, and a write through one instance seen at
// once by the other.
func TestWebappTwoInstancesOnRedis(t *testing.T) {
	rs := servers.Redis(t)
	bin := buildWebapp(t)
	a := startWebapp(t, bin, "A", rs.Addr)
	b := startWebapp(t, bin, "B", rs.Addr)

	first := a.get(t, "alice")
	if first.status != 200 || first.cache != "MISS" || first.body != emailJSON("alice", "alice@example.com") {
		t.Fatalf("first GET on A: %+v", first)
	}
	if first.elapsed < webappDelay {
		t.Fatalf("first GET on A took %v, less than the store's delay %v", first.elapsed, webappDelay)
	}
	second := a.get(t, "alice")
	if second.status != 200 || second.cache != "HIT" || second.body != first.body {
		t.Fatalf("second GET on A: %+v, want a HIT of %q", second, first.body)
	}
	if second.elapsed >= webappDelay {
		t.Fatalf("second GET on A took %v: not served from the cache", second.elapsed)
	}
	if shared := b.get(t, "alice"); shared.cache != "HIT" || shared.body != first.body {
		t.Fatalf("GET on B after A cached it: %+v, want a HIT of %q", shared, first.body)
	}

	// A form POST through A; B serves the new address at once.
	a.post(t, "application/x-www-form-urlencoded", url.Values{"username": {"alice"}, "email": {"alice@example.org"}}.Encode())
	after := b.get(t, "alice")
	if after.status != 200 || after.body != emailJSON("alice", "alice@example.org") {
		t.Fatalf("GET on B after the POST on A: %+v, want alice@example.org", after)
	}
	if after.cache != "MISS" || after.elapsed < webappDelay {
		t.Fatalf("GET on B after the POST on A: %s in %v, want a MISS through the slow store", after.cache, after.elapsed)
	}
	if again := a.get(t, "alice"); again.cache != "HIT" || again.body != after.body {
		t.Fatalf("GET on A after B re-cached: %+v, want a HIT of %q", again, after.body)
	}

	// A JSON POST through B; A serves the new address.
	b.post(t, "application/json", emailJSON("alice", "alice@example.net"))
	if got := a.get(t, "alice"); got.body != emailJSON("alice", "alice@example.net") {
		t.Fatalf("GET on A after the JSON POST on B: %+v", got)
	}

	// The other user's cached answer was not touched by alice's writes.
	bob := a.get(t, "bob")
	if bob.cache != "MISS" {
		t.Fatalf("first GET of bob: %+v", bob)
	}
	b.post(t, "application/json", emailJSON("alice", "alice@example.com"))
	if got := b.get(t, "bob"); got.cache != "HIT" || got.body != bob.body {
		t.Fatalf("GET of bob after a write of alice: %+v, want a HIT of %q", got, bob.body)
	}
}
