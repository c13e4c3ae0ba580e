package app

import (
	"context"
	"fmt"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/approval"
	"github.com/pushpipe/pushpipe/workers/fanout"
)

// fanoutApprovals returns the approval policies of the configured apps and,
// when any app has one, the reader of push.approvals.<region> fanout's
// gate reads, with prepare extended to start it (and stop it when the
// stage ends). Without a policy it returns prepare unchanged.
func fanoutApprovals(region string, d Deps, prepare func(context.Context) (func(), error)) (map[string]schema.ApprovalPolicy, fanout.Approvals, func(context.Context) (func(), error), error) {
	policies := d.Cfg.ApprovalPolicies()
	if len(policies) == 0 {
		return nil, nil, prepare, nil
	}
	r, err := approval.NewReader(approval.ReaderConfig{Brokers: d.Brokers, Security: d.KafkaSecurity, Region: region,
		Logger: d.Log.With().Str("region", region).Str("component", "approvals").Logger()})
	if err != nil {
		return nil, nil, nil, err
	}
	both := func(ctx context.Context) (func(), error) {
		var stop func()
		if prepare != nil {
			var err error
			if stop, err = prepare(ctx); err != nil {
				_ = r.Close()
				return nil, err
			}
		}
		if err := r.Start(ctx); err != nil {
			_ = r.Close()
			if stop != nil {
				stop()
			}
			return nil, err
		}
		return func() {
			_ = r.Close()
			if stop != nil {
				stop()
			}
		}, nil
	}
	return policies, r, both, nil
}

// NewApprovalSweeper builds the approval flow's sweeper of one region
// (expiries, re-publishing decided requests), writing through d.Producer.
// The scheduler worker runs it beside the scheduler.
func NewApprovalSweeper(region string, d Deps) (*approval.Sweeper, error) {
	s, err := approval.NewSweeper(approval.SweeperConfig{Producer: d.Producer,
		Reader: approval.ReaderConfig{Brokers: d.Brokers, Security: d.KafkaSecurity, Region: region, Logger: d.Log}})
	if err != nil {
		return nil, fmt.Errorf("building the approval sweeper for region %s: %w", region, err)
	}
	return s, nil
}
