package config

import (
	"strings"
	"testing"
)

func TestReceiptsAddresses(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		addr     string
		regions  []string
		want     []string
		wantErr  string
	}{
		{"default: consecutive ports from 18100", "", []string{"cn", "ru", "in", "eu", "sg"},
			[]string{"127.0.0.1:18100", "127.0.0.1:18101", "127.0.0.1:18102", "127.0.0.1:18103", "127.0.0.1:18104"}, ""},
		{"free ports stay free", "127.0.0.1:0", []string{"sg", "eu"}, []string{"127.0.0.1:0", "127.0.0.1:0"}, ""},
		{"no port", "localhost", []string{"sg"}, nil, "receipts.addr"},
		{"no room for every region", "127.0.0.1:65535", []string{"sg", "eu"}, nil, "room for 2 consecutive ports"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := &Config{Regions: tc.regions, Receipts: ReceiptsConfig{Addr: tc.addr}}
			c.Defaults()
			err := c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if got := c.ReceiptsAddr(i); got != w {
					t.Errorf("ReceiptsAddr(%d) = %s, want %s", i, got, w)
				}
			}
		})
	}
}
