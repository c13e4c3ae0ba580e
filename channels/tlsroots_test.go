package channels_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/channels"
)

func TestTrustedRoots(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	given := x509.NewCertPool()
	verifies := func(p *x509.CertPool) bool {
		_, err := srv.Certificate().Verify(x509.VerifyOptions{Roots: p})
		return err == nil
	}
	for _, tc := range []struct {
		scenario     string
		roots        *x509.CertPool
		caFile       string
		wantErr      string
		wantVerifies bool
	}{
		{scenario: "no file keeps the system roots", roots: nil, caFile: ""},
		{scenario: "the CA file is added to the system roots", roots: nil, caFile: caFile, wantVerifies: true},
		{scenario: "the CA file is added to the given roots", roots: given, caFile: caFile, wantVerifies: true},
		{scenario: "a missing file", caFile: caFile + ".missing", wantErr: "reading caFile"},
		{scenario: "a file without a certificate", caFile: notPEM, wantErr: "holds no PEM certificate"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got, err := channels.TrustedRoots(tc.roots, tc.caFile)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.caFile == "" && got != tc.roots {
				t.Errorf("without a CA file the roots changed: %p, want %p", got, tc.roots)
			}
			if tc.wantVerifies && !verifies(got) {
				t.Error("the CA file's certificate is not trusted")
			}
		})
	}
	if verifies(given) {
		t.Error("TrustedRoots changed the pool it was given")
	}
}
