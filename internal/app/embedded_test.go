package app

import (
	"maps"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/internal/config"
)

func TestSimulatorConfigReceipts(t *testing.T) {
	off, rate := false, 0.25
	for _, tc := range []struct {
		scenario string
		cfg      config.Config
		want     vendorsim.ReceiptsConfig
	}{
		{scenario: "pushpipe dev: every region's receipts worker, demo rates",
			cfg: config.Config{Regions: []string{"sg", "eu"}, Receipts: config.ReceiptsConfig{Addr: "127.0.0.1:18100"},
				Vendors: config.VendorsConfig{Simulator: true}},
			want: vendorsim.ReceiptsConfig{URLs: map[string]string{"sg": "http://127.0.0.1:18100", "eu": "http://127.0.0.1:18101"},
				ArrivalRate: 0.9, OpenRate: 0.3, IgnoreRate: 0.5}},
		{scenario: "configured rates and delay",
			cfg: config.Config{Regions: []string{"ru"}, Receipts: config.ReceiptsConfig{Addr: "127.0.0.1:9000"},
				Vendors: config.VendorsConfig{Simulator: true, SimulatorReceipts: config.SimulatorReceipts{
					ArrivalRate: &rate, OpenRate: &rate, IgnoreRate: &rate, Delay: time.Second}}},
			want: vendorsim.ReceiptsConfig{URLs: map[string]string{"ru": "http://127.0.0.1:9000"},
				ArrivalRate: 0.25, OpenRate: 0.25, IgnoreRate: 0.25, Delay: vendorsim.Duration(time.Second)}},
		{scenario: "receipts switched off",
			cfg: config.Config{Regions: []string{"sg"}, Receipts: config.ReceiptsConfig{Addr: "127.0.0.1:18100"},
				Vendors: config.VendorsConfig{Simulator: true, SimulatorReceipts: config.SimulatorReceipts{Enabled: &off}}}},
		{scenario: "receipts workers on free ports: addresses unknown",
			cfg: config.Config{Regions: []string{"sg"}, Receipts: config.ReceiptsConfig{Addr: "127.0.0.1:0"},
				Vendors: config.VendorsConfig{Simulator: true}}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Defaults()
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := SimulatorConfig(&cfg).Receipts
			if !maps.Equal(got.URLs, tc.want.URLs) || got.ArrivalRate != tc.want.ArrivalRate || got.OpenRate != tc.want.OpenRate ||
				got.IgnoreRate != tc.want.IgnoreRate || got.Delay != tc.want.Delay {
				t.Errorf("receipts config %+v, want %+v", got, tc.want)
			}
			sim, err := allvendors.New(SimulatorConfig(&cfg))
			if err != nil {
				t.Fatalf("the simulator refuses the configuration: %v", err)
			}
			sim.Close()
		})
	}
}
