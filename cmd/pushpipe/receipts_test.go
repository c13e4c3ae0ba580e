package main

import "testing"

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
			wantCommandError(t, tc.args, tc.wantErr)
		})
	}
}
