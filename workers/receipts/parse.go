package receipts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/harmonyos"
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/honor"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/oppo"
	"github.com/pushpipe/pushpipe/channels/vivo"
	"github.com/pushpipe/pushpipe/schema"
)

// Receipt is one report about a delivery, read from a receipt body and
// not yet tied to an app: the event sink fills in the rest from its
// delivery index.
//
// A receipt whose correlation value is a delivery id (schema.IsDeliveryID)
// names that delivery (DeliveryID set); any other value is taken as a msg
// id, and the receipt names one delivery per token in Tokens (a vendor
// call that carried many tokens; MsgID set). A client event may name its
// delivery by MsgID and DeviceID instead: the server derives the delivery
// id from them and the authenticated app (a DeliveryID given as well must
// be that one).
type Receipt struct {
	DeliveryID string
	MsgID      string
	// DeviceID is set, with MsgID, by a client event naming msgId and
	// deviceId.
	DeviceID string
	// Tokens are the vendor tokens the receipt names; at least one when
	// MsgID is set, possibly none when DeliveryID is.
	Tokens []string
	// Event is arrived, opened, ignored, or failed for a vendor that
	// reports that the message did not reach the device.
	Event schema.EventType
	// StatusCode and StatusDesc are the §10.3 status of the event (see the
	// vendor mappings in the package documentation).
	StatusCode int64
	StatusDesc string
	// TS is when the vendor or the app says it happened, in Unix
	// milliseconds; 0 if the body did not say.
	TS int64
	// AppVersion and Model are reported by the app SDK only.
	AppVersion string
	Model      string
}

// Parsed is what a parser read from one body: the receipts, and how many
// items it skipped, by reason (a metric label: no_correlation, no_status,
// no_target, unknown_type).
type Parsed struct {
	Receipts []Receipt
	Skipped  map[string]int
}

func (p *Parsed) skip(reason string) {
	if p.Skipped == nil {
		p.Skipped = map[string]int{}
	}
	p.Skipped[reason]++
}

// ParseError says why a body is not a receipt body of its vendor. Reason
// is a short metric label (malformed_json, bad_form, no_data, empty,
// too_many, too_many_items, invalid_event...); Detail says what is wrong,
// for the caller.
type ParseError struct {
	Reason string
	Detail string
}

func (e *ParseError) Error() string { return e.Detail }

func parseErr(reason, format string, args ...any) *ParseError {
	return &ParseError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Limits on the values a body may carry.
const (
	// MaxCorrelationLen is the longest correlation value (biTag, param)
	// taken; longer ones are skipped as no_correlation.
	MaxCorrelationLen = 256
	// MaxTokensPerReceipt is the most tokens one receipt item may name
	// (MiPush's 1000 regIds per call).
	MaxTokensPerReceipt = 1000
	// MaxReceiptItems is the most items one vendor receipt body may hold
	// (Huawei merges at most 1000 statuses into one receipt, §7.2.10; the
	// other vendors batch less). A larger body is refused (400,
	// too_many_items) before anything is published.
	MaxReceiptItems = 1000
	// maxClientField bounds the strings of a client event.
	maxClientField = 256
)

// flexInt is an integer that vendors send either as a JSON number or as a
// string of digits ("eventTime": "1730776852465").
type flexInt struct {
	v   int64
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%.40q is not an integer", s)
	}
	f.v, f.set = v, true
	return nil
}

// parseOptions adjust a parser to the request it reads.
type parseOptions struct {
	// unwrap, if set, checks the tag of each callback parameter (MiPush,
	// OPPO, vivo: schema.IDKey.ReceiptParam) and returns the correlation
	// value it carries; an item whose parameter fails makes the whole
	// body an authentication failure.
	unwrap func(param string) (string, bool)
	// maxClientEvents bounds a client batch.
	maxClientEvents int
}

// errBadTag is the authentication failure of a parameter without a valid
// tag.
func errBadTag(vendor string) *authError {
	return unauthenticated("bad_tag", "%s receipt carries a callback parameter without a valid tag: it is not a parameter pushpipe sent", vendor)
}

