package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// Bounds of the dead-letter pages.
const (
	// DeadLettersScanned is how many of the newest records of each
	// partition of push.dlq.<region> the page reads.
	DeadLettersScanned = 500
	// MaxDeadLettersShown is how many of those, of the app, it shows,
	// newest first.
	MaxDeadLettersShown = 100
	// MaxResendBytes bounds the value of a record sent back.
	MaxResendBytes = 1 << 20
)

// deadLetter is one record of push.dlq.<region> with what its headers say
// (pipeline.DeadLetter's).
type deadLetter struct {
	Partition int
	Offset    int64
	Time      time.Time
	Key       string
	Value     string
	// App is the app the record belongs to ("" when neither its key nor
	// its value names one).
	App                                     string
	Reason, Code, Stage                     string
	SourceTopic, SourcePartition, SourceOff string
	// Dropped is the size of a value too large to be kept, "" otherwise.
	Dropped string
	// Resendable is set when the console knows the decoder of its source
	// topic.
	Resendable bool
	headers    []kafka.Header
}

func deadLetterOf(m kafka.Message) deadLetter {
	d := deadLetter{Partition: m.Partition, Offset: m.Offset, Time: m.Time.UTC(), Key: string(m.Key), Value: string(m.Value)}
	for _, h := range m.Headers {
		switch v := string(h.Value); h.Key {
		case pipeline.HeaderReason:
			d.Reason = v
		case pipeline.HeaderResultCode:
			d.Code = v
		case pipeline.HeaderStage:
			d.Stage = v
		case pipeline.HeaderSourceTopic:
			d.SourceTopic = v
		case pipeline.HeaderSourcePartition:
			d.SourcePartition = v
		case pipeline.HeaderSourceOffset:
			d.SourceOff = v
		case "pushpipe-value-dropped-bytes":
			d.Dropped = v
		default:
			if !strings.HasPrefix(h.Key, "pushpipe-") {
				d.headers = append(d.headers, h)
			}
		}
	}
	d.App = recordApp(m.Key, m.Value)
	return d
}

// recordApp is the app a record belongs to: the app part of an
// "<appId>/<id>" key (schema.AppKey), else the appId of a JSON value.
func recordApp(key, value []byte) string {
	if i := bytes.IndexByte(key, '/'); i > 0 {
		return string(key[:i])
	}
	var v struct {
		AppID string `json:"appId"`
	}
	if json.Unmarshal(value, &v) == nil {
		return v.AppID
	}
	return ""
}

// mayHandle reports whether the account may see record d on the page of
// app: records of that app, and to an account of every app also records
// naming no app.
func (r *request) mayHandle(app string, d deadLetter) bool {
	return d.App == app || d.App == "" && slices.Contains(r.account.Apps, AllApps)
}

// deadLettersView is the dead-letter list.
type deadLettersView struct {
	Letters []deadLetter
	// Scanned is how many records were read; More is set when older
	// records were not read.
	Scanned   int
	PerPart   int
	More      bool
	CanResend bool
}

// deadLetters lists the newest records of push.dlq.<region> of the app,
// newest first: the DeadLettersScanned newest of each partition are read,
// MaxDeadLettersShown of them shown, each with its reason, result code,
// the stage that sent it and where it came from.
func (s *Server) deadLetters(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	v := view{Title: "Dead letters", App: app, Nav: "deadletters"}
	if re := r.URL.Query().Get("resent"); re != "" {
		v.Notice = "Dead letter " + re + " was sent back to " + r.URL.Query().Get("to") + "."
	}
	dv := deadLettersView{PerPart: DeadLettersScanned, CanResend: r.account.Role.CanResendDeadLetters()}
	v.Body = &dv
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	all, more, err := s.readDeadLetters(ctx, DeadLettersScanned)
	if err != nil {
		s.fail(w, r, "deadletters", v, "reading "+pipeline.DLQTopic(s.cfg.Region), err)
		return
	}
	dv.Scanned, dv.More = len(all), more
	for _, d := range all {
		if r.mayHandle(app, d) && len(dv.Letters) < MaxDeadLettersShown {
			d.Resendable = resendDecoder(s.cfg.Region, d.SourceTopic) != nil && d.Dropped == ""
			dv.Letters = append(dv.Letters, d)
		}
	}
	s.render(w, r.Request, http.StatusOK, "deadletters", r, v)
}

