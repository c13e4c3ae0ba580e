package receipts

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// authKind is how an endpoint's requests are authenticated (see auth.go).
type authKind uint8

const (
	authHuawei authKind = iota + 1 // X-HUAWEI-CALLBACK-ID (hms, harmonyos)
	authToken                      // token in the receipt address (honor)
	authTag                        // tagged callback parameters (mipush, oppo, vivo)
	authClient                     // signed body (client)
)

// vendor is one receipt endpoint: how its requests are authenticated, how
// its bodies are read and how it is answered.
type vendor struct {
	// name is the path segment and the metric label.
	name string
	// channel is the channel name put on the events until the event sink
	// replaces it with the delivery's channel; "" for the app SDK.
	channel string
	// format is the receipt format of the channel (none for the app SDK).
	format channels.ReceiptFormat
	auth   authKind
	parse  func(body []byte, o parseOptions) (Parsed, error)
	// answer writes the response: success when status is 200, else an
	// error carrying message, in the form the vendor expects.
	answer func(w http.ResponseWriter, status int, message string)
}

// vendors lists the receipt endpoints: one per vendor of the registry that
// posts receipts (its Vendor.Receipts format says how they are
// authenticated, read and answered), in the registry's order, then the app
// SDK's client events.
func vendors() []vendor {
	var out []vendor
	for _, rv := range registry.Vendors() {
		v := vendor{name: rv.Name, channel: rv.Name, format: rv.Receipts}
		switch name, format := rv.Name, rv.Receipts; format {
		case channels.ReceiptsHuawei, channels.ReceiptsHarmony, channels.ReceiptsHonor:
			v.auth, v.answer = authHuawei, answerHuawei
			if format == channels.ReceiptsHonor {
				v.auth = authToken
			}
			v.parse = func(b []byte, o parseOptions) (Parsed, error) { return parseStatuses(name, b, format, o) }
		case channels.ReceiptsMiPush:
			v.auth, v.parse, v.answer = authTag, parseMiPush, answerMiPush
		case channels.ReceiptsOPPO:
			v.auth, v.parse, v.answer = authTag, parseOPPO, answerResult
		case channels.ReceiptsVivo:
			v.auth, v.parse, v.answer = authTag, parseVivo, answerResult
		default:
			continue
		}
		out = append(out, v)
	}
	return append(out, vendor{name: "client", auth: authClient, parse: parseClient, answer: answerResult})
}

// Endpoints lists the names of the receipt endpoints (/receipts/<name>):
// hms, honor, harmonyos, mipush, oppo, vivo, client. They are the keys of
// Config.AllowedSources and the vendor label of the metrics.
func Endpoints() []string { return vendorNames() }

func vendorByName(name string) (vendor, bool) {
	for _, v := range vendors() {
		if v.name == name {
			return v, true
		}
	}
	return vendor{answer: answerResult}, false
}

func vendorNames() []string {
	var out []string
	for _, v := range vendors() {
		out = append(out, v.name)
	}
	return out
}

// Paths lists the receipt endpoints, /receipts/<vendor>, in a stable
// order: hms, honor, harmonyos, mipush, oppo, vivo, client.
func Paths() []string {
	var out []string
	for _, v := range vendors() {
		out = append(out, "/receipts/"+v.name)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// answerHuawei answers as the Huawei, Honor and HarmonyOS receipt
// callbacks expect: {"code":"0","message":"success"}, or the HTTP status
// as code with the problem as message.
func answerHuawei(w http.ResponseWriter, status int, message string) {
	if status == http.StatusOK {
		writeJSON(w, status, map[string]string{"code": "0", "message": "success"})
		return
	}
	writeJSON(w, status, map[string]string{"code": strconv.Itoa(status), "message": message})
}

// answerMiPush answers MiPush: only the HTTP status matters to it; the
// body is the §7.2.12 result message.
func answerMiPush(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if status == http.StatusOK {
		_, _ = w.Write([]byte(schema.CodeSuccess.Name()))
		return
	}
	_, _ = w.Write([]byte(resultFor(status).Name() + ": " + message))
}

// answerResult answers with the mPaaS result of §7.2.12, as the OPPO and
// vivo receipt callbacks of §7.2.10 do: {"returnCode":100,
// "returnReason":"SUCCESS"}, or 3028 INVALID_PARAM (4xx) / 9000
// SYSTEM_ERROR (5xx) with the problem.
func answerResult(w http.ResponseWriter, status int, message string) {
	if status == http.StatusOK {
		writeJSON(w, status, map[string]any{"returnCode": int(schema.CodeSuccess), "returnReason": schema.CodeSuccess.Name()})
		return
	}
	c := resultFor(status)
	writeJSON(w, status, map[string]any{"returnCode": int(c), "returnReason": c.Name() + ": " + message})
}

func resultFor(status int) schema.ResultCode {
	if status >= 500 {
		return schema.CodeSystemError
	}
	return schema.CodeInvalidParam
}

// metrics are the receipts worker's series; every one carries the
// constant label region.
type metrics struct {
	requests *prometheus.CounterVec
	rejected *prometheus.CounterVec
	refused  *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	events   *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

// newMetrics creates and registers with reg (nil: unregistered):
//
//	pushpipe_receipts_requests_total{vendor,code}    requests by HTTP status
//	pushpipe_receipts_rejected_total{vendor,reason}  requests refused (4xx, 5xx) by reason: malformed_json, bad_form, no_data, empty, too_large, too_many, too_many_items, too_many_events, invalid_event, method, unknown_vendor, unavailable, and the reasons of auth_refused_total
//	pushpipe_receipts_auth_refused_total{vendor,reason} requests that failed authentication (401, 403), which wrote nothing: no_app, unknown_app, no_credentials, no_signature, bad_signature, bad_token, bad_tag, stale_timestamp, replayed_nonce, source_not_allowed
//	pushpipe_receipts_skipped_total{vendor,reason}   receipt items ignored in accepted bodies: no_correlation, no_status, no_target, unknown_type, too_many_targets
//	pushpipe_receipts_events_total{vendor,event}     events published
//	pushpipe_receipts_request_seconds{vendor}        request latency, Kafka acknowledgement included
//
// Registering a second server of the same region on reg shares the series.
func newMetrics(reg prometheus.Registerer, region string) *metrics {
	labels := prometheus.Labels{"region": region}
	vec := func(name, help string, l ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "receipts", Name: name, Help: help, ConstLabels: labels}, l)
	}
	m := &metrics{
		requests: vec("requests_total", "Receipt requests by vendor and HTTP status.", "vendor", "code"),
		rejected: vec("rejected_total", "Receipt requests refused, by vendor and reason.", "vendor", "reason"),
		refused:  vec("auth_refused_total", "Receipt requests that failed authentication and wrote nothing, by vendor and reason.", "vendor", "reason"),
		skipped:  vec("skipped_total", "Receipt items ignored in accepted bodies, by vendor and reason.", "vendor", "reason"),
		events:   vec("events_total", "Events published from receipts, by vendor and event.", "vendor", "event"),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "pushpipe", Subsystem: "receipts", Name: "request_seconds",
			Help: "Receipt request latency in seconds, Kafka acknowledgement included.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16)}, []string{"vendor"}),
	}
	if reg == nil {
		return m
	}
	m.requests = pipeline.Register(reg, m.requests)
	m.rejected = pipeline.Register(reg, m.rejected)
	m.refused = pipeline.Register(reg, m.refused)
	m.skipped = pipeline.Register(reg, m.skipped)
	m.events = pipeline.Register(reg, m.events)
	m.seconds = pipeline.Register(reg, m.seconds)
	return m
}