// correlate builds the receipt for a correlation value and the tokens an
// item names, or returns the reason to skip it. With o.unwrap, a value
// that is not a tagged parameter is an *authError.
func correlate(o parseOptions, vendor, value, tokens string) (Receipt, string, error) {
	value = strings.TrimSpace(value)
	if value == "" || len(value) > MaxCorrelationLen+schema.ReceiptTagOverhead {
		return Receipt{}, "no_correlation", nil
	}
	if o.unwrap != nil {
		v, ok := o.unwrap(value)
		if !ok {
			return Receipt{}, "", errBadTag(vendor)
		}
		value = v
	}
	if value == "" || len(value) > MaxCorrelationLen {
		return Receipt{}, "no_correlation", nil
	}
	var toks []string
	for t := range strings.SplitSeq(tokens, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(toks, t) {
			toks = append(toks, t)
		}
	}
	if len(toks) > MaxTokensPerReceipt {
		return Receipt{}, "too_many_targets", nil
	}
	if schema.IsDeliveryID(value) {
		return Receipt{DeliveryID: value, Tokens: toks}, "", nil
	}
	if len(toks) == 0 {
		return Receipt{}, "no_target", nil
	}
	return Receipt{MsgID: value, Tokens: toks}, "", nil
}

// tooManyItems is the refusal of a body of more than MaxReceiptItems items.
func tooManyItems(vendor string, n int) *ParseError {
	return parseErr("too_many_items", "%s receipt holds %d items, at most %d are taken in one request: send them in several", vendor, n, MaxReceiptItems)
}

// hmsBody is the receipt body of Huawei Push Kit, Honor Push and HarmonyOS
// Push Kit (§7.2.10): {"statuses": [...]}.
type hmsBody struct {
	Statuses *[]hmsStatus `json:"statuses"`
}

type hmsStatus struct {
	BiTag     string  `json:"biTag"`
	Token     string  `json:"token"`
	Status    flexInt `json:"status"`
	Timestamp flexInt `json:"timestamp"`
	// DeliveryStatus is HarmonyOS's form of status and timestamp.
	DeliveryStatus *struct {
		Result    flexInt `json:"result"`
		Timestamp flexInt `json:"timestamp"`
	} `json:"deliveryStatus"`
}

func decodeStatuses(vendor string, body []byte) ([]hmsStatus, error) {
	var b hmsBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, parseErr("malformed_json", "%s receipt is not a JSON object {\"statuses\": [...]}: %v", vendor, err)
	}
	if b.Statuses == nil || len(*b.Statuses) == 0 {
		return nil, parseErr("empty", "%s receipt has no \"statuses\"", vendor)
	}
	if len(*b.Statuses) > MaxReceiptItems {
		return nil, tooManyItems(vendor, len(*b.Statuses))
	}
	return *b.Statuses, nil
}

// ParseHMS reads a Huawei Push Kit receipt: JSON {"statuses": [{"biTag",
// "token", "status", "timestamp", ...}]}. biTag is the correlation value.
// status 0 is an arrival; any other status is a failure (see hmsStatusOf).
func ParseHMS(body []byte) (Parsed, error) {
	return parseStatuses(hms.Name, body, channels.ReceiptsHuawei, parseOptions{})
}

// ParseHonor reads an Honor Push receipt; the body is Huawei's.
func ParseHonor(body []byte) (Parsed, error) {
	return parseStatuses(honor.Name, body, channels.ReceiptsHonor, parseOptions{})
}

// ParseHarmonyOS reads a HarmonyOS Push Kit receipt: Huawei's body with
// the outcome in "deliveryStatus": {"result", "timestamp"}.
func ParseHarmonyOS(body []byte) (Parsed, error) {
	return parseStatuses(harmonyos.Name, body, channels.ReceiptsHarmony, parseOptions{})
}