// readDeadLetters reads the perPartition newest records of every
// partition of the region's DLQ, newest first, and reports whether older
// ones were left unread.
func (s *Server) readDeadLetters(ctx context.Context, perPartition int) ([]deadLetter, bool, error) {
	topic := pipeline.DLQTopic(s.cfg.Region)
	parts, err := s.kafka.Partitions(ctx, topic)
	if err != nil {
		return nil, false, err
	}
	spans, err := s.kafka.Spans(ctx, topic, parts)
	if err != nil {
		return nil, false, err
	}
	var out []deadLetter
	more := false
	for _, p := range parts {
		sp := spans[p]
		from := max(sp.First, sp.End-int64(perPartition))
		more = more || from > sp.First
		if err := s.kafka.ReadRange(ctx, topic, p, from, sp.End, func(m kafka.Message) error {
			out = append(out, deadLetterOf(m))
			return nil
		}); err != nil {
			return nil, false, err
		}
	}
	slices.SortFunc(out, func(a, b deadLetter) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		if a.Partition != b.Partition {
			return b.Partition - a.Partition
		}
		return int(b.Offset - a.Offset)
	})
	return out, more, nil
}

// readDeadLetter reads the record at partition/offset of the DLQ; found
// is false when the topic holds none there.
func (s *Server) readDeadLetter(ctx context.Context, partition int, offset int64) (d deadLetter, found bool, err error) {
	topic := pipeline.DLQTopic(s.cfg.Region)
	parts, err := s.kafka.Partitions(ctx, topic)
	if err != nil || !slices.Contains(parts, partition) {
		return d, false, err
	}
	spans, err := s.kafka.Spans(ctx, topic, []int{partition})
	if sp := spans[partition]; err != nil || offset < sp.First || offset >= sp.End {
		return d, false, err
	}
	err = s.kafka.ReadRange(ctx, topic, partition, offset, offset+1, func(m kafka.Message) error {
		if m.Offset == offset {
			d, found = deadLetterOf(m), true
		}
		return pipeline.ErrStopReading
	})
	return d, found, err
}

// deadLetterView is the page of one dead letter, with the form that
// sends it back.
type deadLetterView struct {
	Letter deadLetter
	// Edited is the value in the form: the record's JSON indented, or
	// what the admin sent when it was refused.
	Edited    string
	CanResend bool
	// Decoder names the check the value must pass.
	Decoder string
}

// deadLetterAt finds the record of the path's {partition}/{offset} that
// the account may handle in app, and the view of its page; it shows the
// error page itself when there is none.
func (s *Server) deadLetterAt(w http.ResponseWriter, r *request, app string) (deadLetter, view, bool) {
	v := view{Title: "Dead letter", App: app, Nav: "deadletters"}
	p, perr := strconv.Atoi(r.PathValue("partition"))
	off, oerr := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if perr != nil || oerr != nil || p < 0 || off < 0 {
		v.Error = "A dead letter is named by its partition and offset, two numbers."
		s.render(w, r.Request, http.StatusNotFound, "error", r, v)
		return deadLetter{}, v, false
	}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	d, found, err := s.readDeadLetter(ctx, p, off)
	if err != nil {
		s.fail(w, r, "error", v, fmt.Sprintf("reading dead letter %d/%d", p, off), err)
		return deadLetter{}, v, false
	}
	if !found || !r.mayHandle(app, d) {
		v.Error = fmt.Sprintf("%s has no record of app %s at partition %d, offset %d.", pipeline.DLQTopic(s.cfg.Region), app, p, off)
		s.render(w, r.Request, http.StatusNotFound, "error", r, v)
		return deadLetter{}, v, false
	}
	d.Resendable = resendDecoder(s.cfg.Region, d.SourceTopic) != nil && d.Dropped == ""
	v.Title = fmt.Sprintf("Dead letter %d/%d", d.Partition, d.Offset)
	return d, v, true
}

// deadLetterPage shows one dead letter and, to an admin, its value in a
// form that sends it back.
func (s *Server) deadLetterPage(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	d, v, ok := s.deadLetterAt(w, r, app)
	if !ok {
		return
	}
	v.Body = &deadLetterView{Letter: d, Edited: indented(d.Value), CanResend: r.account.Role.CanResendDeadLetters(), Decoder: decoderName(s.cfg.Region, d.SourceTopic)}
	s.render(w, r.Request, http.StatusOK, "deadletter", r, v)
}

