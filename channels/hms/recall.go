package hms

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/internal/pushkit"
)

// RevokePath is the path of Push Kit's message revocation below
// /v1/{appId}.
const RevokePath = "/messages:revoke"

// PushTypeNotification is the push-type header of a revocation of
// notification messages.
const PushTypeNotification = "0"

var _ channels.Recaller = (*Channel)(nil)

// notifyID returns the android.notification.notify_id of m: its
// ExtraNotifyID extra, else channels.NotifyID(m.MsgID); an error names an
// extra that is not an integer.
func notifyID(m channels.Message) (int, error) {
	v := m.Extras[ExtraNotifyID]
	if v == "" {
		v = m.Extras[channels.ExtraNotifyID]
	}
	if v == "" {
		return channels.NotifyID(m.MsgID), nil
	}
	id, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", ExtraNotifyID, v)
	}
	return id, nil
}

// RevokeRequest is the body of a messages:revoke call.
type RevokeRequest = pushkit.RevokeRequest

// RecallEndpoint returns the URL Recall posts the revocations of appID
// to, or "" for an unknown app.
func (c *Channel) RecallEndpoint(appID string) string {
	st, ok := c.apps[appID]
	if !ok {
		return ""
	}
	return strings.TrimSuffix(c.cfg.BaseURL, "/") + "/v1/" + url.PathEscape(st.app.AppID) + RevokePath
}

// MaxRecallBatch returns Config.MaxBatch: one revocation takes up to 1000
// tokens.
func (c *Channel) MaxRecallBatch() int { return c.cfg.MaxBatch }

// Recall implements channels.Recaller. Push Kit revokes by notify_id and
// token, so vendorMsgIDs are only checked for alignment: the messages that
// share a notify_id go in one messages:revoke call (at most
// Config.MaxConcurrentCalls at once), and the answer of that call is the
// result of each of them. Messages without a token, with a malformed one
// or an invalid notify id extra, and pass-through messages (Push Kit
// revokes notifications only) get a Permanent result without a call.
//
// Code 80000000 is Success; a refusal of the request (an unknown
// notify_id, a parameter error) is Permanent with Huawei's code; refused
// credentials are a whole-call permanent error (an access token Push Kit
// refuses is replaced once first); 81000001, 429 and 5xx answers are
// transient, as for Send.
func (c *Channel) Recall(ctx context.Context, msgs []channels.Message, vendorMsgIDs []string) ([]channels.Result, error) {
	appID, err := channels.CheckRecall(msgs, vendorMsgIDs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("recalling hms batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	st, ok := c.apps[appID]
	if !ok {
		return nil, fmt.Errorf("recalling hms batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	endpoint := c.RecallEndpoint(appID)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("recalling hms batch for app %q: %w", appID, c.caller.Err(endpoint, 0, 0, "", true, err))
	}
	results, err := c.caller.Revoke(ctx, st.tokens, endpoint, msgs, pushkit.RevokeSpec{
		BadTokenChars: " \t\r\n,\"", TokenName: "Huawei push token",
		PassThroughDesc: "RecallUnsupported: Push Kit revokes notification messages only", BadExtraCode: CodeIllegalPayload, NotifyID: notifyID,
		Header: http.Header{"Push-Type": {PushTypeNotification}}, MaxConcurrent: c.cfg.MaxConcurrentCalls,
		Classify: func(code int) (ok, callTransient, callPermanent bool) {
			k := classify(code)
			return k == kindOK, k == kindCallTransient, k == kindCallPermanent
		},
	})
	if err != nil {
		return nil, fmt.Errorf("recalling hms batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	return results, nil
}
