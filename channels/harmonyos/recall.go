package harmonyos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/pushpipe/pushpipe/channels"
)

// RevokePath is the path of Push Kit's message revocation below
// /v1/{clientId}.
const RevokePath = "/messages:revoke"

var _ channels.Recaller = (*Channel)(nil)

// notifyID returns the payload.notification.notifyId of m: its
// ExtraNotifyID extra, else channels.NotifyID(m.MsgID); an error names an
// extra that is not an integer in 0..channels.MaxNotifyID.
func notifyID(m channels.Message) (int, error) {
	v := m.Extras[ExtraNotifyID]
	if v == "" {
		return channels.NotifyID(m.MsgID), nil
	}
	id, err := strconv.Atoi(v)
	if err != nil || id < 0 || id > channels.MaxNotifyID {
		return 0, fmt.Errorf("%s %q is not an integer in 0..%d", ExtraNotifyID, v, channels.MaxNotifyID)
	}
	return id, nil
}

// RevokeRequest is the body of a messages:revoke call.
type RevokeRequest struct {
	NotifyID int      `json:"notifyId"`
	Token    []string `json:"token"`
}

// RecallEndpoint returns the URL Recall posts the revocations of appID
// to, or "" for an unknown app.
func (c *Channel) RecallEndpoint(appID string) string {
	st, ok := c.apps[appID]
	if !ok {
		return ""
	}
	return strings.TrimSuffix(c.cfg.BaseURL, "/") + "/v1/" + url.PathEscape(st.app.ClientID) + RevokePath
}

// MaxRecallBatch returns Config.MaxBatch: one revocation takes up to 1000
// tokens.
func (c *Channel) MaxRecallBatch() int { return c.cfg.MaxBatch }

// Recall implements channels.Recaller. Push Kit revokes by notifyId and
// token, so vendorMsgIDs are only checked for alignment: the messages that
// share a notifyId go in one messages:revoke call (push-type 0, at most
// Config.MaxConcurrentCalls calls at once), and the answer of that call is
// the result of each of them. Messages without a token, with a malformed
// one or an invalid notify id extra, and pass-through messages (Push Kit
// revokes notifications and voice broadcasts only) get a Permanent result
// without a call.
//
// Code 80000000 is Success; a refusal of the request (an unknown notifyId,
// a parameter error) is Permanent with Push Kit's code; a refused JWT is a
// whole-call permanent error (after one renewal); 81000001, 429 and 5xx
// answers are transient, as for Send.
func (c *Channel) Recall(ctx context.Context, msgs []channels.Message, vendorMsgIDs []string) ([]channels.Result, error) {
	appID, err := channels.CheckRecall(msgs, vendorMsgIDs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("recalling harmonyos batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	st, ok := c.apps[appID]
	if !ok {
		return nil, fmt.Errorf("recalling harmonyos batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	endpoint := c.RecallEndpoint(appID)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("recalling harmonyos batch for app %q: %w", appID, c.vendorErr(endpoint, 0, 0, "", true, err))
	}
	results := make([]channels.Result, len(msgs))
	ids := make([]int, len(msgs))
	var idx []int
	for i, m := range msgs {
		id, err := notifyID(m)
		switch {
		case m.Token == "":
			results[i] = channels.NotRecalled(channels.StatusMissingDeviceToken, "MissingDeviceToken")
		case strings.ContainsAny(m.Token, " \t\r\n,\""):
			results[i] = channels.NotRecalled(channels.StatusBadDeviceToken, "BadDeviceToken: malformed HarmonyOS push token")
		case m.PassThrough:
			results[i] = channels.NotRecalled(channels.StatusNone, "RecallUnsupported: Push Kit revokes notification messages only, not background messages")
		case err != nil:
			results[i] = channels.NotRecalled(CodeIllegalPayload, "IllegalPayload: "+err.Error())
		default:
			ids[i] = id
			idx = append(idx, i)
		}
	}
	groups := channels.GroupBy(idx, func(i int) string { return strconv.Itoa(ids[i]) })
	err = channels.RunGroups(ctx, Name, groups, len(msgs), c.cfg.MaxConcurrentCalls, results, func(g []int) error {
		req := RevokeRequest{NotifyID: ids[g[0]], Token: make([]string, len(g))}
		for j, i := range g {
			req.Token[j] = msgs[i].Token
		}
		return c.revokeGroup(ctx, st, endpoint, req, g, results)
	})
	if err != nil {
		return nil, fmt.Errorf("recalling harmonyos batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	return results, nil
}

// revokeGroup makes the revocation of one group and fills its results, or
// returns the call's error (a *channels.VendorError).
func (c *Channel) revokeGroup(ctx context.Context, st *appState, endpoint string, req RevokeRequest, g []int, results []channels.Result) error {
	body, err := json.Marshal(req)
	if err != nil {
		return c.vendorErr(endpoint, 0, 0, "", false, fmt.Errorf("encoding revocation: %w", err))
	}
	rep, err := c.authorizedPost(ctx, st, endpoint, body, PushTypeAlert)
	if err != nil {
		return err
	}
	a, code := rep.answer, rep.answer.code()
	if ve := c.callError(endpoint, rep.status, code, &a, rep.header); ve != nil {
		return ve
	}
	r := channels.Recalled("Recalled")
	if classify(code) != kindOK {
		r = channels.NotRecalled(code, fmt.Sprintf("NotRecalled: harmonyos code %d (http %d): %s", code, rep.status, a.explain()))
	}
	for _, i := range g {
		results[i] = r
	}
	return nil
}
