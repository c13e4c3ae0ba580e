package selfchannel

import (
	"context"
	"fmt"
	"strings"

	"github.com/pushpipe/pushpipe/channels"
)

// RecallPath is the path of the gateway's recall API below the base URL.
const RecallPath = "/v1/recall"

// Recall statuses of the gateway API.
const (
	StatusRecalled = "recalled"
	StatusUnknown  = "unknown"
)

var _ channels.Recaller = (*Channel)(nil)

// RecallRequest is the body of POST /v1/recall.
type RecallRequest struct {
	AppID    string          `json:"appId"`
	Messages []RecallMessage `json:"messages"`
}

// RecallMessage names one message to withdraw: the messageId /v1/push
// answered for it and its token.
type RecallMessage struct {
	MessageID  string `json:"messageId"`
	Token      string `json:"token,omitempty"`
	DeliveryID string `json:"deliveryId,omitempty"`
}

// RecallAnswer is the 200 answer of POST /v1/recall.
type RecallAnswer struct {
	RequestID string         `json:"requestId"`
	Results   []RecallResult `json:"results"`
}

// RecallResult is the gateway's answer for one message of a recall.
type RecallResult struct {
	DeliveryID string `json:"deliveryId,omitempty"`
	MessageID  string `json:"messageId,omitempty"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
}

// RecallEndpoint returns the URL Recall posts to.
func (c *Channel) RecallEndpoint() string {
	return strings.TrimSuffix(c.cfg.BaseURL, "/") + RecallPath
}

// MaxRecallBatch returns Config.MaxBatch: one recall call carries the
// whole batch.
func (c *Channel) MaxRecallBatch() int { return c.cfg.MaxBatch }

// Recall implements channels.Recaller with one POST /v1/recall for the
// batch (see the package documentation). vendorMsgIDs[i] is the messageId
// Send returned for msgs[i]; a message without one gets a Permanent result
// without a call. When the call fails as a whole, Recall returns the
// whole-call error if every message was in the call, else the failure as
// each called message's result (Transient or Permanent).
func (c *Channel) Recall(ctx context.Context, msgs []channels.Message, vendorMsgIDs []string) ([]channels.Result, error) {
	appID, err := channels.CheckRecall(msgs, vendorMsgIDs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("recalling self channel batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	app, ok := c.cfg.Apps[appID]
	if !ok {
		return nil, fmt.Errorf("recalling self channel batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	endpoint := c.RecallEndpoint()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("recalling self channel batch for app %q: %w", appID, c.vendorErrAt(endpoint, 0, "", true, err))
	}
	results := make([]channels.Result, len(msgs))
	var idx []int
	req := RecallRequest{AppID: appID}
	for i, m := range msgs {
		if vendorMsgIDs[i] == "" {
			results[i] = channels.NotRecalled(channels.StatusNone, "NotRecalled: no gateway messageId to recall")
			continue
		}
		idx = append(idx, i)
		req.Messages = append(req.Messages, RecallMessage{MessageID: vendorMsgIDs[i], Token: m.Token, DeliveryID: m.DeliveryID})
	}
	err = channels.RunGroups(ctx, Name, channels.GroupBy(idx, func(int) string { return "" }), len(msgs), 1, results, func(g []int) error {
		var a RecallAnswer
		status, ve := c.postJSON(ctx, app, endpoint, req, &a)
		if ve != nil {
			return ve
		}
		if len(a.Results) != len(g) {
			return c.vendorErrAt(endpoint, status, fmt.Sprintf("answer has %d results for %d messages", len(a.Results), len(g)), true, nil)
		}
		for j, i := range g {
			results[i] = recallResult(a.Results[j])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recalling self channel batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	return results, nil
}

// recallResult maps the gateway's answer for one recalled message.
func recallResult(a RecallResult) channels.Result {
	switch a.Status {
	case StatusRecalled:
		return channels.Recalled("Recalled")
	case StatusUnknown:
		return channels.NotRecalled(channels.StatusNone, strings.TrimSuffix("NotRecalled: unknown message: "+a.Reason, ": "))
	}
	// An unknown status is not retried, so that it cannot cause a retry
	// storm; the status is kept in the description.
	return channels.NotRecalled(channels.StatusNone, fmt.Sprintf("NotRecalled: unknown gateway status %q %s", a.Status, a.Reason))
}
