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
	reason := rej.Reason
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	part, off := strconv.Itoa(m.Partition), strconv.FormatInt(m.Offset, 10)

	headers := make([]kafka.Header, 0, len(m.Headers)+6)
	for _, h := range m.Headers {
		if !strings.HasPrefix(h.Key, headerPrefix) {
			headers = append(headers, h)
		}
	}
	headers = append(headers,
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderResultCode, Value: []byte(strconv.Itoa(rej.Code))},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(part)},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(off)},
		kafka.Header{Key: HeaderStage, Value: []byte(s.cfg.Name)},
	)
	dlq = Output{Topic: DLQTopic(s.cfg.Region), Key: m.Key, Value: m.Value, Headers: headers}

	ev := rej.Event
	ev.EventID = schema.NewEventID(schema.EventRejected, m.Topic, part, off)
	ev.TS = m.Time.UnixMilli()
	if m.Time.IsZero() {
		ev.TS = time.Now().UnixMilli()
	}
	ev.Event = schema.EventRejected
	ev.StatusCode = int64(rej.Code)
	ev.StatusDesc = reason
	ev.Region = s.cfg.Region
	value, err := json.Marshal(ev)
	if err != nil { // schema.Event has only plain fields; this cannot happen
		panic(fmt.Sprintf("pipeline: encoding rejected event: %v", err))
	}
	key := []byte(ev.Key())
	if len(key) == 0 {
		key = m.Key
	}
	event = Output{Topic: EventsTopic(s.cfg.Region), Key: key, Value: value}
	return dlq, event
}
