package servers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TLSFiles are the PEM files of a test certificate authority and of a
// client certificate it signed, and of the server's certificate (for
// 127.0.0.1), which other servers of the test (a Sentinel) may use too.
type TLSFiles struct {
	CA, ClientCert, ClientKey string
	ServerCert, ServerKey     string
}

// RedisTLS starts a redis-server that listens only for TLS on a free
// loopback port, with a server certificate for 127.0.0.1 signed by a
// throwaway CA, and requires clients to present a certificate signed by it
// (mutual TLS). It returns the server and the files a client needs.
func RedisTLS(t testing.TB, extra ...string) (*Server, TLSFiles) {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert, caDER := newCert(t, nil, nil, "corral test CA", true)
	newCertFor(t, caCert, caKey, "127.0.0.1", false, dir, "server")
	newCertFor(t, caCert, caKey, "corral client", false, dir, "client")
	files := TLSFiles{CA: filepath.Join(dir, "ca.pem"), ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem")}
	writePEM(t, files.CA, "CERTIFICATE", caDER)
	port := FreePort(t)
	args := append([]string{
		"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(),
		"--tls-cert-file", files.ServerCert, "--tls-key-file", files.ServerKey,
		"--tls-ca-cert-file", files.CA, "--tls-auth-clients", "yes",
	}, extra...)
	return newServer(t, "redis-server", args, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))), files
}

// newCertFor makes a certificate for name signed by the CA and writes it
// and its key to dir/<file>.pem and dir/<file>-key.pem.
func newCertFor(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, isCA bool, dir, file string) {
	t.Helper()
	key, _, der := newCert(t, ca, caKey, name, isCA)
	writePEM(t, filepath.Join(dir, file+".pem"), "CERTIFICATE", der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, file+"-key.pem"), "EC PRIVATE KEY", kder)
}

// newCert makes a key and a certificate for name, signed by ca (self-signed
// when ca is nil). A name that is an IP address goes into the IP SANs.
func newCert(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, isCA bool) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
