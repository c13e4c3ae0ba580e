package config

import (
	"fmt"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// AppApproval is an app's approval policy (apps[].approval): which of its
// pushes wait for a second operator's approval in the console before they
// are fanned out, and for how long. Absent: none waits.
type AppApproval struct {
	// Broadcast holds every BROADCAST of the app.
	Broadcast bool `yaml:"broadcast"`
	// MaxTargets, when above 0, holds every push naming more targets
	// (targetMsgkey or targetMsgs entries); a BROADCAST counts as above it.
	MaxTargets int `yaml:"maxTargets"`
	// Expiry is how long a held push waits for a decision before it
	// expires (default 24h, at most 7 days).
	Expiry time.Duration `yaml:"expiry"`
}

// Policy is the schema form of the section (nil: the zero policy).
func (a *AppApproval) Policy() schema.ApprovalPolicy {
	if a == nil {
		return schema.ApprovalPolicy{}
	}
	return schema.ApprovalPolicy{Broadcast: a.Broadcast, MaxTargets: a.MaxTargets, Expiry: a.Expiry}
}

// validate says what to fix in apps[i].approval.
func (a *AppApproval) validate(i int, appID string) error {
	if a == nil {
		return nil
	}
	where := fmt.Sprintf("apps[%d] (%s).approval", i, appID)
	switch {
	case a.MaxTargets < 0:
		return fmt.Errorf("%s.maxTargets is %d: give the number of targets above which a push waits for approval, or leave it out", where, a.MaxTargets)
	case !a.Broadcast && a.MaxTargets == 0:
		return fmt.Errorf("%s holds nothing: set broadcast: true and/or maxTargets above 0, or remove the section", where)
	case a.Expiry < 0:
		return fmt.Errorf("%s.expiry %s is negative: leave it out for the default %s", where, a.Expiry, schema.DefaultApprovalExpiry)
	case a.Expiry > 0 && a.Expiry < time.Minute:
		return fmt.Errorf("%s.expiry %s is shorter than a minute: give operators time to decide (default %s)", where, a.Expiry, schema.DefaultApprovalExpiry)
	case a.Expiry > schema.MaxApprovalExpiry:
		return fmt.Errorf("%s.expiry %s is longer than %s: a push should not wait that long", where, a.Expiry, schema.MaxApprovalExpiry)
	}
	return nil
}

// ApprovalPolicies returns the approval policy of every app that has one,
// by app id.
func (c *Config) ApprovalPolicies() map[string]schema.ApprovalPolicy {
	out := map[string]schema.ApprovalPolicy{}
	for _, a := range c.Apps {
		if a.Approval != nil {
			out[a.AppID] = a.Approval.Policy()
		}
	}
	return out
}
