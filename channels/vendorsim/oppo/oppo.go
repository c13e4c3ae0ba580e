// Package oppo simulates OPPO Push's server API for the vendor simulator
// (channels/vendorsim): auth (a signed app key for an auth_token),
// unicast and unicast_batch, checked and answered with OPPO's codes. Its
// configuration is vendorsim.OPPOConfig.
package oppo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// OPPO Push server API return codes the simulator answers with (the "code"
// field), from OPPO's "调用地址，公共参数和返回码" reference and its unicast
// reference (10000).
const (
	CodeServiceUnavailable       = -1
	CodeFlowControl              = -2
	CodeSuccess                  = 0
	CodeInvalidAuthToken         = 11
	CodeHTTPActionNotAllowed     = 12
	CodeAppCallLimited           = 13
	CodeInvalidAppKey            = 14
	CodeMissingAppKey            = 15
	CodeInvalidSignature         = 16
	CodeMissingSignature         = 17
	CodeMissingTimestamp         = 18
	CodeInvalidTimestamp         = 19
	CodeInvalidMethod            = 20
	CodeMissingAuthToken         = 29
	CodeMissingRequiredArguments = 40
	CodeInvalidArguments         = 41
	CodeCategoryError            = 67
	CodeInvalidRegistrationID    = 10000
)

// OPPO limits the simulator enforces: §8 of the mPaaS guide (title 32,
// content 200 characters), OPPO's batch unicast reference (1000 messages a
// call) and OPPO's server SDK checks (off_line_ttl at most 10 days,
// call_back_parameter at most 50 characters, call_back_url at most 200).
const (
	MaxTitleRunes       = 32
	MaxContentRunes     = 200
	MaxBatchMessages    = 1000
	MaxOffLineTTL       = 10 * 24 * time.Hour
	MaxCallBackParam    = 50
	MaxCallBackURLRunes = 200
	// AuthTimestampSkew is how far the auth timestamp may be from the
	// simulator's clock.
	AuthTimestampSkew = 10 * time.Minute
)

// OPPO endpoint paths below the base URL.
const (
	AuthPath         = "/server/v1/auth"
	UnicastPath      = "/server/v1/message/notification/unicast"
	UnicastBatchPath = "/server/v1/message/notification/unicast_batch"
)

// oppoCategories are the notification categories of OPPO's new message
// classification.
var oppoCategories = []string{"IM", "ACCOUNT", "DEVICE_REMINDER", "ORDER", "TODO", "SUBSCRIPTION", "NEWS", "CONTENT", "MARKETING", "SOCIAL"}

// sim serves the OPPO endpoints. Its token store lives as long as the
// simulator (Reset does not forget issued auth tokens).
type sim struct {
	s      *vendorsim.Simulator
	cfg    vendorsim.OPPOConfig
	tokens *simkit.TokenStore
}

// New returns the simulated OPPO Push of s (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor {
	return &sim{s: s, cfg: s.Config().OPPO, tokens: simkit.NewTokenStore()}
}

// Name is vendorsim.VendorOPPO.
func (o *sim) Name() string { return vendorsim.VendorOPPO }

// Register serves auth, unicast, unicast_batch and, for other paths,
// OPPO's "Invalid Method" and "Http Action Not Allowed" answers.
func (o *sim) Register(mux *http.ServeMux) {
	mux.Handle("POST /oppo/{region}"+AuthPath, vendorsim.Endpoint[*auth]{
		Sim: o.s, Vendor: vendorsim.VendorOPPO, Regions: o.cfg.Regions, Read: o.readAuth, Answer: o.answerAuth,
	})
	for path, batch := range map[string]bool{UnicastPath: false, UnicastBatchPath: true} {
		mux.Handle("POST /oppo/{region}"+path, vendorsim.Endpoint[*push]{
			Sim: o.s, Vendor: vendorsim.VendorOPPO, Regions: o.cfg.Regions,
			Read: func(w http.ResponseWriter, r *http.Request, region string) (*push, vendorsim.Arrival) {
				return o.readPush(w, r, region, batch)
			},
			Injected: o.injected, Authenticate: o.authenticate, Quota: o.quota, Throttled: o.throttled, Answer: o.answerPush,
		})
	}
	mux.HandleFunc("/oppo/{region}/", o.handleOther)
}