// indented is value's JSON indented, or value itself when it is not JSON.
func indented(value string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(value), "", "  ") != nil {
		return value
	}
	return b.String()
}

// resendDeadLetter sends a dead letter back to the topic it came from,
// for an admin, with the value of the form: it must pass the decoder the
// stage reading that topic uses (refused with that decoder's result code
// otherwise) and belong to the page's app (3007 otherwise). It keeps the
// record's key and its own headers (not the DLQ's). Who sent what back,
// from where, to where and when is logged.
func (s *Server) resendDeadLetter(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok || !s.allowed(w, r, app, r.account.Role.CanResendDeadLetters(), "admins", "send dead letters back") {
		return
	}
	d, v, ok := s.deadLetterAt(w, r, app)
	if !ok {
		return
	}
	value := strings.TrimSpace(r.PostFormValue("value"))
	dv := &deadLetterView{Letter: d, Edited: value, CanResend: true, Decoder: decoderName(s.cfg.Region, d.SourceTopic)}
	v.Body = dv
	refuse := func(status int, msg string) {
		v.Error = msg
		s.render(w, r.Request, status, "deadletter", r, v)
	}
	decode := resendDecoder(s.cfg.Region, d.SourceTopic)
	switch {
	case d.Dropped != "":
		refuse(http.StatusBadRequest, "This record's value was too large to keep in the DLQ ("+d.Dropped+" bytes): there is nothing to send back.")
		return
	case decode == nil:
		refuse(http.StatusBadRequest, fmt.Sprintf("Records of %q are not sent back from the console: only records of this region's requests, deliveries, retry, bindings, events, control and schedules topics are.", d.SourceTopic))
		return
	case len(value) > MaxResendBytes:
		refuse(http.StatusBadRequest, fmt.Sprintf("The value has %d bytes; at most %d are sent back.", len(value), MaxResendBytes))
		return
	}
	key, err := decode([]byte(value), s.cfg.Region, app)
	if err != nil {
		code := schema.CodeInvalidParam
		var ve *schema.ValidationError
		if errors.As(err, &ve) {
			code, err = ve.Code, errors.New(ve.Detail)
		}
		s.log.Warn().Str("account", r.account.Name).Str("app_id", app).Int("dlq_partition", d.Partition).Int64("dlq_offset", d.Offset).
			Int("code", int(code)).Msg("console: dead letter not sent back: the edited value does not pass the stage's decoder")
		refuse(http.StatusBadRequest, fmt.Sprintf("Not sent back: refused with code %d: %v", code, err))
		return
	}
	if key == "" {
		key = d.Key
	}
	out := pipeline.Output{Topic: d.SourceTopic, Key: []byte(key), Value: []byte(value), Headers: d.headers}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	if err := s.cfg.Producer.Produce(ctx, []pipeline.Output{out}); err != nil {
		s.log.Error().Err(err).Str("account", r.account.Name).Str("topic", d.SourceTopic).Msg("console: sending a dead letter back")
		refuse(http.StatusServiceUnavailable, "The record could not be sent back: Kafka cannot be reached now; try again.")
		return
	}
	s.log.Info().Str("account", r.account.Name).Str("role", string(r.account.Role)).Str("app_id", app).
		Str("dlq_topic", pipeline.DLQTopic(s.cfg.Region)).Int("dlq_partition", d.Partition).Int64("dlq_offset", d.Offset).
		Str("reason", d.Reason).Str("code", d.Code).Str("stage", d.Stage).
		Str("topic", d.SourceTopic).Str("key", key).Int("bytes", len(value)).Bool("edited", value != d.Value).
		Time("at", s.cfg.Now().UTC()).Msg("console: dead letter sent back")
	http.Redirect(w, r.Request, "/apps/"+url.PathEscape(app)+"/deadletters?"+url.Values{"resent": {fmt.Sprintf("%d/%d", d.Partition, d.Offset)}, "to": {d.SourceTopic}}.Encode(), http.StatusSeeOther)
}

// resendCheck decodes a value about to be sent back to its topic the way
// the stage reading that topic does, checks that it belongs to region
// and app, and returns the key it goes under ("" keeps the record's).
type resendCheck func(value []byte, region, app string) (key string, err error)

