package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReceiptsCommandNeedsRegion(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		args     []string
		wantErr  string
	}{
		{"no region", []string{"receipts"}, `required flag(s) "region" not set`},
		{"unknown region", []string{"receipts", "--region", "us"}, `--region "us"`},
		{"bad address", []string{"receipts", "--region", "sg", "--addr", "nowhere"}, `receipts.addr "nowhere"`},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			root := newRoot()
			root.SetArgs(tc.args)
			root.SetOut(&bytes.Buffer{})
			root.SetErr(&bytes.Buffer{})
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
