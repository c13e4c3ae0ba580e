// Package pushkit holds what Huawei's two Push Kit APIs share: the Android
// server API v1 (channels/hms) and the HarmonyOS scenario-based API v3
// (channels/harmonyos) answer every call with {"code","msg","requestId"}
// (code a string of digits such as "80000000"), refuse credentials with a
// code the client answers by renewing them once, and revoke notifications
// by notifyId and token. It is internal to the channels tree.
package pushkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// MaxAnswerBytes bounds how much of an answer is read.
const MaxAnswerBytes = 1 << 20

// Answer is Push Kit's JSON answer.
type Answer struct {
	Code      json.RawMessage `json:"code"`
	Msg       string          `json:"msg"`
	RequestID string          `json:"requestId"`
}

// CodeNumber returns the numeric answer code (0 if absent or not a
// number).
func (a *Answer) CodeNumber() int {
	n, _ := strconv.Atoi(strings.Trim(string(a.Code), `"`))
	return n
}

// Explain returns msg and requestId for a VendorError's reason.
func (a *Answer) Explain() string {
	return strings.Trim(a.Msg+"; requestId "+a.RequestID, "; ")
}

// Reply is one HTTP answer of Push Kit.
type Reply struct {
	Status    int
	Answer    Answer
	Header    http.Header
	DecodeErr error // the body is not Push Kit's JSON
}

// Caller makes the calls of one channel. Set every field; a Caller is
// safe for concurrent use as far as Client is.
type Caller struct {
	// Channel names the vendor in errors ("hms", "harmonyos").
	Channel string
	// Client makes the calls; Timeout bounds each one; Now reads the clock
	// (Retry-After dates).
	Client  *http.Client
	Timeout time.Duration
	Now     func() time.Time
	// ContentType is the Content-Type of every call.
	ContentType string
	// Credential names what Tokens gives ("access token", "JWT").
	Credential string
	// IsAuthCode tells the answer codes that refuse the credential (it is
	// renewed and the call made once more).
	IsAuthCode func(code int) bool
}

// Err returns a *channels.VendorError of a call to endpoint.
func (c *Caller) Err(endpoint string, httpStatus, code int, reason string, transient bool, cause error) *channels.VendorError {
	return &channels.VendorError{Channel: c.Channel, Op: "POST " + endpoint, HTTPStatus: httpStatus, Code: code,
		Reason: reason, Transient: transient, Cause: cause}
}

// Post makes one call with "Authorization: Bearer <token>" and the extra
// header, if any; the error is a *channels.VendorError when no answer
// arrived.
func (c *Caller) Post(ctx context.Context, endpoint, token string, body []byte, header http.Header) (Reply, error) {
	h := http.Header{
		"Authorization": {"Bearer " + token},
		"Content-Type":  {c.ContentType},
		"Accept":        {"application/json"},
	}
	maps.Copy(h, header)
	rep, err := channels.Post(ctx, c.Client, channels.PostRequest{
		Channel: c.Channel, URL: endpoint, Body: body, Header: h, Timeout: c.Timeout, MaxAnswerBytes: MaxAnswerBytes, Now: c.Now,
	})
	if err != nil {
		return Reply{}, err
	}
	var a Answer
	decodeErr := json.Unmarshal(bytes.TrimSpace(rep.Body), &a)
	if decodeErr != nil {
		decodeErr = fmt.Errorf("decoding answer: %w", decodeErr)
	}
	return Reply{Status: rep.Status, Answer: a, Header: rep.Header, DecodeErr: decodeErr}, nil
}