// oppoMessageText is the English description OPPO sends with a code.
func oppoMessageText(code int) string {
	switch code {
	case CodeServiceUnavailable:
		return "Service Currently Unavailable"
	case CodeFlowControl:
		return "Service in Flow Control"
	case CodeSuccess:
		return "Success"
	case CodeInvalidAuthToken:
		return "Invalid AuthToken"
	case CodeHTTPActionNotAllowed:
		return "Http Action Not Allowed"
	case CodeAppCallLimited:
		return "App Call Limited"
	case CodeInvalidAppKey:
		return "Invalid App Key"
	case CodeMissingAppKey:
		return "Missing App Key"
	case CodeInvalidSignature:
		return "Invalid Signature"
	case CodeMissingSignature:
		return "Missing Signature"
	case CodeMissingTimestamp:
		return "Missing Timestamp"
	case CodeInvalidTimestamp:
		return "Invalid Timestamp"
	case CodeInvalidMethod:
		return "Invalid Method"
	case CodeMissingAuthToken:
		return "Missing Auth Token"
	case CodeMissingRequiredArguments:
		return "Missing Required Arguments"
	case CodeInvalidArguments:
		return "Invalid Arguments"
	case CodeCategoryError:
		return "Category error"
	case CodeInvalidRegistrationID:
		return "Invalid RegistrationId"
	}
	return "Unknown Error"
}

// oppoAnswer is OPPO's JSON answer.
type oppoAnswer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// oppoUnicastData is the data of a successful unicast.
type oppoUnicastData struct {
	MessageID string `json:"messageId"`
}

// oppoBatchEntry is one element of a unicast_batch answer's data.
type oppoBatchEntry struct {
	MessageID      string `json:"messageId,omitempty"`
	RegistrationID string `json:"registrationId"`
	ErrorCode      int    `json:"errorCode,omitempty"`
	ErrorMessage   string `json:"errorMessage,omitempty"`
}

// oppoMessage is one message of unicast / unicast_batch.
type oppoMessage struct {
	TargetType           int             `json:"target_type"`
	TargetValue          string          `json:"target_value"`
	Notification         json.RawMessage `json:"notification"`
	VerifyRegistrationID bool            `json:"verify_registration_id"`
}

// oppoNotification holds the notification fields the simulator checks.
type oppoNotification struct {
	Title             string `json:"title"`
	Content           string `json:"content"`
	ClickActionType   *int   `json:"click_action_type"`
	ClickActionURL    string `json:"click_action_url"`
	OffLineTTL        *int64 `json:"off_line_ttl"`
	CallBackURL       string `json:"call_back_url"`
	CallBackParameter string `json:"call_back_parameter"`
	Category          string `json:"category"`
	NotifyLevel       *int   `json:"notify_level"`
	Style             *int   `json:"style"`
	BigPictureID      string `json:"big_picture_id"`
}

// answer is OPPO's answer (HTTP 200) with code, message (the code's
// when ""), and data, counted as out.
func answer(out vendorsim.Outcome, code int, message string, data any) vendorsim.Answer {
	if message == "" {
		message = oppoMessageText(code)
	}
	a := vendorsim.JSON(http.StatusOK, oppoAnswer{Code: code, Message: message, Data: data})
	a.Code, a.Outcome = code, out
	return a
}

func (o *sim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !vendorsim.ServesRegion(w, r, o.cfg.Regions) {
		return
	}
	for _, p := range []string{AuthPath, UnicastPath, UnicastBatchPath} {
		if strings.HasSuffix(r.URL.Path, p) {
			vendorsim.JSON(http.StatusMethodNotAllowed, oppoAnswer{Code: CodeHTTPActionNotAllowed, Message: oppoMessageText(CodeHTTPActionNotAllowed)}).
				With("Allow", http.MethodPost).Write(w)
			return
		}
	}
	vendorsim.JSON(http.StatusNotFound, oppoAnswer{Code: CodeInvalidMethod, Message: oppoMessageText(CodeInvalidMethod)}).Write(w)
}

func (o *sim) appByKey(key string) (vendorsim.OPPOApp, bool) {
	for _, a := range o.cfg.Apps {
		if a.AppKey == key {
			return a, true
		}
	}
	return vendorsim.OPPOApp{}, false
}

func (o *sim) appByID(id string) (vendorsim.OPPOApp, bool) {
	for _, a := range o.cfg.Apps {
		if a.AppID == id {
			return a, true
		}
	}
	return vendorsim.OPPOApp{}, false
}

