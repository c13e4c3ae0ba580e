package vendorsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// HMSRevokePath is the path of Push Kit's message revocation below
// /v1/{appId}: POST {base}/v1/{appId}/messages:revoke with "Authorization:
// Bearer <access token>", the header push-type (0 notification, 2 voice
// broadcast) and the JSON body {"notifyId": N, "token": ["…"]} (1..1000
// tokens). Answers are {"code","msg","requestId"} like messages:send.
//
// The simulator confirms the revocation for the tokens it accepted a
// notification with that notify_id for and counts them (Recalls); when
// none of the tokens had one, it answers HTTP 400 with 80100001 and the
// msg "No message with notifyId N was sent to these tokens".
const HMSRevokePath = "/messages:revoke"

// hmsRecallable returns the tokens an accepted messages:send call
// delivered a notification to, under its notify_id (the request's
// message.android.notification.notify_id).
func hmsRecallable(rec *Request, accepted []string) []recallable {
	id := rec.Form.Get("message.android.notification.notify_id")
	if !strings.HasSuffix(rec.Path, "/messages:send") || id == "" {
		return nil
	}
	return sameID(id, accepted)
}

// hmsRevokeRequest is the body of messages:revoke; other fields are
// refused.
type hmsRevokeRequest struct {
	NotifyID *int     `json:"notifyId"`
	Token    []string `json:"token"`
}

// handleRevoke serves POST /hms/{region}/v1/{appId}/messages:revoke.
func (h *hmsSim) handleRevoke(w http.ResponseWriter, r *http.Request) {
	s := h.s
	region, urlAppID := r.PathValue("region"), r.PathValue("appId")
	if !h.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	var req hmsRevokeRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	decodeErr := dec.Decode(&req)
	form := url.Values{"push-type": {r.Header.Get("push-type")}}
	if req.NotifyID != nil {
		form.Set("notifyId", strconv.Itoa(*req.NotifyID))
	}
	access, authCode := h.access(r.Header.Get("Authorization"), urlAppID)
	appID := UnknownApp
	if authCode == "" {
		appID = access.app.AppID
	}
	rec, ok := s.beginRecall(w, r, VendorHMS, region, appID, "", form, req.Token, func(w http.ResponseWriter, f Failure) string {
		return h.writeHMS(w, f.Status, strconv.Itoa(f.Code), "")
	})
	if !ok {
		return
	}
	refuse := func(status int, code, format string, args ...any) {
		body := h.writeHMS(w, status, code, fmt.Sprintf(format, args...))
		s.finish(rec, status, hmsCodeInt(code), body, outRejected, nil, nil)
	}
	switch pushType := r.Header.Get("push-type"); {
	case authCode != "":
		refuse(http.StatusUnauthorized, authCode, "%s", hmsMsg(authCode))
		return
	case readErr != nil:
		refuse(http.StatusBadRequest, HMSCodeBodyTooLarge, "%s", hmsMsg(HMSCodeBodyTooLarge))
		return
	case decodeErr != nil:
		refuse(http.StatusBadRequest, HMSCodeParameterError, "Illegal request body: %v", decodeErr)
		return
	case pushType != "0" && pushType != "2":
		refuse(http.StatusBadRequest, HMSCodeParameterError, "push-type must be 0 (notification) or 2 (voice broadcast), got %q", pushType)
		return
	case req.NotifyID == nil:
		refuse(http.StatusBadRequest, HMSCodeParameterError, "notifyId is mandatory")
		return
	case len(req.Token) == 0 || len(req.Token) > HMSMaxTokens:
		refuse(http.StatusBadRequest, HMSCodeTooManyTokens, "The number of tokens must be 1..%d, got %d", HMSMaxTokens, len(req.Token))
		return
	}
	recalled := s.recall(VendorHMS, region, access.app.AppID, strconv.Itoa(*req.NotifyID), req.Token)
	if len(recalled) == 0 {
		refuse(http.StatusBadRequest, HMSCodeParameterError, "No message with notifyId %d was sent to these tokens", *req.NotifyID)
		return
	}
	body := h.writeHMS(w, http.StatusOK, HMSCodeSuccess, "")
	s.finish(rec, http.StatusOK, 0, body, outAccepted, nil, nil)
}
