// Package workers holds what the pipeline stages share beyond the runtime:
// turning events and rejections into Kafka outputs. Each stage is its own
// package below this one (fanout, sender, eventsink, registry...), built as
// a pipeline.BatchHandler that the stage runtime drives.
package workers

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// EventOutput encodes e for push.events.R of region, keyed by e.Key():
// "<appId>/<msg id>" (or task id for task-level events).
func EventOutput(region string, e schema.Event) pipeline.Output {
	b, err := schema.EncodeRecord(e)
	if err != nil {
		// Event has only plain fields; Marshal cannot fail on it.
		panic(fmt.Sprintf("encoding event: %v", err))
	}
	return pipeline.Output{Topic: pipeline.EventsTopic(region), Key: []byte(e.Key()), Value: b}
}

// Reject turns a decoding or validation error into a rejection: the code of
// a *schema.ValidationError, else 3028 INVALID_PARAM. partial carries what
// is known of the record (app, task...) into the rejected event.
func Reject(err error, partial schema.Event) *pipeline.Rejection {
	code := schema.CodeInvalidParam
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		code = ve.Code
	}
	return &pipeline.Rejection{Code: int(code), Reason: err.Error(), Event: partial}
}

// DeliveryOutput encodes d for push.deliveries.R of its region, keyed by
// d.KafkaKey() ("<appId>/<device id>") so that every delivery of a device
// goes to one partition.
func DeliveryOutput(d schema.Delivery) pipeline.Output {
	b, err := schema.EncodeRecord(d)
	if err != nil {
		// Delivery has only plain fields; Marshal cannot fail on it.
		panic(fmt.Sprintf("encoding delivery: %v", err))
	}
	return pipeline.Output{Topic: pipeline.DeliveriesTopic(d.Region), Key: []byte(d.KafkaKey()), Value: b}
}

// RevokedFunc tells whether a delivery's push was revoked, returning the
// revoke (control.RevokeReader.Revoked has this shape). Implementations are
// safe for concurrent use.
type RevokedFunc func(d *schema.Delivery) (schema.Control, bool)

// RevokedEvent is the terminal `revoked` event of a delivery that a revoke
// stopped before it was sent (status NONE, the description naming when the
// revoke was asked for and why).
func RevokedEvent(d *schema.Delivery, c schema.Control, at int64) pipeline.Output {
	e := d.EventFor(schema.EventRevoked, at)
	e.StatusCode = schema.StatusNone
	e.StatusDesc = "NONE: revoked at " + time.UnixMilli(c.TS).UTC().Format(time.RFC3339) + " before it was sent"
	if c.Reason != "" {
		e.StatusDesc += " (" + c.Reason + ")"
	}
	return EventOutput(d.Region, e)
}

// RetryOutput encodes d for the retry tier topic of its region that covers the
// time from now until d is due (see RetryDueAt): the smallest tier at least that
// long, or the largest tier for a longer wait, which the tier's handler
// then re-publishes until d is due (the retry stage). It is keyed by device id, like the
// deliveries topic.
func RetryOutput(d schema.Delivery, now time.Time) pipeline.Output {
	b, err := json.Marshal(d)
	if err != nil {
		// Delivery has only plain fields; Marshal cannot fail on it.
		panic(fmt.Sprintf("encoding delivery: %v", err))
	}
	tier := pipeline.RetryTierFor(time.UnixMilli(RetryDueAt(d)).Sub(now))
	return pipeline.Output{Topic: pipeline.RetryTierTopic(d.Region, tier), Key: []byte(d.KafkaKey()), Value: b}
}

// RetryDueAt is when a waiting delivery is released, in Unix milliseconds: its
// not-before time, or its expiry when that comes first (it then ends
// expired rather than being sent).
func RetryDueAt(d schema.Delivery) int64 {
	if d.ExpireAt > 0 {
		return min(d.NotBefore, d.ExpireAt)
	}
	return d.NotBefore
}
