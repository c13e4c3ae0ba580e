package hms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// RevokePath is the path of Push Kit's message revocation below
// /v1/{appId}: POST {base}/v1/{appId}/messages:revoke with "Authorization:
// Bearer <access token>", the header push-type (0 notification, 2 voice
// broadcast) and the JSON body {"notifyId": N, "token": ["…"]} (1..1000
// tokens). Answers are {"code","msg","requestId"} like messages:send.
//
// The simulator confirms the revocation for the tokens it accepted a
// notification with that notify_id for and counts them
// (vendorsim.Simulator.Recalls); when none of the tokens had one, it
// answers HTTP 400 with 80100001 and the msg "No message with notifyId N
// was sent to these tokens".
const RevokePath = "/messages:revoke"

// revokeRequest is the body of messages:revoke; other fields are refused.
type revokeRequest struct {
	NotifyID *int     `json:"notifyId"`
	Token    []string `json:"token"`
}

// revoke is a messages:revoke request as read.
type revoke struct {
	region, pushType string
	req              revokeRequest
	readErr          error
	decodeErr        error
	app              vendorsim.HMSApp
	authCode         string
}

// readRevoke reads POST /hms/{region}/v1/{appId}/messages:revoke; it is
// recorded with Form holding push-type and notifyId.
func (h *sim) readRevoke(w http.ResponseWriter, r *http.Request, region string) (*revoke, vendorsim.Arrival) {
	c := &revoke{region: region, pushType: r.Header.Get("push-type")}
	var raw []byte
	raw, c.readErr = simkit.ReadBody(w, r, h.cfg.MaxBodyBytes)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	c.decodeErr = dec.Decode(&c.req)
	form := url.Values{"push-type": {c.pushType}}
	if c.req.NotifyID != nil {
		form.Set("notifyId", strconv.Itoa(*c.req.NotifyID))
	}
	c.app, c.authCode = h.access(r.Header.Get("Authorization"), r.PathValue("appId"))
	appID := vendorsim.AppOf(c.app.AppID, c.authCode == "")
	return c, vendorsim.Arrival{AppID: appID, Form: form, Targets: c.req.Token}
}

// injectedRevoke answers a failure rule with a code as Push Kit, one
// without as the gateway's bare error.
func (h *sim) injectedRevoke(f vendorsim.Failure) vendorsim.Answer {
	return vendorsim.InjectedAnswer(f, func(f vendorsim.Failure) vendorsim.Answer {
		return h.answer(f.Status, strconv.Itoa(f.Code), "")
	})
}

func (h *sim) authenticateRevoke(_ *http.Request, c *revoke) *vendorsim.Answer {
	if c.authCode == "" {
		return nil
	}
	return vendorsim.Refusal(h.refuse(vendorsim.Rejected, http.StatusUnauthorized, hmsRefusal{c.authCode, hmsMsg(c.authCode)}, nil))
}

// answerRevoke confirms the revocation of the tokens that had the
// notification.
func (h *sim) answerRevoke(_ *http.Request, c *revoke) vendorsim.Answer {
	refuse := func(code, format string, args ...any) vendorsim.Answer {
		return h.refuse(vendorsim.Rejected, http.StatusBadRequest, hmsRefusal{code, fmt.Sprintf(format, args...)}, nil)
	}
	switch {
	case c.readErr != nil:
		return refuse(CodeBodyTooLarge, "%s", hmsMsg(CodeBodyTooLarge))
	case c.decodeErr != nil:
		return refuse(CodeParameterError, "Illegal request body: %v", c.decodeErr)
	case c.pushType != "0" && c.pushType != "2":
		return refuse(CodeParameterError, "push-type must be 0 (notification) or 2 (voice broadcast), got %q", c.pushType)
	case c.req.NotifyID == nil:
		return refuse(CodeParameterError, "notifyId is mandatory")
	case len(c.req.Token) == 0 || len(c.req.Token) > MaxTokens:
		return refuse(CodeTooManyTokens, "The number of tokens must be 1..%d, got %d", MaxTokens, len(c.req.Token))
	}
	if recalled := h.s.Recall(vendorsim.VendorHMS, c.region, c.app.AppID, strconv.Itoa(*c.req.NotifyID), c.req.Token); len(recalled) == 0 {
		return refuse(CodeParameterError, "No message with notifyId %d was sent to these tokens", *c.req.NotifyID)
	}
	return h.answer(http.StatusOK, CodeSuccess, "")
}
