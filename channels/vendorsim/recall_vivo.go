package vendorsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// VivoRecallPath is the path of vivo's message recall (撤回) below a
// region's base URL: POST {base}/message/recall with the authToken header
// and the JSON body {"taskId": "…"}, the taskId that send or pushToList
// answered. Answers are {"result","desc"}.
//
// The simulator withdraws the message from every regId the task was
// accepted for and counts them (Recalls); a taskId it never accepted a
// message under is answered 10099 "taskId不合法".
const VivoRecallPath = "/message/recall"

// vivoRecallable returns the regIds an accepted send or pushToList call
// delivered to, under the call's taskId.
func vivoRecallable(rec *Request, accepted []string) []recallable {
	if !strings.HasSuffix(rec.Path, VivoSendPath) && !strings.HasSuffix(rec.Path, VivoPushToListPath) {
		return nil
	}
	var a vivoAnswer
	if json.Unmarshal([]byte(rec.Body), &a) != nil || a.TaskID == "" {
		return nil
	}
	return sameID(a.TaskID, accepted)
}

// handleRecall serves POST /vivo/{region}/message/recall.
func (v *vivoSim) handleRecall(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !v.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := readJSONBody(w, r, v.cfg.MaxBodyBytes)
	var m struct {
		TaskID string `json:"taskId"`
	}
	decodeErr := json.Unmarshal(raw, &m)
	tok := r.Header.Get("authToken")
	appID, state := v.tokens.lookup(tok, time.Now())
	recApp := UnknownApp
	if state == tokenValid {
		recApp = appID
	}
	rec, ok := v.s.beginRecall(w, r, VendorVivo, region, recApp, tok, url.Values{"body": {string(raw)}}, nil,
		func(w http.ResponseWriter, f Failure) string {
			return writeJSON(w, f.Status, vivoAnswer{Result: f.Code, Desc: "Injected failure: " + vivoDesc(f.Code)})
		})
	if !ok {
		return
	}
	refuse := func(code int, desc string) {
		body := v.write(w, vivoAnswer{Result: code, Desc: desc})
		v.s.finish(rec, http.StatusOK, code, body, outRejected, nil, nil)
	}
	switch {
	case state != tokenValid:
		refuse(VivoCodeAuthFailed, "")
		return
	case readErr != nil || decodeErr != nil:
		refuse(VivoCodeSimInvalidParameter, "请求体不是合法的JSON")
		return
	case m.TaskID == "":
		refuse(VivoCodeSimInvalidParameter, "taskId不能为空")
		return
	}
	if len(v.s.recall(VendorVivo, region, appID, m.TaskID, nil)) == 0 {
		refuse(VivoCodeSimInvalidParameter, "taskId不合法")
		return
	}
	body := v.write(w, vivoAnswer{Result: VivoCodeSuccess})
	v.s.finish(rec, http.StatusOK, VivoCodeSuccess, body, outAccepted, nil, nil)
}