// parseStatuses reads Huawei's status list as vendor posts it: format is
// ReceiptsHuawei, ReceiptsHonor or ReceiptsHarmony (the outcome in
// "deliveryStatus").
func parseStatuses(vendor string, body []byte, format channels.ReceiptFormat, o parseOptions) (Parsed, error) {
	sts, err := decodeStatuses(vendor, body)
	if err != nil {
		return Parsed{}, err
	}
	var p Parsed
	for _, st := range sts {
		code, ts := st.Status, st.Timestamp
		if format == channels.ReceiptsHarmony {
			if st.DeliveryStatus == nil {
				code = flexInt{}
			} else {
				code, ts = st.DeliveryStatus.Result, st.DeliveryStatus.Timestamp
			}
		}
		if !code.set {
			p.skip("no_status")
			continue
		}
		r, why, err := correlate(o, vendor, st.BiTag, st.Token)
		if err != nil {
			return Parsed{}, err
		}
		if why != "" {
			p.skip(why)
			continue
		}
		r.Event, r.StatusCode, r.StatusDesc = hmsStatusOf(vendor, format, code.v)
		r.TS = ts.v
		p.Receipts = append(p.Receipts, r)
	}
	return p, nil
}

// hmsStatusOf maps the status of a Huawei, Honor or HarmonyOS receipt: 0
// is an arrival (§10.3 status 2 Acked: the message reached the device);
// any other value means the message did not reach the device and becomes
// a failed event. Huawei's 2 (app not installed) becomes 80000004 and 5
// (token unknown on the device) 2009 BadDeviceToken; other values keep the
// vendor's number unless it would read as a common status, which becomes
// 99999999 NONE (Huawei's own mapping applies to format ReceiptsHuawei
// only). The description always names the vendor's value.
func hmsStatusOf(vendor string, format channels.ReceiptFormat, status int64) (schema.EventType, int64, string) {
	if status == 0 {
		return schema.EventArrived, channels.StatusAcked, fmt.Sprintf("Acked: %s receipt status 0, delivered to the device", vendor)
	}
	if format == channels.ReceiptsHuawei {
		switch status {
		case 2:
			return schema.EventFailed, hms.StatusReceiptAppUninstalled, "The app has been uninstalled: hms receipt status 2, app not installed"
		case 5:
			return schema.EventFailed, channels.StatusBadDeviceToken, "BadDeviceToken: hms receipt status 5, the token does not exist on the device"
		}
	}
	return schema.EventFailed, vendorCode(status), fmt.Sprintf("%s receipt status %d: not delivered", vendor, status)
}

// vendorCode keeps a vendor's status number as the status code unless it
// collides with a common §10.3 status (-1, 0, 1, 2, 99999999).
func vendorCode(v int64) int64 {
	switch v {
	case channels.StatusWaitingForVerify, channels.StatusDeviceNotOnlineOrNoResponse, channels.StatusNoBindInfo,
		channels.StatusAcked, channels.StatusNone:
		return channels.StatusNone
	}
	return v
}

// miPushItem is one entry of the MiPush receipt "data" object, keyed by
// MiPush's message id.
type miPushItem struct {
	Param     string  `json:"param"`
	Type      flexInt `json:"type"`
	Targets   string  `json:"targets"`
	BarStatus string  `json:"barStatus"`
	Timestamp flexInt `json:"timestamp"`
}

// ParseMiPush reads a MiPush (Xiaomi) receipt: a form-encoded body whose
// field "data" holds a JSON object keyed by MiPush message id, each value
// {"param", "type", "targets", "barStatus", "timestamp"}. param is
// extra.callback.param as the sender set it: a delivery id for a call to
// one regId, else the msg id, with the regIds in targets (comma
// separated). type 1 is an arrival, 2 a click (opened), 16 an invalid
// regId (failed, 20301 Invalid target), 32, 64 and 128 deliveries MiPush
// dropped (failed, 99999999 NONE: push disabled on the device, device
// filtered out, daily limit reached); other types are skipped.
func ParseMiPush(body []byte) (Parsed, error) { return parseMiPush(body, parseOptions{}) }

