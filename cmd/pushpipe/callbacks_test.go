package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCallbacksPublicKeyCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pushpipe.yaml")
	if err := os.WriteFile(cfgPath, []byte("stateDir: "+dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(append([]string{"callbacks", "public-key", "--config", cfgPath}, args...))
		err := root.Execute()
		return out.String(), err
	}
	var first string
	for _, tc := range []struct {
		scenario string
		args     []string
		wantErr  string
	}{
		{"no key yet", nil, "--create"},
		{"create it", []string{"--create"}, ""},
		{"read the stored key", nil, ""},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			out, err := run(tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode([]byte(out))
			if block == nil || block.Type != "PUBLIC KEY" {
				t.Fatalf("output is not a PUBLIC KEY PEM: %q", out)
			}
			if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
				t.Fatal(err)
			}
			if first == "" {
				first = out
			} else if out != first {
				t.Fatal("the stored key's public half differs from the one printed at creation")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "callbacks", "private_key.pem")); err != nil {
		t.Fatalf("key not stored at <stateDir>/callbacks/private_key.pem: %v", err)
	}
}

func TestCallbacksWorkerIsACommand(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\n  callbacks ") {
		t.Fatalf("--help does not list callbacks:\n%s", out.String())
	}
	root = newRoot()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"callbacks"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), `"region" not set`) {
		t.Fatalf("callbacks without --region: err = %v, want the missing region", err)
	}
}
