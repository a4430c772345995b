// Package redistls reads the TLS parameters of corral's Redis URLs
// (ca_file, cert_file, key_file, skip_verify) into a tls.Config: one home
// for redisstore.NewClient's rediss:// and config's rediss+sentinel://.
package redistls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Params are the names of the URL parameters Apply reads.
var Params = []string{"ca_file", "cert_file", "key_file", "skip_verify"}

// Apply applies the TLS parameters among params (a URL's query, by name) to
// cfg, which is nil for a URL without TLS: then any such parameter is an
// error. The errors name parameters and files, never a key.
func Apply(cfg *tls.Config, params map[string]string) error {
	caFile, ca := params["ca_file"]
	certFile, cert := params["cert_file"]
	keyFile, key := params["key_file"]
	skipVerify, skip := params["skip_verify"]
	if cfg == nil {
		if ca || cert || key || skip {
			return errors.New("ca_file, cert_file, key_file and skip_verify need a URL with TLS (rediss)")
		}
		return nil
	}
	if skip {
		b, err := strconv.ParseBool(skipVerify)
		if err != nil {
			return fmt.Errorf("skip_verify %q is not a boolean", skipVerify)
		}
		cfg.InsecureSkipVerify = b
	}
	if ca {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if cert != key {
		return errors.New("cert_file and key_file go together")
	}
	if cert {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return nil
}