func parseMiPush(body []byte, o parseOptions) (Parsed, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Parsed{}, parseErr("bad_form", "mipush receipt is not a form-encoded body: %v", err)
	}
	data := form.Get("data")
	if data == "" {
		return Parsed{}, parseErr("no_data", "mipush receipt has no form field \"data\"")
	}
	var items map[string]miPushItem
	if err := json.Unmarshal([]byte(data), &items); err != nil {
		return Parsed{}, parseErr("malformed_json", "mipush receipt field \"data\" is not a JSON object keyed by message id: %v", err)
	}
	if len(items) == 0 {
		return Parsed{}, parseErr("empty", "mipush receipt field \"data\" holds no receipt")
	}
	if len(items) > MaxReceiptItems {
		return Parsed{}, tooManyItems(mipush.Name, len(items))
	}
	var p Parsed
	for _, id := range slicesSorted(items) {
		it := items[id]
		if !it.Type.set {
			p.skip("no_status")
			continue
		}
		ev, code, desc, ok := miPushTypeOf(it.Type.v)
		if !ok {
			p.skip("unknown_type")
			continue
		}
		r, why, err := correlate(o, mipush.Name, it.Param, it.Targets)
		if err != nil {
			return Parsed{}, err
		}
		if why != "" {
			p.skip(why)
			continue
		}
		if it.BarStatus != "" && len(it.BarStatus) <= 32 {
			desc += ", notification bar " + it.BarStatus
		}
		r.Event, r.StatusCode, r.StatusDesc, r.TS = ev, code, desc+", mipush message "+truncate(id, 64), it.Timestamp.v
		p.Receipts = append(p.Receipts, r)
	}
	return p, nil
}

func miPushTypeOf(t int64) (schema.EventType, int64, string, bool) {
	switch t {
	case 1:
		return schema.EventArrived, channels.StatusAcked, "Acked: mipush receipt type 1, delivered to the device", true
	case 2:
		return schema.EventOpened, channels.StatusAcked, "Acked: mipush receipt type 2, notification clicked", true
	case 16:
		return schema.EventFailed, 20301, "Invalid target: mipush receipt type 16, the regId is invalid", true
	case 32:
		return schema.EventFailed, channels.StatusNone, "NONE: mipush receipt type 32, push is disabled on the device", true
	case 64:
		return schema.EventFailed, channels.StatusNone, "NONE: mipush receipt type 64, the device does not match the message's conditions", true
	case 128:
		return schema.EventFailed, channels.StatusNone, "NONE: mipush receipt type 128, the device reached its daily limit", true
	}
	return "", 0, "", false
}

// oppoItem is one element of the OPPO receipt array.
type oppoItem struct {
	EventTime       flexInt `json:"eventTime"`
	EventType       string  `json:"eventType"`
	MessageID       string  `json:"messageId"`
	Param           string  `json:"param"`
	RegistrationIDs string  `json:"registrationIds"`
}

// ParseOPPO reads an OPPO Push receipt: a JSON array of {"appId",
// "eventTime", "eventType", "messageId", "param", "registrationIds"}.
// param is the call_back_parameter the sender set; registrationIds are
// comma separated. eventType push_arrive is an arrival, push_click a click
// (opened), regid_invalid a failure (10000 Invalid RegistrationId); other
// event types are skipped.
func ParseOPPO(body []byte) (Parsed, error) { return parseOPPO(body, parseOptions{}) }

func parseOPPO(body []byte, o parseOptions) (Parsed, error) {
	var items []oppoItem
	if err := json.Unmarshal(body, &items); err != nil {
		return Parsed{}, parseErr("malformed_json", "oppo receipt is not a JSON array of receipts: %v", err)
	}
	if len(items) == 0 {
		return Parsed{}, parseErr("empty", "oppo receipt array is empty")
	}
	if len(items) > MaxReceiptItems {
		return Parsed{}, tooManyItems(oppo.Name, len(items))
	}
	var p Parsed
	for _, it := range items {
		var ev schema.EventType
		var code int64
		var desc string
		switch it.EventType {
		case "push_arrive":
			ev, code, desc = schema.EventArrived, channels.StatusAcked, "Acked: oppo receipt push_arrive, delivered to the device"
		case "push_click":
			ev, code, desc = schema.EventOpened, channels.StatusAcked, "Acked: oppo receipt push_click, notification clicked"
		case "regid_invalid":
			ev, code, desc = schema.EventFailed, 10000, "Invalid RegistrationId: oppo receipt regid_invalid"
		case "":
			p.skip("no_status")
			continue
		default:
			p.skip("unknown_type")
			continue
		}
		r, why, err := correlate(o, oppo.Name, it.Param, it.RegistrationIDs)
		if err != nil {
			return Parsed{}, err
		}
		if why != "" {
			p.skip(why)
			continue
		}
		if it.MessageID != "" {
			desc += ", oppo message " + truncate(it.MessageID, 64)
		}
		r.Event, r.StatusCode, r.StatusDesc, r.TS = ev, code, desc, it.EventTime.v
		p.Receipts = append(p.Receipts, r)
	}
	return p, nil
}

