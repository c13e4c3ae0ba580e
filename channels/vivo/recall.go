package vivo

import (
	"context"
	"fmt"

	"github.com/pushpipe/pushpipe/channels"
)

// RecallPath is the path of vivo's message recall (撤回) below the base
// URL.
const RecallPath = "/message/recall"

var _ channels.Recaller = (*Channel)(nil)

// RecallRequest is the body of a recall call: the taskId that send or
// pushToList answered.
type RecallRequest struct {
	TaskID string `json:"taskId"`
}

// MaxRecallBatch returns Config.MaxBatch. A recall names one taskId, so a
// batch makes one call per distinct vendor message id.
func (c *Channel) MaxRecallBatch() int { return c.cfg.MaxBatch }

// Recall implements channels.Recaller with vivo's recall API: POST
// {base}/message/recall with the authToken header and {"taskId": "…"},
// answered {"result","desc"}. vendorMsgIDs[i] is the taskId Send returned
// for msgs[i]. The messages that share a taskId go in one call (at most
// Config.MaxConcurrentCalls at once) and the answer is the result of each
// of them. vivo withdraws the task from every regId it went to: a list
// push is recalled as a whole, also for regIds that are not in msgs. A
// message without a taskId gets a Permanent result without a call.
//
// Result 0 is Success; refused credentials are a whole-call permanent
// error (an authToken vivo refuses is replaced once first); quota, rate
// and vivo-side failures are transient; any other result (an unknown or
// expired taskId, a parameter error) is Permanent with vivo's code.
func (c *Channel) Recall(ctx context.Context, msgs []channels.Message, vendorMsgIDs []string) ([]channels.Result, error) {
	appID, err := channels.CheckRecall(msgs, vendorMsgIDs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("recalling vivo batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	ts, ok := c.tokens[appID]
	if !ok {
		return nil, fmt.Errorf("recalling vivo batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("recalling vivo batch for app %q: %w", appID, c.vendorErr(RecallPath, 0, 0, "", true, err))
	}
	results := make([]channels.Result, len(msgs))
	var idx []int
	for i, id := range vendorMsgIDs {
		if id == "" {
			results[i] = channels.NotRecalled(channels.StatusNone, "NotRecalled: no vivo taskId to recall")
			continue
		}
		idx = append(idx, i)
	}
	groups := channels.GroupBy(idx, func(i int) string { return vendorMsgIDs[i] })
	err = channels.RunGroups(ctx, Name, groups, len(msgs), c.cfg.MaxConcurrentCalls, results, func(g []int) error {
		a, err := c.callWithToken(ctx, ts, RecallPath, RecallRequest{TaskID: vendorMsgIDs[g[0]]})
		if err != nil {
			return err
		}
		r := channels.Recalled("Recalled")
		switch classify(a.Result) {
		case kindOK:
		case kindCallTransient, kindCallPermanent, kindAuthToken:
			return c.failure(RecallPath, a, g, results)
		default:
			r = channels.NotRecalled(a.Result, fmt.Sprintf("NotRecalled: vivo result %d %s: %s", a.Result, codeName(a.Result), a.Desc))
		}
		for _, i := range g {
			results[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recalling vivo batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	return results, nil
}
