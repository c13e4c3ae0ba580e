package selfchannel

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// RecallPath is the recall API of the self-built connection gateway
// below a region's base URL (the protocol channels/selfchannel documents):
// POST {base}/v1/recall with "Authorization: Bearer <app key>" and
// {"appId": "…", "messages": [{"messageId": "…", "token": "…",
// "deliveryId": "…"}]} (1..MaxMessages). A 200 answer has one result
// per message, in order: {"deliveryId", "messageId", "status": "recalled"
// or "unknown", "reason"}. Errors of the whole call are those of /v1/push.
//
// The simulator answers "recalled" for a messageId it delivered to that
// token (any token when the message names none) and counts it (vendorsim.Simulator.Recalls);
// any other message is "unknown".
const RecallPath = "/v1/recall"

// Recall statuses of the self-built gateway.
const (
	StatusRecalled = "recalled"
	StatusUnknown  = "unknown"
)

// selfRecallRequest is the body of POST /v1/recall.
type selfRecallRequest struct {
	AppID    string `json:"appId"`
	Messages []struct {
		MessageID  string `json:"messageId"`
		Token      string `json:"token"`
		DeliveryID string `json:"deliveryId"`
	} `json:"messages"`
}

// recall is a /v1/recall call as read.
type recall struct {
	region    string
	req       selfRecallRequest
	readErr   error
	decodeErr error
	app       vendorsim.SelfApp
	authOK    bool
}

// readRecall reads POST /self/{region}/v1/recall; it is recorded like a
// push.
func (g *selfSim) readRecall(w http.ResponseWriter, r *http.Request, region string) (*recall, vendorsim.Arrival) {
	c := &recall{region: region}
	raw, readErr := simkit.ReadBody(w, r, g.cfg.MaxBodyBytes)
	c.readErr = readErr
	c.decodeErr = json.Unmarshal(raw, &c.req)
	tokens := make([]string, 0, len(c.req.Messages))
	for _, m := range c.req.Messages {
		tokens = append(tokens, m.Token)
	}
	c.app, c.authOK = g.app(r.Header.Get("Authorization"))
	appID := vendorsim.UnknownApp
	if c.authOK {
		appID = c.app.AppID
	}
	return c, vendorsim.Arrival{AppID: appID, Form: url.Values{"body": {string(raw)}}, Targets: tokens}
}

// injectedRecall answers a failure rule with a code as the gateway's
// "unavailable" error, one without as a bare HTML error.
func (g *selfSim) injectedRecall(f vendorsim.Failure) vendorsim.Answer {
	return vendorsim.InjectedAnswer(f, func(f vendorsim.Failure) vendorsim.Answer {
		return vendorsim.JSON(f.Status, selfError{Error: "unavailable", Message: "Injected failure", Code: f.Code})
	})
}

func (g *selfSim) authenticateRecall(_ *http.Request, c *recall) *vendorsim.Answer {
	if c.authOK {
		return nil
	}
	a := refuse(vendorsim.Rejected, http.StatusUnauthorized, selfError{Error: "unauthorized", Message: "unknown app key"})
	return &a
}

// answerRecall recalls each message: recalled, or unknown and why.
func (g *selfSim) answerRecall(_ *http.Request, c *recall) vendorsim.Answer {
	req := c.req
	switch {
	case simkit.TooBig(c.readErr):
		return refuse(vendorsim.Rejected, http.StatusRequestEntityTooLarge, selfError{Error: "payload_too_large",
			Message: fmt.Sprintf("request body over %d bytes", g.cfg.MaxBodyBytes)})
	case c.readErr != nil || c.decodeErr != nil:
		return refuse(vendorsim.Rejected, http.StatusBadRequest, selfError{Error: "bad_request", Message: "body is not a JSON recall request"})
	case req.AppID != c.app.AppID:
		return refuse(vendorsim.Rejected, http.StatusForbidden, selfError{Error: "forbidden", Message: fmt.Sprintf("appId %q is not the app of this key", req.AppID)})
	case len(req.Messages) == 0 || len(req.Messages) > MaxMessages:
		return refuse(vendorsim.Rejected, http.StatusBadRequest, selfError{Error: "bad_request",
			Message: fmt.Sprintf("%d messages, want 1..%d", len(req.Messages), MaxMessages)})
	}
	results := make([]selfResult, len(req.Messages))
	for i, m := range req.Messages {
		res := selfResult{DeliveryID: m.DeliveryID, MessageID: m.MessageID, Status: StatusUnknown}
		var only []string
		if m.Token != "" {
			only = []string{m.Token}
		}
		switch {
		case m.MessageID == "":
			res.Reason = "messageId is required"
		case len(g.s.Recall(vendorsim.VendorSelf, c.region, c.app.AppID, m.MessageID, only)) == 0:
			res.Reason = "no such message was delivered to this token"
		default:
			res.Status = StatusRecalled
		}
		results[i] = res
	}
	return g.results(results)
}
