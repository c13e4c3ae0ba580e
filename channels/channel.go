// Package channels defines the contract every vendor push channel
// implements (MiPush, APNs, FCM, Huawei, Honor, HarmonyOS, OPPO, vivo, the
// self-built channel) and the vocabulary the sender uses to act on vendor answers.
//
// One call of Channel.Send is one batch of messages for one app. The
// channel answers with one Result per message, in the same order, or with a
// whole-call error when nothing can be said about individual messages (the
// vendor was unreachable, rejected the credentials, throttled the call...).
// Whole-call errors are classified by the sentinel classes ErrTransient and
// ErrPermanent and inspected with errors.Is; vendor details are available
// with errors.As on *VendorError.
//
// Vendor packages live below this one (channels/mipush, ...); the simulator
// that stands in for every vendor in tests and demos is channels/vendorsim
// and the shared behaviour test is channels/conformance.
package channels

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is one notification for one device token on one vendor channel.
// The sender builds it from a schema.Delivery. Channels never modify a
// Message or its Extras map.
type Message struct {
	// DeliveryID identifies the (message, device) pair; deterministic, so
	// replays produce the same id. Channels send it to the vendor as the
	// receipt correlation value where the vendor allows one.
	DeliveryID string
	// MsgID is the pushpipe message id shared by every delivery of one
	// message.
	MsgID string
	// TaskID is the push task the message belongs to.
	TaskID string
	// AppID is the pushpipe app id; it selects the vendor credentials.
	AppID string
	// DeviceID is the pushpipe device id the token belongs to.
	DeviceID string
	// Token is the vendor token (MiPush regId, APNs device token, FCM
	// registration token...).
	Token string
	// Title and Body are the rendered notification texts.
	Title, Body string
	// Payload is the pass-through/custom payload (usually a JSON string);
	// may be empty.
	Payload string
	// PassThrough marks a silent (transparent) message that the app
	// receives without a notification being shown.
	PassThrough bool
	// ExpireAt is the end of the message validity. Channels send the
	// remaining time to live; a message already expired is not sent. The
	// zero value means "vendor default validity".
	ExpireAt time.Time
	// Extras carries vendor-specific and optional fields; see the Extra*
	// key constants. Unknown keys are ignored by channels that do not know
	// them.
	Extras map[string]string
}

// Keys of Message.Extras understood by the channels. Keys without a vendor
// prefix are vendor-neutral; keys with one ("mipush.") are read by that
// vendor only. Keys starting with ExtraCustomPrefix are app-defined
// key/value pairs (the mPaaS extendedParams) delivered to the app.
const (
	// ExtraNotifyType is the vendor-neutral notification effect bit set:
	// -1 all, 1 sound, 2 vibration, 4 lights (MiPush notify_type values).
	ExtraNotifyType = "notify_type"
	// ExtraURI is the action of a notification click: an http(s) URL opens
	// a web page, any other value is an in-app intent URI.
	ExtraURI = "uri"
	// ExtraMiPushChannelID is the MiPush notification channel id
	// (extra.channel_id, the mPaaS miChannelId).
	ExtraMiPushChannelID = "mipush.channel_id"
	// ExtraMiPushNotifyID is the MiPush notify_id: notifications with the
	// same id replace each other in the notification bar.
	ExtraMiPushNotifyID = "mipush.notify_id"
	// ExtraNotifyID is the vendor-neutral notification id a recall names
	// (the request's notifyId, from the delivery index): the recallers
	// that withdraw by notify id (MiPush, Huawei) read it when the
	// message has no vendor key of its own. Sending reads the vendor keys.
	ExtraNotifyID = "notify_id"
	// ExtraSmoothRate asks for smooth push: the task's messages are sent at
	// no more than this many messages a second in the whole region (e.g.
	// "3000", MiPush's smooth push speed). The sender enforces it; channels
	// ignore it.
	ExtraSmoothRate = "smooth_rate"
	// ExtraCustomPrefix starts app-defined key/value pairs; the rest of the
	// key is the name the app sees.
	ExtraCustomPrefix = "ext."
)

// Outcome classifies a vendor answer for one message. The zero value is not
// a valid outcome, so a result that was never filled in is noticed.
type Outcome int

// Outcomes of one message.
const (
	// Success: the vendor accepted the message for delivery.
	Success Outcome = iota + 1
	// Transient: not delivered now; retry later (after RetryAfter if set).
	Transient
	// Permanent: will never be delivered as sent (content rejected, message
	// expired...); fail the delivery.
	Permanent
	// InvalidToken: the vendor reports the token as invalid or
	// unregistered; fail the delivery and mark the token dead.
	InvalidToken
)

// String returns the outcome name for logs and metrics labels.
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case InvalidToken:
		return "invalid_token"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is the vendor answer for one message.
type Result struct {
	// Outcome says what the sender does with the delivery.
	Outcome Outcome
	// StatusCode is a status code of §10.3 of the mPaaS guide: a common
	// code (StatusAcked on success) or the vendor's own code.
	StatusCode int
	// StatusDesc names the status (e.g. "Acked", "BadDeviceToken") and may
	// carry the vendor's reason.
	StatusDesc string
	// VendorMsgID is the vendor's message id, when the vendor returns one.
	VendorMsgID string
	// RetryAfter is the earliest sensible retry delay for a Transient
	// outcome; zero means "use the normal backoff".
	RetryAfter time.Duration
}