// vivoItem is one value of the vivo receipt object, keyed by vivo task id.
type vivoItem struct {
	Param   string  `json:"param"`
	Targets string  `json:"targets"`
	AckTime flexInt `json:"ackTime"`
	AckType flexInt `json:"ackType"`
}

// ParseVivo reads a vivo Push receipt: a JSON object keyed by vivo task id,
// each value {"param", "targets", "ackTime", "ackType"}. param is the
// callback.param the sender set; targets are comma-separated regIds.
// ackType "0" (or none) is an arrival; other ack types are skipped.
func ParseVivo(body []byte) (Parsed, error) { return parseVivo(body, parseOptions{}) }

func parseVivo(body []byte, o parseOptions) (Parsed, error) {
	var items map[string]vivoItem
	if err := json.Unmarshal(body, &items); err != nil {
		return Parsed{}, parseErr("malformed_json", "vivo receipt is not a JSON object keyed by task id: %v", err)
	}
	if len(items) == 0 {
		return Parsed{}, parseErr("empty", "vivo receipt holds no receipt")
	}
	if len(items) > MaxReceiptItems {
		return Parsed{}, tooManyItems(vivo.Name, len(items))
	}
	var p Parsed
	for _, id := range slicesSorted(items) {
		it := items[id]
		if it.AckType.set && it.AckType.v != 0 {
			p.skip("unknown_type")
			continue
		}
		r, why, err := correlate(o, vivo.Name, it.Param, it.Targets)
		if err != nil {
			return Parsed{}, err
		}
		if why != "" {
			p.skip(why)
			continue
		}
		r.Event, r.StatusCode = schema.EventArrived, channels.StatusAcked
		r.StatusDesc = "Acked: vivo receipt ackType 0, delivered to the device, vivo task " + truncate(id, 64)
		r.TS = it.AckTime.v
		p.Receipts = append(p.Receipts, r)
	}
	return p, nil
}

// ClientEvent is one event of the app SDK's batch.
type ClientEvent struct {
	// DeliveryID names the delivery (the "deliveryId" the push carried);
	// or MsgID and DeviceID name it together; or MsgID and Token (the
	// device's vendor token) do, as in the receipt of a vendor call that
	// carried many tokens (the push carried the msg id only).
	DeliveryID string `json:"deliveryId,omitempty"`
	MsgID      string `json:"msgId,omitempty"`
	DeviceID   string `json:"deviceId,omitempty"`
	Token      string `json:"token,omitempty"`
	// Event is "arrival", "open" or "ignore".
	Event string `json:"event"`
	// TS is when it happened on the device, Unix milliseconds.
	TS int64 `json:"ts,omitempty"`
	// AppVersion and Model describe the app and device now; optional.
	AppVersion string `json:"appVersion,omitempty"`
	Model      string `json:"model,omitempty"`
}

// ClientBatch is the body of the client-events endpoint.
type ClientBatch struct {
	Events []ClientEvent `json:"events"`
}

// clientEvent returns the event a client event name becomes.
func clientEvent(name string) (schema.EventType, bool) {
	switch name {
	case "arrival":
		return schema.EventArrived, true
	case "open":
		return schema.EventOpened, true
	case "ignore":
		return schema.EventIgnored, true
	}
	return "", false
}

