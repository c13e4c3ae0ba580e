package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"

	json "github.com/goccy/go-json"
)

// EventType names one step of a push's lifecycle. The names are the values
// of the ClickHouse column events.event; analysts filter on them.
type EventType string

// Lifecycle steps, in the order a delivery usually passes them.
const (
	EventAccepted      EventType = "accepted"
	EventRejected      EventType = "rejected"
	EventPlanned       EventType = "planned"
	EventInvalidDevice EventType = "invalid_device"
	EventFiltered      EventType = "filtered"
	EventValid         EventType = "valid"
	EventSent          EventType = "sent"
	EventAcked         EventType = "acked"
	EventFailed        EventType = "failed"
	EventRetried       EventType = "retried"
	EventExpired       EventType = "expired"
	EventRevoked       EventType = "revoked"
	EventArrived       EventType = "arrived"
	EventOpened        EventType = "opened"
	EventIgnored       EventType = "ignored"
	EventCallbackSent  EventType = "callback_sent"
	// EventRecalled follows an acked delivery whose push was revoked: the
	// vendor was asked to withdraw the message. StatusCode 2 (Acked) means
	// the vendor confirmed; otherwise the status says why not (vendor
	// refused, or the vendor has no recall API).
	EventRecalled EventType = "recalled"
	// EventSuperseded is a terminal event (acked, failed, expired,
	// revoked) of a delivery that had already ended another way: a
	// replayed attempt met a different answer. The event sink stores it
	// under this name, its StatusDesc naming the outcome that stands and
	// the step it would have been, so that the delivery keeps exactly one
	// outcome; statistics count it nowhere.
	EventSuperseded EventType = "superseded"
)

// AllEventTypes lists every lifecycle step; a new step must be added here.
func AllEventTypes() []EventType {
	return []EventType{EventAccepted, EventRejected, EventPlanned, EventInvalidDevice,
		EventFiltered, EventValid, EventSent, EventAcked, EventFailed, EventRetried,
		EventExpired, EventRevoked, EventArrived, EventOpened, EventIgnored, EventCallbackSent, EventRecalled, EventSuperseded}
}

// Terminal reports whether a delivery that reached this step will not be
// tried again: acked, failed, expired and revoked end a delivery.
func (t EventType) Terminal() bool {
	switch t {
	case EventAcked, EventFailed, EventExpired, EventRevoked:
		return true
	}
	return false
}

// Event is one row of the events table and the only thing the event sink
// writes. EventID is deterministic (see NewEventID) so that a replayed
// Kafka record inserts the same row again and statistics, which count
// distinct event ids, do not change. TS is Unix milliseconds.
type Event struct {
	EventID     string    `json:"eventId"`
	TS          int64     `json:"ts"`
	Region      string    `json:"region"`
	AppID       string    `json:"appId"`
	WorkspaceID string    `json:"workspaceId,omitempty"`
	TaskID      string    `json:"taskId,omitempty"`
	MsgID       string    `json:"msgId,omitempty"`
	PushType    PushType  `json:"pushType,omitempty"`
	Target      string    `json:"target,omitempty"`
	DeviceID    string    `json:"deviceId,omitempty"`
	Platform    string    `json:"platform,omitempty"`
	Channel     string    `json:"channel,omitempty"`
	Event       EventType `json:"event"`
	StatusCode  int64     `json:"statusCode"`
	StatusDesc  string    `json:"statusDesc,omitempty"`
	Attempt     int       `json:"attempt,omitempty"`
	LatencyMs   int64     `json:"latencyMs,omitempty"`
	AppVersion  string    `json:"appVersion,omitempty"`
	Model       string    `json:"model,omitempty"`
	// DeliveryID names the (message, device) pair the event is about
	// (IDKey.DeliveryID); empty for task- and message-level events. Receipts
	// and client events may carry only this (or MsgID and Token); the
	// event sink then fills the other fields from its delivery index.
	DeliveryID string `json:"deliveryId,omitempty"`
	// VendorMsgID is the vendor's id of the accepted message (set on acked
	// events when the vendor returns one); a recall names it.
	VendorMsgID string `json:"vendorMsgId,omitempty"`
	// Template is the template a TEMPLATE, MULTIPLE or BROADCAST task
	// rendered; set on its accepted event.
	Template string `json:"template,omitempty"`
	// TaskName is the request's taskName; set on its accepted event.
	TaskName string `json:"taskName,omitempty"`
	// Token is the vendor token of the delivery. It travels on valid
	// events, so the event sink can index deliveries by (msg id, token),
	// and on receipts that name a token instead of a delivery id (a MiPush
	// call for many regIds). It is not a column of the events table.
	// Terminal events of a delivery with a CallbackURL carry it too, for
	// the business callback's extInfo.adToken.
	Token string `json:"token,omitempty"`
	// CallbackURL is the request's callbackUrl (mPaaS §6.9), set on the
	// terminal events (acked, failed, expired, revoked) of its deliveries
	// only: the callbacks worker posts the signed outcome there. It is not
	// a column of the events table and is never inserted.
	CallbackURL string `json:"callbackUrl,omitempty"`
	// NotifyID is the request's notifyId, on valid events of a request
	// that set one, for the delivery index (recall withdraws by it). It is
	// not a column of the events table.
	NotifyID string `json:"notifyId,omitempty"`
	// ReceiptAppID is the app a receipt or client event was authenticated
	// for by the receipts worker (the event's AppID stays empty until the
	// event sink resolves its delivery): the sink resolves it only to a
	// delivery of that app and drops it otherwise. It is not a column of
	// the events table.
	ReceiptAppID string `json:"receiptAppId,omitempty"`
}

