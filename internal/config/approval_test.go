package config

import (
	"strings"
	"testing"
	"time"
)

func TestAppApprovalValidate(t *testing.T) {
	tests := []struct {
		scenario string
		a        *AppApproval
		want     string // "" = valid
	}{
		{"absent", nil, ""},
		{"broadcast", &AppApproval{Broadcast: true}, ""},
		{"targets with an expiry", &AppApproval{MaxTargets: 50, Expiry: 2 * time.Hour}, ""},
		{"holds nothing", &AppApproval{}, "holds nothing: set broadcast: true and/or maxTargets"},
		{"negative targets", &AppApproval{MaxTargets: -1}, "maxTargets is -1"},
		{"negative expiry", &AppApproval{Broadcast: true, Expiry: -time.Hour}, "expiry -1h0m0s is negative"},
		{"too short", &AppApproval{Broadcast: true, Expiry: time.Second}, "shorter than a minute"},
		{"too long", &AppApproval{Broadcast: true, Expiry: 8 * 24 * time.Hour}, "longer than 168h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			err := tt.a.validate(0, "app")
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "apps[0] (app).approval")):
				t.Fatalf("got %v, want an error naming apps[0] (app).approval and containing %q", err, tt.want)
			}
		})
	}
	p := (&AppApproval{Broadcast: true}).Policy()
	if !p.Broadcast || p.ExpiryOrDefault() != 24*time.Hour {
		t.Errorf("policy %+v, want broadcast with the 24h default", p)
	}
}