// resendDecoder is the check of records of topic, a topic of region, or
// nil when the console does not send its records back.
func resendDecoder(region, topic string) resendCheck {
	switch {
	case topic == pipeline.RequestsTopic(region):
		return checkRequest
	case topic == pipeline.DeliveriesTopic(region) || slices.ContainsFunc(pipeline.RetryTiers(), func(t time.Duration) bool { return topic == pipeline.RetryTierTopic(region, t) }):
		return checkDelivery
	case topic == pipeline.BindingsTopic(region):
		return func(v []byte, region, app string) (string, error) {
			b, err := schema.DecodeBinding(v)
			if err != nil {
				return "", err
			}
			return "", sameApp(b.AppID, app, b.Region, region)
		}
	case topic == pipeline.EventsTopic(region):
		return func(v []byte, region, app string) (string, error) {
			var e schema.Event
			if err := schema.DecodeEvent(v, &e); err != nil {
				return "", err
			}
			return "", sameApp(e.AppID, app, e.Region, region)
		}
	case topic == pipeline.ControlTopic(region):
		return func(v []byte, region, app string) (string, error) {
			c, err := schema.DecodeControl(v)
			if err != nil {
				return "", err
			}
			return c.ControlKey(), sameApp(c.AppID, app, c.Region, region)
		}
	case topic == pipeline.SchedulesTopic(region):
		return func(v []byte, _, app string) (string, error) {
			sc, err := schema.DecodeSchedule(v)
			if err != nil {
				return "", err
			}
			return sc.ScheduleID, sameApp(sc.AppID, app, "", "")
		}
	}
	return nil
}

// decoderName says which stage's check a record of topic must pass.
func decoderName(region, topic string) string {
	switch {
	case topic == pipeline.RequestsTopic(region):
		return "fanout's: schema.DecodeRequest, the region and Request.Validate"
	case topic == pipeline.BindingsTopic(region):
		return "the registry's: schema.DecodeBinding"
	case topic == pipeline.EventsTopic(region):
		return "the event sink's: schema.DecodeEvent"
	case topic == pipeline.ControlTopic(region):
		return "the revoke readers': schema.DecodeControl"
	case topic == pipeline.SchedulesTopic(region):
		return "the scheduler's: schema.DecodeSchedule"
	case resendDecoder(region, topic) != nil:
		return "the sender's and retry's: schema.DecodeDelivery, a delivery id and the region"
	}
	return ""
}

// checkRequest is fanout's check of a push request: DecodeRequest, the
// region of the topic, Validate. The key is the request's (KafkaKey).
func checkRequest(v []byte, region, app string) (string, error) {
	req, err := schema.DecodeRequest(v)
	if err != nil {
		return "", err
	}
	if req.Region != region {
		return "", &schema.ValidationError{Code: schema.CodeInvalidParam,
			Detail: fmt.Sprintf("request names region %q but goes back to the %s topic of region %q", req.Region, pipeline.RequestsTopic(region), region)}
	}
	if err := req.Validate(); err != nil {
		return "", err
	}
	return req.KafkaKey(), sameApp(req.AppID, app, "", "")
}

// checkDelivery is the sender's check of a delivery: DecodeDelivery, a
// delivery id, the region. The key is the delivery's (KafkaKey).
func checkDelivery(v []byte, region, app string) (string, error) {
	var d schema.Delivery
	if err := schema.DecodeDelivery(v, &d); err != nil {
		return "", err
	}
	if d.DeliveryID == "" {
		return "", &schema.ValidationError{Code: schema.CodeInvalidParam, Detail: "deliveryId is empty: a delivery needs its id"}
	}
	return d.KafkaKey(), sameApp(d.AppID, app, d.Region, region)
}

// sameApp refuses a record of another app (3007) or, when given, of
// another region (3028).
func sameApp(recordApp, app, recordRegion, region string) error {
	switch {
	case recordApp != app:
		return &schema.ValidationError{Code: schema.CodeAppIDWrong, Detail: fmt.Sprintf("appId %q is not %s, the app of this page", recordApp, app)}
	case recordRegion != region:
		return &schema.ValidationError{Code: schema.CodeInvalidParam, Detail: fmt.Sprintf("region %q is not %s, the region of this console", recordRegion, region)}
	}
	return nil
}
