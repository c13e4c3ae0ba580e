package selfchannel

import (
	"net/http"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
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

// readRecall reads POST /self/{region}/v1/recall.
func (g *sim) readRecall(w http.ResponseWriter, r *http.Request, region string) (*call[selfRecallRequest], vendorsim.Arrival) {
	return readCall(g, w, r, region, func(req selfRecallRequest) []string {
		tokens := make([]string, 0, len(req.Messages))
		for _, m := range req.Messages {
			tokens = append(tokens, m.Token)
		}
		return tokens
	})
}

// injectedRecall answers a failure rule with a code as the gateway's
// "unavailable" error, one without as a bare HTML error.
func (g *sim) injectedRecall(f vendorsim.Failure) vendorsim.Answer {
	return vendorsim.InjectedAnswer(f, func(f vendorsim.Failure) vendorsim.Answer {
		return vendorsim.JSON(f.Status, selfError{Error: "unavailable", Message: "Injected failure", Code: f.Code})
	})
}

// answerRecall recalls each message: recalled, or unknown and why.
func (g *sim) answerRecall(_ *http.Request, c *call[selfRecallRequest]) vendorsim.Answer {
	req := c.req
	if a := g.refuseCall("recall", c.readErr, c.decodeErr, c.app, req.AppID, len(req.Messages)); a != nil {
		return *a
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
