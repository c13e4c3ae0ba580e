package vendorsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// SelfRecallPath is the recall API of the self-built connection gateway
// below a region's base URL (the protocol channels/selfchannel documents):
// POST {base}/v1/recall with "Authorization: Bearer <app key>" and
// {"appId": "…", "messages": [{"messageId": "…", "token": "…",
// "deliveryId": "…"}]} (1..SelfMaxMessages). A 200 answer has one result
// per message, in order: {"deliveryId", "messageId", "status": "recalled"
// or "unknown", "reason"}. Errors of the whole call are those of /v1/push.
//
// The simulator answers "recalled" for a messageId it delivered to that
// token (any token when the message names none) and counts it (Recalls);
// any other message is "unknown".
const SelfRecallPath = "/v1/recall"

// Recall statuses of the self-built gateway.
const (
	SelfStatusRecalled = "recalled"
	SelfStatusUnknown  = "unknown"
)

// selfRecallable returns the tokens an accepted /v1/push call delivered
// to, each under the messageId of its result.
func selfRecallable(rec *Request) []recallable {
	if !strings.HasSuffix(rec.Path, "/v1/push") {
		return nil
	}
	var a struct {
		Results []selfResult `json:"results"`
	}
	if json.Unmarshal([]byte(rec.Body), &a) != nil || len(a.Results) != len(rec.RegIDs) {
		return nil
	}
	var out []recallable
	for i, res := range a.Results {
		if res.Status == "delivered" && res.MessageID != "" {
			out = append(out, recallable{id: res.MessageID, token: rec.RegIDs[i]})
		}
	}
	return out
}

// selfRecallRequest is the body of POST /v1/recall.
type selfRecallRequest struct {
	AppID    string `json:"appId"`
	Messages []struct {
		MessageID  string `json:"messageId"`
		Token      string `json:"token"`
		DeliveryID string `json:"deliveryId"`
	} `json:"messages"`
}

// handleRecall serves POST /self/{region}/v1/recall.
func (g *selfSim) handleRecall(w http.ResponseWriter, r *http.Request) {
	s := g.s
	region := r.PathValue("region")
	if !g.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	var req selfRecallRequest
	decodeErr := json.Unmarshal(raw, &req)
	tokens := make([]string, 0, len(req.Messages))
	for _, m := range req.Messages {
		tokens = append(tokens, m.Token)
	}
	app, authOK := g.app(r.Header.Get("Authorization"))
	appID := UnknownApp
	if authOK {
		appID = app.AppID
	}
	rec, ok := s.beginRecall(w, r, VendorSelf, region, appID, "", url.Values{"body": {string(raw)}}, tokens,
		func(w http.ResponseWriter, f Failure) string {
			return writeSelfError(w, f.Status, selfError{Error: "unavailable", Message: "Injected failure", Code: f.Code})
		})
	if !ok {
		return
	}
	refuse := func(status int, e selfError) {
		body := writeSelfError(w, status, e)
		s.finish(rec, status, 0, body, outRejected, nil, nil)
	}
	var tooBig *http.MaxBytesError
	switch {
	case !authOK:
		refuse(http.StatusUnauthorized, selfError{Error: "unauthorized", Message: "unknown app key"})
		return
	case errors.As(readErr, &tooBig):
		refuse(http.StatusRequestEntityTooLarge, selfError{Error: "payload_too_large",
			Message: fmt.Sprintf("request body over %d bytes", g.cfg.MaxBodyBytes)})
		return
	case readErr != nil || decodeErr != nil:
		refuse(http.StatusBadRequest, selfError{Error: "bad_request", Message: "body is not a JSON recall request"})
		return
	case req.AppID != app.AppID:
		refuse(http.StatusForbidden, selfError{Error: "forbidden", Message: fmt.Sprintf("appId %q is not the app of this key", req.AppID)})
		return
	case len(req.Messages) == 0 || len(req.Messages) > SelfMaxMessages:
		refuse(http.StatusBadRequest, selfError{Error: "bad_request",
			Message: fmt.Sprintf("%d messages, want 1..%d", len(req.Messages), SelfMaxMessages)})
		return
	}
	results := make([]selfResult, len(req.Messages))
	for i, m := range req.Messages {
		res := selfResult{DeliveryID: m.DeliveryID, MessageID: m.MessageID, Status: SelfStatusUnknown}
		var only []string
		if m.Token != "" {
			only = []string{m.Token}
		}
		switch {
		case m.MessageID == "":
			res.Reason = "messageId is required"
		case len(s.recall(VendorSelf, region, app.AppID, m.MessageID, only)) == 0:
			res.Reason = "no such message was delivered to this token"
		default:
			res.Status = SelfStatusRecalled
		}
		results[i] = res
	}
	n, letters := s.nextID()
	body := writeJSON(w, http.StatusOK, struct {
		RequestID string       `json:"requestId"`
		Results   []selfResult `json:"results"`
	}{fmt.Sprintf("req%017d%s", n, letters), results})
	s.finish(rec, http.StatusOK, 0, body, outAccepted, nil, nil)
}
