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
	return eventOutput(pipeline.EventsTopic(region), &e)
}

// eventOutput encodes e for topic in one allocation of the exact size:
// the key and the value share it (the key's capacity ends where the value
// starts). They are built on the stack first (a record longer than the
// scratch array goes to the heap once more).
func eventOutput(topic string, e *schema.Event) pipeline.Output {
	var scratch [1024]byte
	b := e.AppendKey(scratch[:0])
	n := len(b)
	b = schema.AppendEvent(b, e)
	kv := make([]byte, len(b))
	copy(kv, b)
	return pipeline.Output{Topic: topic, Key: kv[:n:n], Value: kv[n:]}
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
	return deliveryOutput(pipeline.DeliveriesTopic(d.Region), &d)
}

// deliveryOutput encodes d for topic: two allocations, the key and the
// value.
func deliveryOutput(topic string, d *schema.Delivery) pipeline.Output {
	b, err := schema.EncodeRecordOf(*d)
	if err != nil {
		// Delivery has only plain fields; Marshal cannot fail on it.
		panic(fmt.Sprintf("encoding delivery: %v", err))
	}
	return pipeline.Output{Topic: topic, Key: d.AppendKafkaKey(nil), Value: b}
}

// RegionOutputs is EventOutput and DeliveryOutput for a stage of one
// region, with the region's topic names built once instead of per record
// (fanout encodes several records per device of a broadcast). The zero
// value is not usable; make one with NewRegionOutputs. It is immutable and
// safe for concurrent use.
type RegionOutputs struct {
	region, events, deliveries string
}

// NewRegionOutputs returns the RegionOutputs of region.
func NewRegionOutputs(region string) RegionOutputs {
	return RegionOutputs{region: region, events: pipeline.EventsTopic(region), deliveries: pipeline.DeliveriesTopic(region)}
}

// Event is EventOutput(region, e). e is not retained.
func (o RegionOutputs) Event(e *schema.Event) pipeline.Output { return eventOutput(o.events, e) }

// Delivery is DeliveryOutput(d): on push.deliveries of d.Region (the
// names of o's region are reused when it is d's). d is not retained.
func (o RegionOutputs) Delivery(d *schema.Delivery) pipeline.Output {
	if d.Region != o.region {
		return deliveryOutput(pipeline.DeliveriesTopic(d.Region), d)
	}
	return deliveryOutput(o.deliveries, d)
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