// AuthorizedPost posts body to endpoint with a credential of tokens (and
// the extra header, if any), renewing a credential Push Kit refuses (HTTP
// 401 or an IsAuthCode code) once. It returns an answer that carries a
// Push Kit code, or the call's error (a *channels.VendorError): no answer,
// a 429 or 5xx answer and a garbled 2xx answer are transient; a
// credential refused after the renewal, and any other answer without a
// Push Kit code, are permanent.
func (c *Caller) AuthorizedPost(ctx context.Context, tokens *channels.TokenSource, endpoint string, body []byte, header http.Header) (Reply, error) {
	for attempt := 0; ; attempt++ {
		token, err := tokens.Token(ctx)
		if err != nil {
			return Reply{}, fmt.Errorf("obtaining %s: %w", c.Credential, err)
		}
		rep, err := c.Post(ctx, endpoint, token, body, header)
		if err != nil {
			return Reply{}, err
		}
		a, code := rep.Answer, rep.Answer.CodeNumber()
		authRefused := rep.Status == http.StatusUnauthorized || (rep.DecodeErr == nil && c.IsAuthCode(code))
		if authRefused && rep.Status < 500 {
			if attempt == 0 {
				tokens.Invalidate(token)
				continue
			}
			return Reply{}, c.Err(endpoint, rep.Status, code, c.Credential+" refused after renewal: "+a.Explain(), false, nil)
		}
		if rep.Status == http.StatusTooManyRequests || rep.Status >= 500 {
			ve := c.Err(endpoint, rep.Status, code, a.Explain(), true, nil)
			ve.RetryAfter = channels.ParseRetryAfter(rep.Header.Get("Retry-After"), c.Now())
			return Reply{}, ve
		}
		if rep.DecodeErr != nil || code == 0 {
			// A 2xx answer that is not Push Kit's JSON is garbled: try again
			// later. Any other status without one is a wrong endpoint or a
			// refused request.
			return Reply{}, c.Err(endpoint, rep.Status, 0, "answer without a Push Kit code", rep.Status/100 == 2, rep.DecodeErr)
		}
		return rep, nil
	}
}

// CallError returns the error of an answer that is about the call rather
// than its messages: transient (with the Retry-After) or permanent as the
// channel's classification says; nil when it is neither.
func (c *Caller) CallError(endpoint string, rep Reply, transient, permanent bool) error {
	code := rep.Answer.CodeNumber()
	switch {
	case transient:
		ve := c.Err(endpoint, rep.Status, code, rep.Answer.Explain(), true, nil)
		ve.RetryAfter = channels.ParseRetryAfter(rep.Header.Get("Retry-After"), c.Now())
		return ve
	case permanent:
		return c.Err(endpoint, rep.Status, code, rep.Answer.Explain(), false, nil)
	}
	return nil
}

// IllegalTokens reads the refused tokens, each with the reason Push Kit
// gave ("" when none), from the msg of a partial-success or
// all-tokens-invalid answer: a JSON object whose "illegal_tokens" or
// "illegalTokens" is a list of tokens or an object of reason -> tokens. An
// unreadable msg lists none.
func IllegalTokens(msg string) map[string]string {
	var m struct {
		IllegalTokens      json.RawMessage `json:"illegal_tokens"`
		IllegalTokensCamel json.RawMessage `json:"illegalTokens"`
	}
	out := map[string]string{}
	if json.Unmarshal([]byte(msg), &m) != nil {
		return out
	}
	for _, raw := range []json.RawMessage{m.IllegalTokens, m.IllegalTokensCamel} {
		var list []string
		if json.Unmarshal(raw, &list) == nil {
			for _, t := range list {
				out[t] = ""
			}
			continue
		}
		var byReason map[string][]string
		if json.Unmarshal(raw, &byReason) == nil {
			for _, reason := range slices.Sorted(maps.Keys(byReason)) {
				for _, t := range byReason[reason] {
					if _, seen := out[t]; !seen {
						out[t] = reason
					}
				}
			}
		}
	}
	return out
}

// RevokeRequest is the body of a messages:revoke call.
type RevokeRequest struct {
	NotifyID int      `json:"notifyId"`
	Token    []string `json:"token"`
}

