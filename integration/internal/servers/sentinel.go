package servers

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sentinel starts a Redis Sentinel (redis-server in sentinel mode, as
// Debian's redis-server package ships it) on a free loopback port, watching
// master under the name masterName with a quorum of one, and waits until it
// names the master. authPass, when not empty, is the master's password
// (requirepass), which the Sentinel uses to talk to it.
func Sentinel(t testing.TB, master *Server, masterName, authPass string) *Server {
	t.Helper()
	return sentinel(t, master, masterName, authPass, nil)
}

// SentinelTLS is Sentinel for a master started by RedisTLS, with files its
// files: the Sentinel listens only for TLS, with the master's server
// certificate, requires clients to present a certificate signed by the
// test CA, and talks TLS to the master.
func SentinelTLS(t testing.TB, master *Server, files TLSFiles, masterName string) *Server {
	t.Helper()
	return sentinel(t, master, masterName, "", &files)
}

func sentinel(t testing.TB, master *Server, masterName, authPass string, files *TLSFiles) *Server {
	t.Helper()
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sport := FreePort(t)
	conf := []string{
		"port " + strconv.Itoa(sport),
		"bind 127.0.0.1",
		"protected-mode yes",
		"dir " + dir,
		fmt.Sprintf("sentinel monitor %s %s %s 1", masterName, host, port),
		fmt.Sprintf("sentinel down-after-milliseconds %s 5000", masterName),
	}
	if authPass != "" {
		conf = append(conf, fmt.Sprintf("sentinel auth-pass %s %s", masterName, authPass))
	}
	dial := func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }
	if files != nil {
		conf[0] = "port 0"
		conf = append(conf, "tls-port "+strconv.Itoa(sport), "tls-cert-file "+files.ServerCert, "tls-key-file "+files.ServerKey,
			"tls-ca-cert-file "+files.CA, "tls-auth-clients yes", "tls-replication yes")
		cfg, err := clientTLS(*files)
		if err != nil {
			t.Fatal(err)
		}
		dial = func(addr string) (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, cfg)
		}
	}
	path := filepath.Join(dir, "sentinel.conf")
	// The Sentinel rewrites its file: it must be writable.
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, "redis-server", []string{path, "--sentinel"}, net.JoinHostPort("127.0.0.1", strconv.Itoa(sport)))
	deadline := time.Now().Add(startTimeout)
	for !sentinelKnows(dial, s.Addr, masterName, master.Addr) {
		if time.Now().After(deadline) {
			t.Fatalf("sentinel on %s does not name master %s at %s within %v", s.Addr, masterName, master.Addr, startTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// clientTLS is the TLS configuration of a client of the test CA's servers.
func clientTLS(files TLSFiles) (*tls.Config, error) {
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	pair, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// sentinelKnows asks a Sentinel, in plain RESP over a connection dial
// makes, for the address of master name and reports whether it is want.
func sentinelKnows(dial func(string) (net.Conn, error), addr, name, want string) bool {
	c, err := dial(addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	cmd := fmt.Sprintf("*3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$%d\r\n%s\r\n", len(name), name)
	if _, err := c.Write([]byte(cmd)); err != nil {
		return false
	}
	r := bufio.NewReader(c)
	header, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(header, "*2") {
		return false
	}
	var parts []string
	for range 2 {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return false
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		parts = append(parts, strings.TrimSpace(line))
	}
	return net.JoinHostPort(parts[0], parts[1]) == want
}