// Sign returns the sign of an OPPO auth request: the lower-case hex
// SHA-256 of appKey + timestamp + masterSecret.
func Sign(appKey, timestamp, masterSecret string) string {
	sum := sha256.Sum256([]byte(appKey + timestamp + masterSecret))
	return hex.EncodeToString(sum[:])
}

// auth is an auth request as read.
type auth struct {
	form  url.Values
	app   vendorsim.OPPOApp
	known bool
}

// readAuth reads POST /oppo/{region}/server/v1/auth: app_key, sign and
// timestamp (form fields) for an auth_token. Injected faults, latency and
// quotas apply to push calls only.
func (o *sim) readAuth(w http.ResponseWriter, r *http.Request, _ string) (*auth, vendorsim.Arrival) {
	c := &auth{}
	c.form, _ = simkit.ReadForm(w, r, 64<<10)
	c.app, c.known = o.appByKey(c.form.Get("app_key"))
	appID := vendorsim.AppOf(c.app.AppID, c.known)
	return c, vendorsim.Arrival{AppID: appID, Form: c.form}
}

func (o *sim) answerAuth(_ *http.Request, c *auth) vendorsim.Answer {
	refuse := func(code int) vendorsim.Answer { return answer(vendorsim.Rejected, code, "", nil) }
	now := time.Now()
	switch {
	case c.form.Get("app_key") == "":
		return refuse(CodeMissingAppKey)
	case !c.known:
		return refuse(CodeInvalidAppKey)
	case c.form.Get("timestamp") == "":
		return refuse(CodeMissingTimestamp)
	}
	ms, err := strconv.ParseInt(c.form.Get("timestamp"), 10, 64)
	if err != nil || simkit.AbsDuration(now.Sub(time.UnixMilli(ms))) > AuthTimestampSkew {
		return refuse(CodeInvalidTimestamp)
	}
	switch {
	case c.form.Get("sign") == "":
		return refuse(CodeMissingSignature)
	case !strings.EqualFold(c.form.Get("sign"), Sign(c.app.AppKey, c.form.Get("timestamp"), c.app.MasterSecret.Reveal())):
		return refuse(CodeInvalidSignature)
	}
	n, letters := o.s.NextID()
	tok := fmt.Sprintf("oppo-at-%08d%s%s", n, letters, o.s.RandomHex(8))
	o.tokens.Issue(tok, c.app.AppID, now.Add(time.Duration(o.cfg.AuthTokenLifetime)), now)
	return answer(vendorsim.Accepted, CodeSuccess, "", map[string]any{"auth_token": tok, "create_time": now.UnixMilli()})
}

// push is a unicast or unicast_batch call as read.
type push struct {
	region     string
	batch      bool
	form       url.Values
	parseErr   error
	msgs       []oppoMessage
	decodeErr  *oppoError
	targets    []string
	tokenState simkit.TokenState
	app        vendorsim.OPPOApp
}

// readPush reads unicast (one form field "message") and unicast_batch
// (form field "messages", a JSON array of at most 1000 messages). The
// auth_token header (or form field) is recorded as the credential.
func (o *sim) readPush(w http.ResponseWriter, r *http.Request, region string, batch bool) (*push, vendorsim.Arrival) {
	c := &push{region: region, batch: batch}
	c.form, c.parseErr = simkit.ReadForm(w, r, o.cfg.MaxBodyBytes)
	tok := r.Header.Get("auth_token")
	if tok == "" {
		tok = c.form.Get("auth_token")
	}
	var appID string
	appID, c.tokenState = o.tokens.Lookup(tok, time.Now())
	c.msgs, c.decodeErr = decodeOPPOMessages(c.form, batch)
	c.targets = make([]string, len(c.msgs))
	for i, m := range c.msgs {
		c.targets[i] = m.TargetValue
	}
	recApp := vendorsim.UnknownApp
	if c.tokenState == simkit.TokenValid {
		recApp = appID
		c.app, _ = o.appByID(appID)
	}
	return c, vendorsim.Arrival{AppID: recApp, Form: c.form, Targets: c.targets, Auth: &tok}
}

func (o *sim) injected(f vendorsim.Failure) vendorsim.Answer {
	return vendorsim.InjectedAnswer(f, func(f vendorsim.Failure) vendorsim.Answer {
		return vendorsim.JSON(f.Status, oppoAnswer{Code: f.Code, Message: "Injected failure: " + oppoMessageText(f.Code)})
	})
}

