package redisstore_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/redisstore"
)

func TestNewClientRejectsMalformedURLs(t *testing.T) {
	for _, u := range []string{
		"redis://:::",
		"redis://127.0.0.1:0",
		"redis://127.0.0.1:99999",
		"redis://127.0.0.1:x",
		"redis://127.0.0.1:",
		"redis://:6379",
		"redis://[::1",
		"redis:127.0.0.1",
		"http://127.0.0.1:6379",
		"redis://%zz",
		"redis://127.0.0.1:6379/x",
		"redis://127.0.0.1:6379?bogus=1",
		"redis://127.0.0.1:6379?dial_timeout=soon",
		"redis://127.0.0.1:6379?dialer_retries=0",
		"redis://127.0.0.1:6379?ca_file=ca.pem",
		"redis://127.0.0.1:6379?skip_verify=true",
		"rediss://127.0.0.1:6379?cert_file=c.pem",
		"rediss://127.0.0.1:6379?ca_file=/nonexistent/ca.pem",
		"rediss://127.0.0.1:6379?skip_verify=maybe",
		"redis://127.0.0.1:7000?addr=127.0.0.1",
		"redis://127.0.0.1:7000?addr=:::",
	} {
		t.Run(u, func(t *testing.T) {
			c, err := redisstore.NewClient(u)
			if !errors.Is(err, redisstore.ErrInvalidOptions) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("NewClient = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

// TestNewClientNeverShowsThePassword checks that the errors of NewClient
// and Open, for malformed URLs too, hold neither the user nor the password.
func TestNewClientNeverShowsThePassword(t *testing.T) {
	for _, u := range []string{
		"redis://alice:S3cretPw@127.0.0.1:x/0",
		"redis://alice:S3cretPw@:::",
		"redis://alice:S3cretPw%zz@127.0.0.1",
		"redis://alice:S3cret/Pw@127.0.0.1:6379",
		"redis://alice:S3cretPw@127.0.0.1:6379?bogus=1",
		"redis://alice:S3cretPw@127.0.0.1:6379/notadb",
		"http://alice:S3cretPw@127.0.0.1:6379",
		"redis://alice:S3cret@Pw@127.0.0.1:0",
		"alice:S3cretPw@127.0.0.1:6379",
		"redis://:S3cretPw@127.0.0.1:6379?ca_file=x",
		"rediss://alice:S3cretPw@127.0.0.1:6379?ca_file=/nonexistent",
		"redis://alice:S3cretPw@127.0.0.1:7000?addr=bad",
	} {
		t.Run(u, func(t *testing.T) {
			_, err := redisstore.NewClient(u)
			if err == nil {
				t.Fatal("NewClient accepted a malformed URL")
			}
			_, oerr := redisstore.Open(u, redisstore.Options{})
			for _, e := range []error{err, oerr} {
				if msg := e.Error(); strings.Contains(msg, "S3cret") || strings.Contains(msg, "alice") {
					t.Errorf("error shows the user or password: %s", msg)
				}
			}
			if red := redisstore.RedactURL(u); strings.Contains(red, "S3cret") || strings.Contains(red, "alice") {
				t.Errorf("RedactURL = %s", red)
			}
		})
	}
}

func TestNewClientFailFastDefaults(t *testing.T) {
	tests := []struct {
		url                    string
		dial, read, write      time.Duration
		retries, dialerRetries int
	}{
		{"redis://127.0.0.1:6379/0", 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 1, 1},
		{"redis://u:p@127.0.0.1:6379/1?dial_timeout=1s&read_timeout=2s&write_timeout=3s&max_retries=4&dialer_retries=5&dialer_retry_timeout=10ms", time.Second, 2 * time.Second, 3 * time.Second, 4, 5},
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001&dialer_retries=2", 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 1, 2},
		{"unix:///tmp/redis.sock?db=2", 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 1, 1},
		{"redis://[::1]:6379", 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 1, 1},
	}
	for _, tc := range tests {
		t.Run(redisstore.RedactURL(tc.url), func(t *testing.T) {
			c, err := redisstore.NewClient(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var dial, read, write time.Duration
			var retries, dialerRetries int
			switch c := c.(type) {
			case *redis.Client:
				o := c.Options()
				dial, read, write, retries, dialerRetries = o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.DialerRetries
			case *redis.ClusterClient:
				o := c.Options()
				dial, read, write, retries, dialerRetries = o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.DialerRetries
			}
			if dial != tc.dial || read != tc.read || write != tc.write || retries != tc.retries || dialerRetries != tc.dialerRetries {
				t.Errorf("dial %v read %v write %v retries %d dialer retries %d; want %v %v %v %d %d",
					dial, read, write, retries, dialerRetries, tc.dial, tc.read, tc.write, tc.retries, tc.dialerRetries)
			}
		})
	}
}

func TestNewClientTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestCerts(t, dir)
	c, err := redisstore.NewClient("rediss://127.0.0.1:6380?ca_file=" + ca + "&cert_file=" + cert + "&key_file=" + key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := c.(*redis.Client).Options().TLSConfig
	if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.InsecureSkipVerify {
		t.Fatalf("TLS config %+v: want the CA pool and one client certificate", tc)
	}
	c2, err := redisstore.NewClient("rediss://127.0.0.1:6380?skip_verify=true")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if !c2.(*redis.Client).Options().TLSConfig.InsecureSkipVerify {
		t.Error("skip_verify=true did not skip verification")
	}
	if _, err := redisstore.NewClient("rediss://127.0.0.1:6380?ca_file=" + key); !errors.Is(err, redisstore.ErrInvalidOptions) {
		t.Errorf("a CA file without certificates = %v, want ErrInvalidOptions", err)
	}
}

// writeTestCerts writes a self-signed CA, and a client certificate it
// signed with its key, as PEM files in dir.
func writeTestCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cliKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cliTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	cliDER, err := x509.CreateCertificate(rand.Reader, cliTmpl, caTmpl, &cliKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("client.pem", "CERTIFICATE", cliDER), write("client-key.pem", "EC PRIVATE KEY", keyDER)
}

// TestNewClientContextTimeout: context_timeout_enabled sets go-redis's
// ContextTimeoutEnabled, off unless the URL says otherwise.
func TestNewClientContextTimeout(t *testing.T) {
	for url, want := range map[string]bool{
		"redis://127.0.0.1:6379":                                               false,
		"redis://127.0.0.1:6379?context_timeout_enabled=true":                  true,
		"redis://127.0.0.1:7000?addr=127.0.0.1:7001":                           false,
		"redis://127.0.0.1:7000?addr=127.0.0.1:7001&context_timeout_enabled=1": true,
	} {
		c, err := redisstore.NewClient(url)
		if err != nil {
			t.Fatal(err)
		}
		var got bool
		switch c := c.(type) {
		case *redis.Client:
			got = c.Options().ContextTimeoutEnabled
		case *redis.ClusterClient:
			got = c.Options().ContextTimeoutEnabled
		}
		_ = c.Close()
		if got != want {
			t.Errorf("%s: ContextTimeoutEnabled %v, want %v", url, got, want)
		}
	}
}
