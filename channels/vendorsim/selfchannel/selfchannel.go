// Package selfchannel simulates pushpipe's self-built connection gateway
// (the API channels/selfchannel documents) for the vendor simulator
// (channels/vendorsim): /v1/push and /v1/recall with an app key. Its
// configuration is vendorsim.SelfConfig.
package selfchannel

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// Limits of the simulated connection gateway (the API channels/selfchannel
// documents).
const (
	// MaxMessages is the most messages one call carries.
	MaxMessages = 1000
	// MaxPayloadBytes is the limit of a message's payload (mPaaS §8:
	// 2 KB on Android channels).
	MaxPayloadBytes = 2048
)

// sim serves the gateway endpoints.
type sim struct {
	s   *vendorsim.Simulator
	cfg vendorsim.SelfConfig
}

// New returns the simulated gateway of s (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor { return &sim{s: s, cfg: s.Config().Self} }

// Name is vendorsim.VendorSelf.
func (g *sim) Name() string { return vendorsim.VendorSelf }

// RecallPath is the package constant RecallPath.
func (g *sim) RecallPath() string { return RecallPath }

// Register serves /v1/push, /v1/recall and, for other paths, the
// gateway's not_found and method_not_allowed answers.
func (g *sim) Register(mux *http.ServeMux) {
	mux.Handle("POST /self/{region}/v1/push", vendorsim.Endpoint[*call[selfRequest]]{
		Sim: g.s, Vendor: vendorsim.VendorSelf, Regions: g.cfg.Regions,
		Read: g.readPush, Injected: g.injected, Authenticate: authenticate[selfRequest], Quota: g.quota, Throttled: g.throttled, Answer: g.answerPush,
	})
	mux.Handle("POST /self/{region}"+RecallPath, vendorsim.Endpoint[*call[selfRecallRequest]]{
		Sim: g.s, Vendor: vendorsim.VendorSelf, Regions: g.cfg.Regions,
		Read: g.readRecall, Injected: g.injectedRecall, Authenticate: authenticate[selfRecallRequest], Answer: g.answerRecall,
	})
	mux.HandleFunc("/self/{region}/", g.handleOther)
}

// selfError is the gateway's error answer.
type selfError struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
	Code    int    `json:"code,omitempty"`
}

// refuse answers e with status, counted as out.
func refuse(out vendorsim.Outcome, status int, e selfError) vendorsim.Answer {
	a := vendorsim.JSON(status, e)
	a.Outcome = out
	return a
}

func (g *sim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !vendorsim.ServesRegion(w, r, g.cfg.Regions) {
		return
	}
	if strings.HasSuffix(r.URL.Path, "/v1/push") {
		vendorsim.JSON(http.StatusMethodNotAllowed, selfError{Error: "method_not_allowed", Message: "use POST"}).With("Allow", http.MethodPost).Write(w)
		return
	}
	vendorsim.JSON(http.StatusNotFound, selfError{Error: "not_found", Message: "no API at " + r.URL.Path}).Write(w)
}

func (g *sim) app(auth string) (vendorsim.SelfApp, bool) {
	scheme, key, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || key == "" {
		return vendorsim.SelfApp{}, false
	}
	for _, a := range g.cfg.Apps {
		if a.AppKey.Reveal() == key {
			return a, true
		}
	}
	return vendorsim.SelfApp{}, false
}

// selfRequest is the body of POST /v1/push, as far as the gateway reads it.
type selfRequest struct {
	AppID    string `json:"appId"`
	Messages []struct {
		Token       string `json:"token"`
		DeliveryID  string `json:"deliveryId"`
		Title       string `json:"title"`
		Body        string `json:"body"`
		Payload     string `json:"payload"`
		PassThrough bool   `json:"passThrough"`
		ExpireAt    int64  `json:"expireAt"`
	} `json:"messages"`
}

