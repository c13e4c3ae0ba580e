package mipush

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/pushpipe/pushpipe/channels"
)

// RevokePath is the path of MiPush's revoke-by-regId API below the base
// URL.
const RevokePath = "/v3/message/regid/revoke"

var _ channels.Recaller = (*Channel)(nil)

// notifyID returns the notify_id of m's notification: its
// channels.ExtraMiPushNotifyID extra, else channels.NotifyID(m.MsgID).
func notifyID(m channels.Message) string {
	if v := m.Extras[channels.ExtraMiPushNotifyID]; v != "" {
		return v
	}
	if v := m.Extras[channels.ExtraNotifyID]; v != "" {
		return v
	}
	return strconv.Itoa(channels.NotifyID(m.MsgID))
}

// RecallEndpoint returns the URL Recall posts to.
func (c *Channel) RecallEndpoint() string {
	return strings.TrimSuffix(c.cfg.BaseURL, "/") + RevokePath
}

// MaxRecallBatch returns Config.MaxBatch: one revoke call takes up to 1000
// regIds.
func (c *Channel) MaxRecallBatch() int { return c.cfg.MaxBatch }

// RevokeForm returns the form of the revoke call for msgs, which must
// share one notify_id. It is what Recall posts; exported for tests and
// tooling.
func RevokeForm(app App, msgs []channels.Message) url.Values {
	tokens := make([]string, len(msgs))
	for i := range msgs {
		tokens[i] = msgs[i].Token
	}
	return url.Values{
		"registration_ids":        {strings.Join(tokens, ",")},
		"restricted_package_name": {app.PackageName},
		"notify_id":               {notifyID(msgs[0])},
	}
}

// Recall implements channels.Recaller. MiPush revokes by regId and
// notify_id, so vendorMsgIDs are only checked for alignment: the messages
// of msgs that share a notify_id go in one call (at most
// Config.MaxConcurrentCalls at once), and the answer of that call is the
// result of each of them. Messages without a token, with a malformed one,
// or pass-through (never shown, so MiPush has nothing to remove) get a
// Permanent result without a call.
//
// Answer code 0 is Success; a refusal of the messages (an unknown
// notify_id or regId, a parameter error) is Permanent with MiPush's code;
// refused credentials are a whole-call permanent error; throttling and
// MiPush-side failures are transient, as for Send.
func (c *Channel) Recall(ctx context.Context, msgs []channels.Message, vendorMsgIDs []string) ([]channels.Result, error) {
	appID, err := channels.CheckRecall(msgs, vendorMsgIDs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("recalling mipush batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	app, ok := c.cfg.Apps[appID]
	if !ok {
		return nil, fmt.Errorf("recalling mipush batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	endpoint := c.RecallEndpoint()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("recalling mipush batch for app %q: %w", appID, c.vendorErrAt(endpoint, 0, 0, "", true, err))
	}
	results := make([]channels.Result, len(msgs))
	var idx []int
	for i, m := range msgs {
		switch {
		case m.Token == "":
			results[i] = channels.NotRecalled(channels.StatusMissingDeviceToken, "MissingDeviceToken")
		case strings.ContainsAny(m.Token, ", \t\r\n"):
			results[i] = channels.NotRecalled(channels.StatusBadDeviceToken, "BadDeviceToken: malformed regId")
		case m.PassThrough:
			results[i] = channels.NotRecalled(channels.StatusNone, "RecallUnsupported: MiPush revokes notifications; a pass-through message is never shown")
		default:
			idx = append(idx, i)
		}
	}
	groups := channels.GroupBy(idx, func(i int) string { return notifyID(msgs[i]) })
	err = channels.RunGroups(ctx, Name, groups, len(msgs), c.cfg.MaxConcurrentCalls, results, func(g []int) error {
		return c.revokeGroup(ctx, app, endpoint, msgs, g, results)
	})
	if err != nil {
		return nil, fmt.Errorf("recalling mipush batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	return results, nil
}

// revokeGroup makes the revoke call of one group and fills its results,
// or returns the call's error (a *channels.VendorError).
func (c *Channel) revokeGroup(ctx context.Context, app App, endpoint string, msgs []channels.Message, g []int, results []channels.Result) error {
	gm := make([]channels.Message, len(g))
	for j, i := range g {
		gm[j] = msgs[i]
	}
	a, err := c.post(ctx, app, endpoint, RevokeForm(app, gm))
	if err != nil {
		return err
	}
	var r channels.Result
	switch classify(a.Code) {
	case kindOK:
		r = channels.Recalled("Recalled")
	case kindCallTransient, kindCallPermanent:
		return c.callError(endpoint, a)
	default:
		r = channels.NotRecalled(a.Code, fmt.Sprintf("NotRecalled: mipush code %d: %s", a.Code, a.explain()))
	}
	for _, i := range g {
		results[i] = r
	}
	return nil
}
