package config

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestSimulatorReceipts(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		body     string
		wantErr  string
		// wantURLs are the receipt URLs per region; wantRates the arrival,
		// open and ignore rates.
		wantURLs  map[string]string
		wantRates [3]float64
		wantDelay time.Duration
	}{
		{scenario: "dev: one receipts worker per region on consecutive ports, demo rates",
			body:      "regions: [sg, eu]\nvendors: {simulator: true}\nreceipts: {addr: 127.0.0.1:18100}\n",
			wantURLs:  map[string]string{"sg": "http://127.0.0.1:18100", "eu": "http://127.0.0.1:18101"},
			wantRates: [3]float64{0.9, 0.3, 0.5}},
		{scenario: "rates, delay and zero values read from YAML",
			body:      "regions: [sg]\nvendors: {simulator: true, simulatorReceipts: {arrivalRate: 1, openRate: 0, ignoreRate: 0.25, delay: 2s}}\n",
			wantURLs:  map[string]string{"sg": "http://127.0.0.1:18100"},
			wantRates: [3]float64{1, 0, 0.25}, wantDelay: 2 * time.Second},
		{scenario: "an unspecified listen host is reached on loopback",
			body:      "regions: [in]\nvendors: {simulator: true}\nreceipts: {addr: \"0.0.0.0:9100\"}\n",
			wantURLs:  map[string]string{"in": "http://127.0.0.1:9100"},
			wantRates: [3]float64{0.9, 0.3, 0.5}},
		{scenario: "port 0: the address is unknown, no receipts",
			body:      "regions: [sg]\nvendors: {simulator: true}\nreceipts: {addr: 127.0.0.1:0}\n",
			wantURLs:  map[string]string{},
			wantRates: [3]float64{0.9, 0.3, 0.5}},
		{scenario: "explicit URLs win",
			body:      "regions: [sg, eu]\nvendors: {simulator: true, simulatorReceipts: {urls: {eu: \"http://10.0.0.7:8085\"}}}\n",
			wantURLs:  map[string]string{"eu": "http://10.0.0.7:8085"},
			wantRates: [3]float64{0.9, 0.3, 0.5}},
		{scenario: "switched off",
			body:      "regions: [sg]\nvendors: {simulator: true, simulatorReceipts: {enabled: false}}\n",
			wantRates: [3]float64{0.9, 0.3, 0.5}},
		{scenario: "real vendors: no simulator, no receipts",
			body:      "regions: [sg]\n",
			wantRates: [3]float64{0.9, 0.3, 0.5}},
		{scenario: "rate over 1", body: "vendors: {simulator: true, simulatorReceipts: {openRate: 1.5}}\n",
			wantErr: "vendors.simulatorReceipts.openRate must be a fraction within 0..1, got 1.5"},
		{scenario: "negative rate", body: "vendors: {simulator: true, simulatorReceipts: {arrivalRate: -0.1}}\n",
			wantErr: "vendors.simulatorReceipts.arrivalRate"},
		{scenario: "negative delay", body: "vendors: {simulator: true, simulatorReceipts: {delay: -1s}}\n",
			wantErr: "vendors.simulatorReceipts.delay must not be negative"},
		{scenario: "URL of an unknown region", body: "vendors: {simulator: true, simulatorReceipts: {urls: {us: \"http://127.0.0.1:1\"}}}\n",
			wantErr: `vendors.simulatorReceipts.urls: "us" is not a region`},
		{scenario: "URL without a scheme", body: "vendors: {simulator: true, simulatorReceipts: {urls: {sg: \"127.0.0.1:1\"}}}\n",
			wantErr: "vendors.simulatorReceipts.urls.sg: want the receipts worker's base URL"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c, err := Load(write(t, tc.body))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := c.SimulatorReceiptURLs(); !maps.Equal(got, tc.wantURLs) || (tc.wantURLs == nil) != (got == nil) {
				t.Errorf("SimulatorReceiptURLs = %v, want %v", got, tc.wantURLs)
			}
			a, o, i := c.Vendors.SimulatorReceipts.Rates()
			if [3]float64{a, o, i} != tc.wantRates || c.Vendors.SimulatorReceipts.Delay != tc.wantDelay {
				t.Errorf("rates %v delay %s, want %v and %s", [3]float64{a, o, i}, c.Vendors.SimulatorReceipts.Delay, tc.wantRates, tc.wantDelay)
			}
		})
	}
}