type selfResult struct {
	DeliveryID string `json:"deliveryId,omitempty"`
	Status     string `json:"status"`
	MessageID  string `json:"messageId,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// call is a gateway call as read: its JSON body R (a push or a recall
// request) and the app of its key.
type call[R any] struct {
	region    string
	req       R
	readErr   error
	decodeErr error
	app       vendorsim.SelfApp
	authOK    bool
}

// readCall reads a call of the gateway whose messages' tokens are
// tokens(body); it is recorded with Form holding "body" and RegIDs the
// tokens.
func readCall[R any](g *sim, w http.ResponseWriter, r *http.Request, region string, tokens func(R) []string) (*call[R], vendorsim.Arrival) {
	c := &call[R]{region: region}
	raw, readErr := simkit.ReadBody(w, r, g.cfg.MaxBodyBytes)
	c.readErr = readErr
	c.decodeErr = json.Unmarshal(raw, &c.req)
	c.app, c.authOK = g.app(r.Header.Get("Authorization"))
	appID := vendorsim.AppOf(c.app.AppID, c.authOK)
	return c, vendorsim.Arrival{AppID: appID, Form: url.Values{"body": {string(raw)}}, Targets: tokens(c.req)}
}

// authenticate refuses a call whose key is no app's.
func authenticate[R any](_ *http.Request, c *call[R]) *vendorsim.Answer {
	if c.authOK {
		return nil
	}
	return vendorsim.Refusal(refuse(vendorsim.Rejected, http.StatusUnauthorized, selfError{Error: "unauthorized", Message: "unknown app key"}))
}

// refuseCall returns the refusal of a call as a whole (what names a
// request kind: "push", "recall"), or nil: a body over the limit or not
// JSON, another app's appId, a message count outside 1..MaxMessages.
func (g *sim) refuseCall(what string, readErr, decodeErr error, app vendorsim.SelfApp, appID string, messages int) *vendorsim.Answer {
	var a vendorsim.Answer
	switch {
	case simkit.TooBig(readErr):
		a = refuse(vendorsim.Rejected, http.StatusRequestEntityTooLarge, selfError{Error: "payload_too_large",
			Message: fmt.Sprintf("request body over %d bytes", g.cfg.MaxBodyBytes)})
	case readErr != nil || decodeErr != nil:
		a = refuse(vendorsim.Rejected, http.StatusBadRequest, selfError{Error: "bad_request", Message: "body is not a JSON " + what + " request"})
	case appID != app.AppID:
		a = refuse(vendorsim.Rejected, http.StatusForbidden, selfError{Error: "forbidden", Message: fmt.Sprintf("appId %q is not the app of this key", appID)})
	case messages == 0 || messages > MaxMessages:
		a = refuse(vendorsim.Rejected, http.StatusBadRequest, selfError{Error: "bad_request",
			Message: fmt.Sprintf("%d messages, want 1..%d", messages, MaxMessages)})
	default:
		return nil
	}
	return &a
}

// readPush reads POST /self/{region}/v1/push.
func (g *sim) readPush(w http.ResponseWriter, r *http.Request, region string) (*call[selfRequest], vendorsim.Arrival) {
	return readCall(g, w, r, region, func(req selfRequest) []string {
		tokens := make([]string, 0, len(req.Messages))
		for _, m := range req.Messages {
			tokens = append(tokens, m.Token)
		}
		return tokens
	})
}

// injected answers a failure rule as unavailable (503) or internal (any
// other status; one under 400 becomes 500), with the rule's code.
func (g *sim) injected(f vendorsim.Failure) vendorsim.Answer {
	status := f.Status
	if status < 400 {
		status = http.StatusInternalServerError
	}
	code := "unavailable"
	if status != http.StatusServiceUnavailable {
		code = "internal"
	}
	a := vendorsim.JSON(status, selfError{Error: code, Message: "Injected failure", Code: f.Code})
	a.Code = f.Code
	return a
}

func (g *sim) quota(c *call[selfRequest]) vendorsim.Bucket {
	return vendorsim.AppBucket(g.cfg.QuotaPerSecond, g.cfg.QuotaBurst, c.app.QuotaPerSecond, c.app.QuotaBurst)
}

// throttled is the answer over the quota.
func (g *sim) throttled(_ *call[selfRequest]) vendorsim.Answer {
	return refuse(vendorsim.Throttled, http.StatusTooManyRequests, selfError{Error: "rate_limited", Message: "app quota exceeded"}).With("Retry-After", "1")
}

// answerPush answers each message: delivered, or why not.
func (g *sim) answerPush(_ *http.Request, c *call[selfRequest]) vendorsim.Answer {
	req := c.req
	if a := g.refuseCall("push", c.readErr, c.decodeErr, c.app, req.AppID, len(req.Messages)); a != nil {
		return *a
	}
	nowMs := time.Now().UnixMilli()
	results := make([]selfResult, len(req.Messages))
	var accepted, invalid []string
	var sent []vendorsim.Sent // the app SDK reports with the deliveryId it received
	var recallable []vendorsim.Recallable
	for i, m := range req.Messages {
		res := selfResult{DeliveryID: m.DeliveryID}
		switch {
		case m.Token == "":
			res.Status, res.Reason = "rejected", "token is required"
		case simkit.Matches(m.Token, g.cfg.InvalidTokenPrefixes, g.cfg.InvalidTokens):
			res.Status, res.Reason = "invalid_token", "token is not registered with the gateway"
			invalid = append(invalid, m.Token)
		case m.ExpireAt > 0 && m.ExpireAt <= nowMs:
			res.Status = "expired"
		case !m.PassThrough && (strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == ""):
			res.Status, res.Reason = "rejected", "a notification needs a title and a body"
		case len(m.Payload) > MaxPayloadBytes:
			res.Status, res.Reason = "rejected", fmt.Sprintf("payload has %d bytes, at most %d", len(m.Payload), MaxPayloadBytes)
		case simkit.Matches(m.Token, g.cfg.OfflineTokenPrefixes, g.cfg.OfflineTokens):
			res.Status = "offline"
		default:
			n, letters := g.s.NextID()
			res.Status, res.MessageID = "delivered", fmt.Sprintf("sgw%017d%s", n, letters)
			accepted = append(accepted, m.Token)
			sent = append(sent, vendorsim.Sent{Token: m.Token, Correlation: m.DeliveryID, VendorMsgID: res.MessageID})
			// A delivered message can be recalled by its messageId.
			recallable = append(recallable, vendorsim.Recallable{ID: res.MessageID, Token: m.Token})
		}
		results[i] = res
	}
	a := g.results(results)
	a.Accepted, a.Invalid, a.Recallable, a.Receipts = accepted, invalid, recallable, sent
	return a
}

// results is the 200 answer of a call: a new requestId and one result
// per message, in order.
func (g *sim) results(results []selfResult) vendorsim.Answer {
	n, letters := g.s.NextID()
	return vendorsim.JSON(http.StatusOK, struct {
		RequestID string       `json:"requestId"`
		Results   []selfResult `json:"results"`
	}{fmt.Sprintf("req%017d%s", n, letters), results})
}