// Channel is one vendor push channel. Implementations are safe for
// concurrent use by multiple goroutines.
type Channel interface {
	// Name is the channel name used in deliveries, events and metrics
	// ("mipush", "apns", ...).
	Name() string
	// MaxBatch is the number of messages one Send accepts (the vendor's
	// per-call target limit, e.g. 1000 regIds for MiPush). At least 1.
	MaxBatch() int
	// Send delivers msgs (len ≤ MaxBatch, all with the same AppID) and
	// returns results index-aligned with msgs (len(results) == len(msgs)).
	//
	// A non-nil error means the call as a whole failed and results is nil.
	// errors.Is(err, ErrTransient) means retry every message later
	// (network error, timeout, 5xx, 429 or vendor throttling, ctx
	// cancelled or past its deadline; the ctx error is wrapped too);
	// otherwise the error Is ErrPermanent (credentials rejected, batch too
	// large, mixed apps, unknown app...). Vendor details: errors.As with
	// *VendorError.
	//
	// Send returns promptly when ctx is done.
	Send(ctx context.Context, msgs []Message) ([]Result, error)
}

// BatchKeyer is implemented by channels whose vendor call carries one
// content for many tokens (MiPush). Messages with equal BatchKey can share
// one vendor call; Send splits a batch into one vendor call per distinct
// key, so a sender that groups by BatchKey makes exactly one vendor call per
// Send. Safe for concurrent use.
type BatchKeyer interface {
	BatchKey(m Message) string
}

// Whole-call error classes. Every error returned by Channel.Send matches
// exactly one of them with errors.Is.
var (
	ErrTransient = errors.New("transient channel error")
	ErrPermanent = errors.New("permanent channel error")
)

// Caller errors of Send, each also matching ErrPermanent.
var (
	// ErrBatchTooLarge: more messages than MaxBatch.
	ErrBatchTooLarge = fmt.Errorf("batch larger than the channel's MaxBatch: %w", ErrPermanent)
	// ErrMixedApps: messages of more than one AppID in one batch.
	ErrMixedApps = fmt.Errorf("batch mixes apps: %w", ErrPermanent)
	// ErrUnknownApp: no credentials configured for the batch's AppID.
	ErrUnknownApp = fmt.Errorf("no credentials configured for app: %w", ErrPermanent)
)

// VendorError is a whole-call failure reported by (or on the way to) a
// vendor. It matches its class (ErrTransient or ErrPermanent) and its Cause
// with errors.Is.
type VendorError struct {
	// Channel is the channel name, e.g. "mipush".
	Channel string
	// Op says what was being done, e.g. "sending batch".
	Op string
	// HTTPStatus is the HTTP status of the answer; 0 if none arrived.
	HTTPStatus int
	// Code is the vendor's error code; 0 if the answer carried none.
	Code int
	// Reason is the vendor's explanation, for logs. Never parse it.
	Reason string
	// RetryAfter is the vendor's requested delay (Retry-After), if any.
	RetryAfter time.Duration
	// Transient selects the class: ErrTransient if true, else ErrPermanent.
	Transient bool
	// Cause is the underlying error (network, ctx, decoding), if any.
	Cause error
}

// Error describes the failure with everything known about it.
func (e *VendorError) Error() string {
	msg := e.Channel + ": " + e.Op
	if e.HTTPStatus != 0 {
		msg += fmt.Sprintf(": http %d", e.HTTPStatus)
	}
	if e.Code != 0 {
		msg += fmt.Sprintf(": code %d", e.Code)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	if e.Transient {
		return msg + " (transient)"
	}
	return msg + " (permanent)"
}

// Unwrap returns the class sentinel and the cause, so errors.Is matches
// both.
func (e *VendorError) Unwrap() []error {
	class := ErrPermanent
	if e.Transient {
		class = ErrTransient
	}
	if e.Cause == nil {
		return []error{class}
	}
	return []error{class, e.Cause}
}

// RetryAfterOf returns the retry delay carried by err (a *VendorError in its
// chain), or zero.
func RetryAfterOf(err error) time.Duration {
	var ve *VendorError
	if errors.As(err, &ve) {
		return ve.RetryAfter
	}
	return 0
}

// CheckBatch verifies the caller contract of Send: at most maxBatch
// messages, all of one app. It returns the app id (empty for an empty
// batch) or an error matching ErrBatchTooLarge or ErrMixedApps.
func CheckBatch(msgs []Message, maxBatch int) (string, error) {
	if len(msgs) > maxBatch {
		return "", fmt.Errorf("%d messages, max %d: %w", len(msgs), maxBatch, ErrBatchTooLarge)
	}
	if len(msgs) == 0 {
		return "", nil
	}
	app := msgs[0].AppID
	for i := range msgs {
		if msgs[i].AppID != app {
			return "", fmt.Errorf("message %d has app %q, message 0 has %q: %w", i, msgs[i].AppID, app, ErrMixedApps)
		}
	}
	return app, nil
}
