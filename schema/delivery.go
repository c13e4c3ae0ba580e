package schema

// Delivery is one (message, device) pair produced by fanout and consumed by
// the sender, keyed by "<appId>/<device id>" on push.deliveries.R.
// DeliveryID is deterministic (IDKey.DeliveryID) so a replayed request
// produces the same delivery and every event derived from it has the same
// id. Times are Unix milliseconds.
type Delivery struct {
	DeliveryID  string   `json:"deliveryId"`
	MsgID       string   `json:"msgId"`
	TaskID      string   `json:"taskId"`
	AppID       string   `json:"appId"`
	WorkspaceID string   `json:"workspaceId,omitempty"`
	Region      string   `json:"region"`
	PushType    PushType `json:"pushType"`
	Target      string   `json:"target"`
	DeviceID    string   `json:"deviceId"`
	Platform    string   `json:"platform"`
	Channel     string   `json:"channel"`
	Token       string   `json:"token"`

	Title       string            `json:"title,omitempty"`
	Body        string            `json:"body,omitempty"`
	Payload     string            `json:"payload,omitempty"`
	PassThrough bool              `json:"passThrough,omitempty"`
	Extras      map[string]string `json:"extras,omitempty"`

	ExpireAt  int64 `json:"expireAt"`
	Attempt   int   `json:"attempt"`
	NotBefore int64 `json:"notBefore,omitempty"`

	AcceptedAt  int64  `json:"acceptedAt,omitempty"`
	FannedOutAt int64  `json:"fannedOutAt,omitempty"`
	CallbackURL string `json:"callbackUrl,omitempty"`
	// NotifyID is the request's notifyId, when it set one: recall needs it
	// to withdraw the notification from the vendors that recall by it.
	NotifyID   string `json:"notifyId,omitempty"`
	AppVersion string `json:"appVersion,omitempty"`
	Model      string `json:"model,omitempty"`

	// SMSResend is set on an SMS held until the push it supplements has
	// had its validity (smsStrategy 1): the retry worker then sends it,
	// or ends it, by whether the push arrived. A decided SMS has none.
	SMSResend *SMSResend `json:"smsResend,omitempty"`
}

// KafkaKey is the Kafka key of the delivery on push.deliveries.R and the
// retry tiers: "<appId>/<device id>" (AppKey), so that every delivery of
// one app's device goes to one partition, in order.
func (d *Delivery) KafkaKey() string { return AppKey(d.AppID, d.DeviceID) }

// AppendKafkaKey appends KafkaKey() to b.
func (d *Delivery) AppendKafkaKey(b []byte) []byte { return AppendAppKey(b, d.AppID, d.DeviceID) }

// Revocable reports whether a revoke of the delivery's push stops the
// delivery: every delivery but an SMS, which is never revoked or recalled
// (an SMS that was sent cannot be taken back, mPaaS §6.4).
func (d *Delivery) Revocable() bool { return d.Channel != ChannelSMS }

// EventFor builds the event of step t for this delivery, copying the
// identifying fields. EventID is derived from the delivery id, the step and
// the attempt, so the same step of the same attempt always has the same id;
// a terminal step's id leaves the attempt out, so a delivery that a replay
// made end twice the same way (a replayed retry acked at a later attempt
// than the original) still has one acked event, counted once.
// The valid event also carries the vendor token and the request's notify
// id, for the delivery index.
// Terminal events (acked, failed, expired, revoked) carry the delivery's
// CallbackURL and, when there is one, the vendor token, so the callbacks
// worker can tell the business system the outcome; other events carry
// neither.
func (d *Delivery) EventFor(t EventType, ts int64) Event {
	id := NewEventID(t, d.DeliveryID, itoa(d.Attempt))
	if t.Terminal() {
		id = NewEventID(t, d.DeliveryID)
	}
	e := Event{
		EventID:     id,
		TS:          ts,
		Region:      d.Region,
		AppID:       d.AppID,
		WorkspaceID: d.WorkspaceID,
		TaskID:      d.TaskID,
		MsgID:       d.MsgID,
		PushType:    d.PushType,
		Target:      d.Target,
		DeviceID:    d.DeviceID,
		Platform:    d.Platform,
		Channel:     d.Channel,
		Event:       t,
		Attempt:     d.Attempt,
		AppVersion:  d.AppVersion,
		Model:       d.Model,
		DeliveryID:  d.DeliveryID,
	}
	if t == EventValid {
		e.Token, e.NotifyID = d.Token, d.NotifyID
	}
	if t.Terminal() && d.CallbackURL != "" {
		e.CallbackURL, e.Token = d.CallbackURL, d.Token
	}
	return e
}

// IsDeliveryID reports whether s has the form IDKey.DeliveryID gives: "d"
// followed by 24 lowercase hexadecimal digits. Receipt correlation values
// of that form are taken as delivery ids, any other value as a msg id.
func IsDeliveryID(s string) bool {
	if len(s) != 25 || s[0] != 'd' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ReceiptEventID is the event id of step t (arrived, opened, ignored, or
// a vendor-reported failure) of a delivery as reported after the vendor
// call, by a vendor receipt or by the app. It depends only on the step and
// the delivery, so a replayed receipt writes the same row, and a vendor
// receipt and the app reporting the same arrival count once.
func ReceiptEventID(t EventType, deliveryID string) string {
	return NewEventID(t, "receipt", deliveryID)
}

// PendingReceiptEventID is the event id of step t reported for a (msg id,
// token) pair whose delivery id is not known yet. The event sink replaces
// it with ReceiptEventID once it resolves the pair; it stays only on
// receipts for deliveries that were never made.
func PendingReceiptEventID(t EventType, msgID, token string) string {
	return NewEventID(t, "receipt-by-token", msgID, token)
}