// DecodeEvent decodes one record of push.events.R (the JSON of Event) into
// *e, as encoding/json's Unmarshal would: unknown fields are ignored, keys
// match field names case-insensitively, invalid UTF-8 becomes U+FFFD; a
// record that is not JSON leaves *e as it was, and one with a value of the
// wrong type fails with the other fields decoded. It is several times
// faster than encoding/json and allocates only the strings, each a copy,
// so e keeps no reference to data. Safe for concurrent use.
func DecodeEvent(data []byte, e *Event) error {
	return decodeRecord(data, e)
}

// DecodeDelivery decodes a push.deliveries.R or push.retry.R record into d,
// as encoding/json.Unmarshal would (same fields, same errors, d left as it
// was on a syntax error), several times faster.
func DecodeDelivery(data []byte, d *Delivery) error {
	return decodeRecord(data, d)
}

// EncodeRecord encodes v (an Event, a Delivery) as encoding/json.Marshal
// would, faster; it is what the stages write to Kafka.
func EncodeRecord(v any) ([]byte, error) {
	return json.Marshal(v)
}

// decodeRecord decodes data into v as encoding/json does.
func decodeRecord[T any](data []byte, v *T) error {
	// goccy/go-json decodes as encoding/json does, except that it keeps
	// what it decoded before a syntax error; UnmarshalOf takes v by its
	// type, which saves boxing it for every record.
	prev := *v
	err := json.UnmarshalOf(data, v)
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		*v = prev
	}
	return err
}

// Key is the Kafka key of the event on push.events.R: "<appId>/<id>"
// (AppKey) with the app (for a receipt not yet resolved, the app it was
// authenticated for) and the msg id, or the task id for task-level events
// such as accepted and rejected, or the delivery id for a receipt that
// names nothing else yet. Every event of one message of one app goes to
// one partition, in the order it was written.
func (e *Event) Key() string { return AppKey(e.keyParts()) }

// AppendKey appends Key() to b.
func (e *Event) AppendKey(b []byte) []byte {
	app, id := e.keyParts()
	return AppendAppKey(b, app, id)
}

// keyParts returns the app and the id of Key.
func (e *Event) keyParts() (app, id string) {
	app = e.AppID
	if app == "" {
		app = e.ReceiptAppID
	}
	switch {
	case e.MsgID != "":
		return app, e.MsgID
	case e.TaskID != "":
		return app, e.TaskID
	}
	return app, e.DeliveryID
}

// NewEventID derives an event id from the step and the parts that make the
// step unique (task id, msg id, device id, attempt, source offset...). The
// same inputs always give the same id.
//
// It allocates only the returned string (an id is derived for every event
// of every device of a broadcast).
func NewEventID(t EventType, parts ...string) string {
	var scratch [256]byte
	return hashOf(appendHashPart(scratch[:0], string(t)), parts)
}

// hashID returns the first 128 bits of SHA-256 over the parts, hex encoded.
// Parts are length-prefixed so ("ab","c") and ("a","bc") differ.
func hashID(parts ...string) string {
	var scratch [256]byte
	return hashOf(scratch[:0], parts)
}

// hashOf appends parts to b, as hashID frames them, and returns hashID's
// id of the whole.
func hashOf(b []byte, parts []string) string {
	for _, p := range parts {
		b = appendHashPart(b, p)
	}
	sum := sha256.Sum256(b)
	var id [32]byte
	hex.Encode(id[:], sum[:16])
	return string(id[:])
}

// appendHashPart appends one length-prefixed part of hashID's input.
func appendHashPart(b []byte, p string) []byte {
	b = strconv.AppendInt(b, int64(len(p)), 10)
	b = append(b, ':')
	return append(b, p...)
}

// EncodeRecordOf encodes v as EncodeRecord does, byte for byte, taking v by
// its type: a struct passed by value is not copied to the heap, so the
// result is the only allocation.
func EncodeRecordOf[T any](v T) ([]byte, error) {
	return json.MarshalOf(v)
}

// ShortHash is hashID for callers outside the package that need a stable
// identifier, e.g. a derived task id.
func ShortHash(parts ...string) string { return hashID(parts...) }