func (o *sim) authenticate(_ *http.Request, c *push) *vendorsim.Answer {
	var a vendorsim.Answer
	switch c.tokenState {
	case simkit.TokenMissing:
		a = answer(vendorsim.Rejected, CodeMissingAuthToken, "", nil)
	case simkit.TokenUnknown, simkit.TokenExpired:
		a = answer(vendorsim.Rejected, CodeInvalidAuthToken, "", nil)
	default:
		return nil
	}
	return &a
}

func (o *sim) quota(c *push) vendorsim.Bucket {
	return vendorsim.AppBucket(o.cfg.QuotaPerSecond, o.cfg.QuotaBurst, c.app.QuotaPerSecond, c.app.QuotaBurst)
}

// throttled is the answer over the quota.
func (o *sim) throttled(_ *push) vendorsim.Answer {
	return answer(vendorsim.Throttled, CodeAppCallLimited, "App Call Limited: call frequency exceeds the app's limit", nil)
}

// answerPush answers a unicast with the message's messageId or error, a
// unicast_batch with one entry per message in data.
func (o *sim) answerPush(_ *http.Request, c *push) vendorsim.Answer {
	if c.parseErr != nil {
		return answer(vendorsim.Rejected, CodeInvalidArguments, "Invalid Arguments: request body unreadable or too long", nil)
	}
	if c.decodeErr != nil {
		return answer(vendorsim.Rejected, c.decodeErr.code, c.decodeErr.message, nil)
	}
	n, letters := o.s.NextID()
	msgID := func(i int) string { return fmt.Sprintf("%s-1-1-%016x%s%02d", c.app.AppKey, n, letters, i%100) }
	if !c.batch {
		if e := o.validate(c.msgs[0]); e != nil {
			a := answer(vendorsim.Rejected, e.code, e.message, nil)
			if e.code == CodeInvalidRegistrationID {
				a.Invalid = c.targets
			}
			return a
		}
		a := answer(vendorsim.Accepted, CodeSuccess, "", oppoUnicastData{MessageID: msgID(0)})
		a.Accepted = c.targets
		a.Receipts = o.receipts(c.region, c.app, c.msgs[:1], []string{msgID(0)})
		return a
	}
	var accepted, invalid, acceptedIDs []string
	var acceptedMsgs []oppoMessage
	entries := make([]oppoBatchEntry, len(c.msgs))
	for i, m := range c.msgs {
		entries[i] = oppoBatchEntry{RegistrationID: m.TargetValue}
		if e := o.validate(m); e != nil {
			entries[i].ErrorCode, entries[i].ErrorMessage = e.code, e.message
			if e.code == CodeInvalidRegistrationID {
				invalid = append(invalid, m.TargetValue)
			}
			continue
		}
		entries[i].MessageID = msgID(i)
		accepted = append(accepted, m.TargetValue)
		acceptedMsgs, acceptedIDs = append(acceptedMsgs, m), append(acceptedIDs, entries[i].MessageID)
	}
	out := vendorsim.Accepted
	if len(accepted) == 0 {
		out = vendorsim.Rejected
	}
	a := answer(out, CodeSuccess, "", entries)
	a.Accepted, a.Invalid = accepted, invalid
	a.Receipts = o.receipts(c.region, c.app, acceptedMsgs, acceptedIDs)
	return a
}

// receipts are the receipts of accepted messages (ids[i] is the
// messageId of msgs[i]): OPPO receipts carry each message's
// call_back_parameter as param and go to its call_back_url.
func (o *sim) receipts(region string, app vendorsim.OPPOApp, msgs []oppoMessage, ids []string) []vendorsim.Sent {
	if !o.s.WantsReceipts(region) {
		return nil
	}
	sent := make([]vendorsim.Sent, len(msgs))
	for i, m := range msgs {
		var n oppoNotification
		_ = json.Unmarshal(m.Notification, &n)
		sent[i] = vendorsim.Sent{Token: m.TargetValue, Correlation: n.CallBackParameter, VendorMsgID: ids[i], VendorAppID: app.AppKey,
			CallbackURL: n.CallBackURL}
	}
	return sent
}

// oppoError is a refusal: the code and OPPO's message.
type oppoError struct {
	code    int
	message string
}

