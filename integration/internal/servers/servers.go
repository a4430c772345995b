// Package servers starts real redis-server, Redis Cluster and memcached
// processes for corral's integration tests. Every server listens on a free
// port of 127.0.0.1 only, runs without persistence, and is stopped when the
// test that started it ends.
package servers

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 10 * time.Second

// Binary returns the path of the named server binary. When it is missing the
// test is skipped, except under CI=true or CORRAL_REQUIRE_SERVERS=1 (which
// the project's test command sets), where it fails: CI must never pass
// without running the integration tests.
func Binary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found: run the project's test command, which installs it (see README.md)", name)
	if os.Getenv("CI") == "true" || os.Getenv("CORRAL_REQUIRE_SERVERS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Server is one server process on a fixed loopback address. It can be
// stopped and started again on the same address, to test outages.
type Server struct {
	Addr string // host:port on 127.0.0.1

	t    testing.TB
	name string
	args []string

	mu  sync.Mutex // protects cmd
	cmd *exec.Cmd
}

func newServer(t testing.TB, name string, args []string, addr string) *Server {
	s := &Server{Addr: addr, t: t, name: name, args: args}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// Start starts the server (again) and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatalf("%s on %s is already running", s.name, s.Addr)
	}
	cmd := exec.Command(Binary(s.t, s.name), s.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.CreateTemp(s.t.TempDir(), s.name+"-*.log")
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.name, err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(out.Name())
			s.t.Fatalf("%s did not listen on %s within %v:\n%s", s.name, s.Addr, startTimeout, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server and waits for it to exit. Start brings it back.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Kill is Stop; it exists to read well in cleanups.
func (s *Server) Kill() { s.Stop() }

// Redis starts a redis-server on a free loopback port, with no persistence.
// Extra arguments are passed to redis-server, e.g. "--maxmemory", "10mb".
func Redis(t testing.TB, extra ...string) *Server {
	t.Helper()
	return redisOn(t, FreePort(t), extra...)
}

func redisOn(t testing.TB, port int, extra ...string) *Server {
	t.Helper()
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(),
	}, extra...)
	return newServer(t, "redis-server", args, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' addresses, as a cluster client wants them.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// RedisCluster starts masters redis-server processes in cluster mode on free
// loopback ports, joins them with `redis-cli --cluster create` and waits
// until the cluster reports state ok on every node.
func RedisCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	cli := Binary(t, "redis-cli")
	c := &Cluster{}
	dir := t.TempDir()
	for range masters {
		port := FreePort(t)
		c.Nodes = append(c.Nodes, redisOn(t, port,
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)),
			"--cluster-node-timeout", "2000",
		))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, n := range c.Nodes {
		for !clusterOK(n.Addr) {
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok within %v", n.Addr, startTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// clusterOK asks a node, in plain RESP, whether the cluster is ok.
func clusterOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")); err != nil {
		return false
	}
	r := bufio.NewReader(c)
	header, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(header, "$") {
		return false
	}
	n, _ := strconv.Atoi(strings.TrimSpace(header[1:]))
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return false
	}
	return strings.Contains(string(body), "cluster_state:ok")
}

// Memcached starts a memcached on a free loopback port with 64 MiB of memory.
// Extra arguments are passed to memcached, e.g. "-I", "2m".
func Memcached(t testing.TB, extra ...string) *Server {
	t.Helper()
	port := FreePort(t)
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses root without -u
	}
	return newServer(t, "memcached", append(args, extra...), net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}