// PlanRevocations checks the messages of a recall: a message without a
// token, with one holding any of badTokenChars, a pass-through message
// (Push Kit revokes notifications only; passThroughDesc says so) or one
// whose notifyID fails (Permanent with badExtraCode) gets its result in
// results. It returns the other messages' revocations, one per notify id
// in order of first appearance, each with the indices of its messages.
func PlanRevocations(msgs []channels.Message, results []channels.Result, badTokenChars, tokenName, passThroughDesc string,
	badExtraCode int, notifyID func(channels.Message) (int, error)) ([]RevokeRequest, [][]int) {
	ids := make([]int, len(msgs))
	var idx []int
	for i, m := range msgs {
		id, err := notifyID(m)
		switch {
		case m.Token == "":
			results[i] = channels.NotRecalled(channels.StatusMissingDeviceToken, "MissingDeviceToken")
		case strings.ContainsAny(m.Token, badTokenChars):
			results[i] = channels.NotRecalled(channels.StatusBadDeviceToken, "BadDeviceToken: malformed "+tokenName)
		case m.PassThrough:
			results[i] = channels.NotRecalled(channels.StatusNone, passThroughDesc)
		case err != nil:
			results[i] = channels.NotRecalled(badExtraCode, "IllegalPayload: "+err.Error())
		default:
			ids[i] = id
			idx = append(idx, i)
		}
	}
	groups := channels.GroupBy(idx, func(i int) string { return strconv.Itoa(ids[i]) })
	reqs := make([]RevokeRequest, len(groups))
	for gi, g := range groups {
		reqs[gi] = RevokeRequest{NotifyID: ids[g[0]], Token: make([]string, len(g))}
		for j, i := range g {
			reqs[gi].Token[j] = msgs[i].Token
		}
	}
	return reqs, groups
}

// RevokeSpec is how one Push Kit vendor revokes messages: the token and
// notify id checks of PlanRevocations, the headers of the messages:revoke
// call, and how its answer codes read.
type RevokeSpec struct {
	BadTokenChars, TokenName, PassThroughDesc string
	BadExtraCode                              int
	NotifyID                                  func(channels.Message) (int, error)
	// Header is sent with every revocation call.
	Header http.Header
	// Classify says, for an answer code, whether the whole call failed
	// (transient or permanent); any other code is the answer of the
	// group's messages: Recalled when OK, else NotRecalled with the code.
	Classify func(code int) (ok, callTransient, callPermanent bool)
	// MaxConcurrent bounds the calls made at once.
	MaxConcurrent int
}

// Revoke recalls msgs (one app, already checked with channels.CheckRecall)
// at endpoint, authorized by tokens: the messages that share a notify id
// go in one messages:revoke call, whose answer is the result of each of
// them; messages PlanRevocations refuses get their result without a call.
// It returns the results index-aligned with msgs, or the whole-call error
// of channels.RunGroups (a *channels.VendorError in its chain).
func (c *Caller) Revoke(ctx context.Context, tokens *channels.TokenSource, endpoint string, msgs []channels.Message, s RevokeSpec) ([]channels.Result, error) {
	results := make([]channels.Result, len(msgs))
	reqs, groups := PlanRevocations(msgs, results, s.BadTokenChars, s.TokenName, s.PassThroughDesc, s.BadExtraCode, s.NotifyID)
	byFirst := make(map[int]RevokeRequest, len(groups)) // a message is in one group only
	for gi, g := range groups {
		byFirst[g[0]] = reqs[gi]
	}
	err := channels.RunGroups(ctx, c.Channel, groups, len(msgs), s.MaxConcurrent, results, func(g []int) error {
		body, err := json.Marshal(byFirst[g[0]])
		if err != nil {
			return c.Err(endpoint, 0, 0, "", false, fmt.Errorf("encoding revocation: %w", err))
		}
		rep, err := c.AuthorizedPost(ctx, tokens, endpoint, body, s.Header)
		if err != nil {
			return err
		}
		code := rep.Answer.CodeNumber()
		ok, transient, permanent := s.Classify(code)
		if err := c.CallError(endpoint, rep, transient, permanent); err != nil {
			return err
		}
		r := channels.Recalled("Recalled")
		if !ok {
			r = channels.NotRecalled(code, fmt.Sprintf("NotRecalled: %s code %d (http %d): %s", c.Channel, code, rep.Status, rep.Answer.Explain()))
		}
		for _, i := range g {
			results[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}
