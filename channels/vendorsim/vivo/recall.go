package vivo

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// RecallPath is the path of vivo's message recall (撤回) below a region's
// base URL: POST {base}/message/recall with the authToken header and the
// JSON body {"taskId": "…"}, the taskId that send or pushToList answered.
// Answers are {"result","desc"}.
//
// The simulator withdraws the message from every regId the task was
// accepted for and counts them (vendorsim.Simulator.Recalls); a taskId it
// never accepted a message under is answered 10099 "taskId不合法".
const RecallPath = "/message/recall"

// recall is a recall call as read.
type recall struct {
	region  string
	taskID  string
	bodyErr error // reading or decoding
	appID   string
	state   simkit.TokenState
}

// readRecall reads POST /vivo/{region}/message/recall; the authToken
// header, when present, is recorded as the credential.
func (v *sim) readRecall(w http.ResponseWriter, r *http.Request, region string) (*recall, vendorsim.Arrival) {
	c := &recall{region: region}
	raw, readErr := simkit.ReadBody(w, r, v.cfg.MaxBodyBytes)
	var m struct {
		TaskID string `json:"taskId"`
	}
	c.bodyErr = cmp.Or(readErr, json.Unmarshal(raw, &m))
	c.taskID = m.TaskID
	tok := r.Header.Get("authToken")
	c.appID, c.state = v.tokens.Lookup(tok, time.Now())
	arr := vendorsim.Arrival{AppID: vendorsim.UnknownApp, Form: url.Values{"body": {string(raw)}}}
	if c.state == simkit.TokenValid {
		arr.AppID = c.appID
	}
	if tok != "" {
		arr.Auth = &tok
	}
	return c, arr
}

func (v *sim) authenticateRecall(_ *http.Request, c *recall) *vendorsim.Answer {
	if c.state != simkit.TokenValid {
		return vendorsim.Refusal(refuse(vendorsim.Rejected, CodeAuthFailed, "", nil))
	}
	return nil
}

// answerRecall withdraws the task's message from every regId it was
// accepted for.
func (v *sim) answerRecall(_ *http.Request, c *recall) vendorsim.Answer {
	switch {
	case c.bodyErr != nil:
		return refuse(vendorsim.Rejected, CodeSimInvalidParameter, "请求体不是合法的JSON", nil)
	case c.taskID == "":
		return refuse(vendorsim.Rejected, CodeSimInvalidParameter, "taskId不能为空", nil)
	}
	if len(v.s.Recall(vendorsim.VendorVivo, c.region, c.appID, c.taskID, nil)) == 0 {
		return refuse(vendorsim.Rejected, CodeSimInvalidParameter, "taskId不合法", nil)
	}
	return answer(vendorsim.Accepted, vivoAnswer{Result: CodeSuccess})
}
