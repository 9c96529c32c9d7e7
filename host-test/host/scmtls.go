package host

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// SCMTLSFromPEM builds the TLS settings for SCM hosts from a PEM CA bundle
// (may be empty) and the operator's explicit choice to skip verification.
// A bundle without a single certificate is refused, so a wrong file is
// noticed at start rather than as failed connections later.
func SCMTLSFromPEM(caBundle []byte, insecureSkipVerify bool) (*scmv1.TLSSettings, error) {
	if len(caBundle) == 0 && !insecureSkipVerify {
		return nil, nil
	}
	if len(caBundle) > 0 && !x509.NewCertPool().AppendCertsFromPEM(caBundle) {
		return nil, fmt.Errorf("SCM CA bundle holds no PEM certificate")
	}
	return &scmv1.TLSSettings{CaBundlePem: caBundle, InsecureSkipVerify: insecureSkipVerify}, nil
}

// scmTLSConfig is the client TLS configuration for the host's own calls to
// SCM hosts (the checkout proxy's upstream): the system roots plus the
// configured CA bundle, TLS 1.2 or newer.
func scmTLSConfig(s *scmv1.TLSSettings) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s == nil {
		return cfg
	}
	if len(s.GetCaBundlePem()) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(s.GetCaBundlePem())
		cfg.RootCAs = pool
	}
	cfg.InsecureSkipVerify = s.GetInsecureSkipVerify() //nolint:gosec // only when the operator asked for it
	return cfg
}