// ParseClient reads a batch of app SDK events, {"events": [{"deliveryId"
// | "msgId" and "deviceId" | "msgId" and "token", "event": "arrival" |
// "open" | "ignore", "ts", "appVersion", "model"}]}, at most maxEvents of
// them. An event naming a deliveryId becomes a Receipt with that
// DeliveryID (the token, if given, in Tokens); one naming a msgId and a
// deviceId a Receipt with MsgID and DeviceID (and the deliveryId, if
// given too), whose delivery id the server derives once it authenticated
// the app; one naming only a msgId and a token becomes Receipt{MsgID,
// Tokens: [token]}, exactly as a vendor receipt of a multi-token call,
// which the event sink resolves to the delivery. Unlike vendor receipts,
// any invalid event fails the whole batch, naming it, since the SDK is
// ours to fix.
func ParseClient(body []byte, maxEvents int) (Parsed, error) {
	return parseClient(body, parseOptions{maxClientEvents: maxEvents})
}

func parseClient(body []byte, o parseOptions) (Parsed, error) {
	maxEvents := o.maxClientEvents
	var raw struct {
		Events *[]json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Parsed{}, parseErr("malformed_json", "client events are not a JSON object {\"events\": [...]}: %v", err)
	}
	if raw.Events == nil || len(*raw.Events) == 0 {
		return Parsed{}, parseErr("empty", "client events: \"events\" is missing or empty")
	}
	if len(*raw.Events) > maxEvents {
		return Parsed{}, parseErr("too_many", "client events: %d events in one batch, at most %d", len(*raw.Events), maxEvents)
	}
	var p Parsed
	for i, rm := range *raw.Events {
		var ce struct {
			ClientEvent
			TS flexInt `json:"ts"`
		}
		if err := json.Unmarshal(rm, &ce); err != nil {
			return Parsed{}, parseErr("malformed_json", "client events: events[%d]: %v", i, err)
		}
		ev, ok := clientEvent(ce.Event)
		if !ok {
			return Parsed{}, parseErr("invalid_event", "client events: events[%d]: event %.40q is not arrival, open or ignore", i, ce.Event)
		}
		for _, f := range [][2]string{{"deliveryId", ce.DeliveryID}, {"msgId", ce.MsgID}, {"deviceId", ce.DeviceID}, {"token", ce.Token}, {"appVersion", ce.AppVersion}, {"model", ce.Model}} {
			if len(f[1]) > maxClientField {
				return Parsed{}, parseErr("invalid_event", "client events: events[%d]: %s is longer than %d bytes", i, f[0], maxClientField)
			}
		}
		// A client event names one device's token: trimmed, and never a
		// list (the vendor receipt formats separate tokens with commas).
		ce.Token = strings.TrimSpace(ce.Token)
		if strings.Contains(ce.Token, ",") {
			return Parsed{}, parseErr("invalid_event", "client events: events[%d]: token %.40q holds a comma; an event names one token", i, ce.Token)
		}
		id := ce.DeliveryID
		var msgID, deviceID string
		switch {
		case id != "" && !schema.IsDeliveryID(id):
			return Parsed{}, parseErr("invalid_event", "client events: events[%d]: deliveryId %.40q is not a delivery id", i, id)
		case id == "" && (ce.MsgID == "" || (ce.DeviceID == "" && ce.Token == "")):
			return Parsed{}, parseErr("invalid_event", "client events: events[%d]: give deliveryId, or msgId and deviceId, or msgId and token", i)
		case ce.MsgID != "" && ce.DeviceID != "":
			msgID, deviceID = ce.MsgID, ce.DeviceID
		case id == "":
			msgID = ce.MsgID
		}
		var tokens []string
		if ce.Token != "" {
			tokens = []string{ce.Token}
		}
		p.Receipts = append(p.Receipts, Receipt{
			DeliveryID: id, MsgID: msgID, DeviceID: deviceID, Tokens: tokens, Event: ev, StatusCode: channels.StatusAcked,
			StatusDesc: "Acked: reported by the app (" + ce.Event + ")",
			TS:         ce.TS.v, AppVersion: ce.AppVersion, Model: ce.Model,
		})
	}
	return p, nil
}

func slicesSorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
