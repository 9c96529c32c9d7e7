package pluginkit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"time"
)

// EnvTLSFD names the environment variable that tells a plugin which
// inherited file descriptor carries its TLS material (see NewMTLS).
const EnvTLSFD = "OORE_PLUGIN_TLS_FD"

// MTLS is one launch's mutual-TLS material: what the host keeps and what it
// hands the plugin.
//
// It is go-plugin's AutoMTLS done with fast keys. AutoMTLS has host and plugin
// each generate a P-521 certificate per launch (several milliseconds each, plus
// a P-521 handshake); here the host generates both ephemeral Ed25519
// certificates, keeps the client key, and passes the server's certificate and
// key — and its own client certificate to pin — to the plugin through an
// inherited pipe, never through the environment or the file system. Each side
// trusts exactly the other's certificate; both keys die with the launch.
type MTLS struct {
	// Host is the host's tls.Config for go-plugin's ClientConfig.TLSConfig.
	Host *tls.Config
	// Bundle is what the plugin reads from its inherited descriptor.
	Bundle []byte
}

type tlsBundle struct {
	ServerCert []byte `json:"server_cert"`
	ServerKey  []byte `json:"server_key"`
	ClientCert []byte `json:"client_cert"`
}

// NewMTLS generates one launch's certificates.
func NewMTLS() (*MTLS, error) {
	serverCert, serverKey, err := selfSigned("oore-plugin-server")
	if err != nil {
		return nil, err
	}
	clientCert, clientKey, err := selfSigned("oore-plugin-host")
	if err != nil {
		return nil, err
	}
	serverX509, err := x509.ParseCertificate(serverCert)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(serverX509)
	host := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{clientCert}, PrivateKey: clientKey}},
		RootCAs:      roots,
		ServerName:   "localhost",
		MinVersion:   tls.VersionTLS13,
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(serverKey)
	if err != nil {
		return nil, err
	}
	bundle, err := json.Marshal(tlsBundle{ServerCert: serverCert, ServerKey: keyDER, ClientCert: clientCert})
	if err != nil {
		return nil, err
	}
	return &MTLS{Host: host, Bundle: bundle}, nil
}

func selfSigned(cn string) ([]byte, ed25519.PrivateKey, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate plugin TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Oore plugin launch"}},
		DNSNames:              []string{"localhost"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create plugin TLS certificate: %w", err)
	}
	return der, key, nil
}

// serverTLSFromInheritedFD is the plugin side: when the host passed TLS
// material on a descriptor, build the server's tls.Config from it. It returns
// nil, nil when the host did not (go-plugin's own AutoMTLS then applies).
func serverTLSFromInheritedFD() (*tls.Config, error) {
	v := os.Getenv(EnvTLSFD)
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not an inherited descriptor", EnvTLSFD, v)
	}
	f := os.NewFile(uintptr(fd), "oore-plugin-tls")
	if f == nil {
		return nil, errors.New("plugin TLS descriptor is not open")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read plugin TLS material: %w", err)
	}
	var b tlsBundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("decode plugin TLS material: %w", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(b.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("parse plugin TLS key: %w", err)
	}
	client, err := x509.ParseCertificate(b.ClientCert)
	if err != nil {
		return nil, fmt.Errorf("parse host certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(client)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{b.ServerCert}, PrivateKey: key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
