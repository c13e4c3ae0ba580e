package pipeline

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/schema"
)

// Headers on every dead-letter record. Values are UTF-8 strings; numbers are
// decimal.
const (
	HeaderReason          = "pushpipe-reason"           // why the record was rejected
	HeaderResultCode      = "pushpipe-result-code"      // the result code, e.g. "3019" or "9000"
	HeaderSourceTopic     = "pushpipe-source-topic"     // topic the record was read from
	HeaderSourcePartition = "pushpipe-source-partition" // its partition
	HeaderSourceOffset    = "pushpipe-source-offset"    // its offset
	HeaderStage           = "pushpipe-stage"            // name of the stage that rejected it
)

// headerPrefix marks the headers the runtime owns; a dead-letter record
// keeps the original record's other headers.
const headerPrefix = "pushpipe-"

// maxReasonLen caps the reason stored in headers and events.
const maxReasonLen = 1024

// truncatedDLQ drops the value of a dead-letter record that is too large,
// recording its size in a header.
func truncatedDLQ(o Output) Output {
	h := make([]kafka.Header, 0, len(o.Headers)+1)
	h = append(h, o.Headers...)
	h = append(h, kafka.Header{Key: headerPrefix + "value-dropped-bytes", Value: []byte(strconv.Itoa(len(o.Value)))})
	return Output{Topic: o.Topic, Key: o.Key, Headers: h}
}

// rejectionRecords builds the dead-letter record and the rejected event for
// a rejected record.
func (s *Stage) rejectionRecords(m kafka.Message, rej *Rejection) (dlq, event Output) {
	return DeadLetter(s.cfg.Name, s.cfg.Region, m, rej.Code, rej.Reason), RejectedEvent(s.cfg.Region, m, rej)
}

// DeadLetter returns the dead-letter record of m, a record read from a
// topic of region that the worker named stage rejects with result code
// code for reason: m's key, value and headers (less the runtime's own
// pushpipe-* headers) with the Header* headers above, for
// DLQTopic(region). reason is cut to 1024 bytes. A Stage builds it for
// every Rejection; a worker that reads Kafka without a Stage (the
// scheduler) builds its dead-letter records with it, so that they carry
// the same headers.
func DeadLetter(stage, region string, m kafka.Message, code int, reason string) Output {
	reason = cutReason(reason)
	headers := make([]kafka.Header, 0, len(m.Headers)+6)
	for _, h := range m.Headers {
		if !strings.HasPrefix(h.Key, headerPrefix) {
			headers = append(headers, h)
		}
	}
	headers = append(headers,
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderResultCode, Value: []byte(strconv.Itoa(code))},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		kafka.Header{Key: HeaderStage, Value: []byte(stage)},
	)
	return Output{Topic: DLQTopic(region), Key: m.Key, Value: m.Value, Headers: headers}
}

// RejectedEvent returns the rejected event of m, a record read from a
// topic of region and rejected with rej, for EventsTopic(region): rej.Event
// with EventID derived from m's topic, partition and offset (a replay
// yields the same id), TS m's timestamp (now when it has none), Event
// rejected, StatusCode rej.Code, StatusDesc rej.Reason cut to 1024 bytes
// and Region region. It is keyed by the event's Key, or m's key when that
// is empty.
func RejectedEvent(region string, m kafka.Message, rej *Rejection) Output {
	ev := rej.Event
	ev.EventID = schema.NewEventID(schema.EventRejected, m.Topic, strconv.Itoa(m.Partition), strconv.FormatInt(m.Offset, 10))
	ev.TS = m.Time.UnixMilli()
	if m.Time.IsZero() {
		ev.TS = time.Now().UnixMilli()
	}
	ev.Event = schema.EventRejected
	ev.StatusCode = int64(rej.Code)
	ev.StatusDesc = cutReason(rej.Reason)
	ev.Region = region
	value, err := json.Marshal(ev)
	if err != nil { // schema.Event has only plain fields; this cannot happen
		panic(fmt.Sprintf("pipeline: encoding rejected event: %v", err))
	}
	key := []byte(ev.Key())
	if len(key) == 0 {
		key = m.Key
	}
	return Output{Topic: EventsTopic(region), Key: key, Value: value}
}

// cutReason caps a rejection reason at maxReasonLen bytes.
func cutReason(reason string) string {
	if len(reason) > maxReasonLen {
		return reason[:maxReasonLen]
	}
	return reason
}
