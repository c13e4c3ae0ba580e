package channels

import (
	"crypto/x509"
	"fmt"
	"os"
)

// TrustedRoots returns the certificate authorities a channel trusts for
// its vendor's TLS endpoints: roots (nil: the system's) plus the PEM
// certificates of caFile when it is set (such as the vendor simulator's
// CA, <stateDir>/vendorsim-ca.pem). Without caFile it returns roots as
// given (nil keeps crypto/tls's default, the system roots); with it, a new
// pool, leaving roots unchanged. It fails, naming caFile, when the file
// cannot be read or holds no PEM certificate.
func TrustedRoots(roots *x509.CertPool, caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return roots, nil
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading caFile: %w", err)
	}
	if roots == nil {
		if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
	} else {
		roots = roots.Clone()
	}
	if !roots.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("caFile %s holds no PEM certificate", caFile)
	}
	return roots, nil
}