func decodeOPPOMessages(form url.Values, batch bool) ([]oppoMessage, *oppoError) {
	field := "message"
	if batch {
		field = "messages"
	}
	raw := form.Get(field)
	if strings.TrimSpace(raw) == "" {
		return nil, &oppoError{CodeMissingRequiredArguments, "Missing Required Arguments: " + field}
	}
	if !batch {
		var m oppoMessage
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, &oppoError{CodeInvalidArguments, "Invalid Arguments: message is not a JSON object"}
		}
		return []oppoMessage{m}, nil
	}
	var ms []oppoMessage
	if err := json.Unmarshal([]byte(raw), &ms); err != nil {
		return nil, &oppoError{CodeInvalidArguments, "Invalid Arguments: messages is not a JSON array"}
	}
	if len(ms) == 0 {
		return nil, &oppoError{CodeMissingRequiredArguments, "Missing Required Arguments: messages is empty"}
	}
	if len(ms) > MaxBatchMessages {
		return ms, &oppoError{CodeInvalidArguments, fmt.Sprintf("Invalid Arguments: %d messages, at most %d", len(ms), MaxBatchMessages)}
	}
	return ms, nil
}

// validate checks one message as OPPO does.
func (o *sim) validate(m oppoMessage) *oppoError {
	bad := func(code int, format string, args ...any) *oppoError {
		return &oppoError{code, oppoMessageText(code) + ": " + fmt.Sprintf(format, args...)}
	}
	if m.TargetType != 2 {
		return bad(CodeInvalidArguments, "target_type %d, the simulator serves 2 (registration_id)", m.TargetType)
	}
	if m.TargetValue == "" {
		return bad(CodeMissingRequiredArguments, "target_value")
	}
	if len(m.Notification) == 0 {
		return bad(CodeMissingRequiredArguments, "notification")
	}
	var n oppoNotification
	if err := json.Unmarshal(m.Notification, &n); err != nil {
		return bad(CodeInvalidArguments, "notification is not a JSON object")
	}
	switch {
	case strings.TrimSpace(n.Title) == "":
		return bad(CodeMissingRequiredArguments, "title")
	case strings.TrimSpace(n.Content) == "":
		return bad(CodeMissingRequiredArguments, "content")
	case utf8.RuneCountInString(n.Title) > MaxTitleRunes:
		return bad(CodeInvalidArguments, "title longer than %d characters", MaxTitleRunes)
	case utf8.RuneCountInString(n.Content) > MaxContentRunes:
		return bad(CodeInvalidArguments, "content longer than %d characters", MaxContentRunes)
	case n.OffLineTTL != nil && (*n.OffLineTTL < 0 || *n.OffLineTTL > int64(MaxOffLineTTL/time.Second)):
		return bad(CodeInvalidArguments, "off_line_ttl %d out of range", *n.OffLineTTL)
	case utf8.RuneCountInString(n.CallBackParameter) > MaxCallBackParam:
		return bad(CodeInvalidArguments, "call_back_parameter longer than %d characters", MaxCallBackParam)
	case n.CallBackURL != "" && (!simkit.IsHTTPURL(n.CallBackURL) || utf8.RuneCountInString(n.CallBackURL) > MaxCallBackURLRunes):
		return bad(CodeInvalidArguments, "call_back_url %q", n.CallBackURL)
	case n.Category != "" && !slices.Contains(oppoCategories, n.Category):
		return bad(CodeCategoryError, "unknown category %q", n.Category)
	case n.NotifyLevel != nil && n.Category == "":
		return bad(CodeCategoryError, "notify_level needs a category")
	case n.NotifyLevel != nil && *n.NotifyLevel != 1 && *n.NotifyLevel != 2 && *n.NotifyLevel != 16:
		return bad(CodeCategoryError, "notify_level %d (want 1, 2 or 16)", *n.NotifyLevel)
	case n.Style != nil && (*n.Style < 1 || *n.Style > 3):
		return bad(CodeInvalidArguments, "style %d (want 1 standard, 2 long text or 3 big picture)", *n.Style)
	case n.Style != nil && *n.Style == 3 && n.BigPictureID == "":
		return bad(CodeMissingRequiredArguments, "big_picture_id for style 3")
	}
	if n.ClickActionType != nil {
		switch *n.ClickActionType {
		case 0, 1, 4:
		case 2, 5:
			if n.ClickActionURL == "" {
				return bad(CodeMissingRequiredArguments, "click_action_url for click_action_type %d", *n.ClickActionType)
			}
		default:
			return bad(CodeInvalidArguments, "click_action_type %d", *n.ClickActionType)
		}
	}
	if simkit.Matches(m.TargetValue, o.cfg.InvalidTokenPrefixes, o.cfg.InvalidTokens) {
		return &oppoError{CodeInvalidRegistrationID, "registration_id格式不正确"}
	}
	return nil
}
