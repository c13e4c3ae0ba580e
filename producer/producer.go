// Package producer is for upstream systems that publish straight to Kafka
// instead of calling the HTTP gateway: typed builders for the four mPaaS
// push types, the same synchronous validation fanout applies, and a
// Client that writes each request to push.requests.<region> keyed by its
// task id and returns only once Kafka acknowledged it.
//
// A request built here is a plain *schema.Request: set any further field
// (extendedParams, strategyType, smoothRate, ...) on it before publishing.
// Validation does not consult templates or devices; a request naming a
// template that does not exist is rejected later by fanout with a
// rejected event (the gateway checks templates synchronously).
//
// Revokes (schema.Control on push.control.<region>) and registry records
// (schema.Binding on push.bindings.<region>: devices, users, the tags
// of users through TagAdd, TagRemove, AddTags and RemoveTags, and the Live
// Activity tokens of ops activity_token and activity_token_remove) are
// published the same way.
// The Prepare functions turn a record into its Kafka output without
// publishing it, for callers that write through a producer of their own
// (the gateway does).
package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// DefaultExpiredSeconds is the message validity the builders set: one day.
const DefaultExpiredSeconds = 86400

// App names who sends: the region whose topics receive the request, the
// mPaaS app id and its workspace.
type App struct {
	Region      string
	AppID       string
	WorkspaceID string
}

func (a App) base(t schema.PushType, taskName string, deliverType int) *schema.Request {
	return &schema.Request{Type: t, Region: a.Region, AppID: a.AppID, WorkspaceID: a.WorkspaceID,
		TaskName: taskName, DeliverType: deliverType, ExpiredSeconds: DefaultExpiredSeconds}
}

// Simple returns a SIMPLE push (mPaaS §7.2.3): title and content to at most
// ten targets, each mapped to its msgKey (the business message id, unique
// per target). deliverType says what a target is (schema.DeliverAndroid,
// DeliverIOS, DeliverUser, ...).
func Simple(a App, taskName string, deliverType int, targets map[string]string, title, content string) *schema.Request {
	r := a.base(schema.PushSimple, taskName, deliverType)
	r.TargetMsgkey, r.Title, r.Content = schema.StringMap(targets), title, content
	return r
}

// Template returns a TEMPLATE push (§7.2.4): the stored template
// templateName rendered with kv (#name# placeholders) to at most ten
// targets, each mapped to its msgKey.
func Template(a App, taskName string, deliverType int, targets map[string]string, templateName string, kv map[string]string) *schema.Request {
	r := a.base(schema.PushTemplate, taskName, deliverType)
	r.TargetMsgkey, r.TemplateName, r.TemplateKeyValue = schema.StringMap(targets), templateName, schema.StringMap(kv)
	return r
}

// Multiple returns a MULTIPLE push (§7.2.5): the template templateName
// rendered per target (at most schema.MaxMultipleTargets) with the
// target's own templateKeyValue and extendedParams.
func Multiple(a App, taskName string, deliverType int, templateName string, targets []schema.TargetMsg) *schema.Request {
	r := a.base(schema.PushMultiple, taskName, deliverType)
	r.TemplateName, r.TargetMsgs = templateName, targets
	return r
}

// Broadcast returns a BROADCAST push (§7.2.6) to every device of the app
// in the region of the platform deliverType names (1 Android, 2 iOS, 7
// HarmonyOS), carrying one msgKey; set PushStatus, BindPeriod, ... on the
// result to narrow the audience.
func Broadcast(a App, taskName string, deliverType int, msgKey, templateName string, kv map[string]string) *schema.Request {
	r := a.base(schema.PushBroadcast, taskName, deliverType)
	r.MsgKey, r.TemplateName, r.TemplateKeyValue = msgKey, templateName, schema.StringMap(kv)
	return r
}

// TagAdd returns the registry record that adds tags to a user of the app
// (op tag_add on push.bindings.<region>, keyed by the user id): a
// BROADCAST with tags naming any of them then reaches the user's bound
// devices, as does a push with deliverType 12 and one of them as target.
// Tags belong to users: the record names no device. See ValidateBinding
// for the rules (schema.ValidateTags: 1 to schema.MaxTags distinct tags of
// at most schema.MaxTagChars characters).
func TagAdd(a App, userID string, tags ...string) *schema.Binding {
	return a.tagRecord(schema.OpTagAdd, userID, tags)
}

// TagRemove returns the registry record that removes tags from a user of
// the app (op tag_remove); removing a tag the user does not carry is
// harmless.
func TagRemove(a App, userID string, tags ...string) *schema.Binding {
	return a.tagRecord(schema.OpTagRemove, userID, tags)
}

func (a App) tagRecord(op schema.BindingOp, userID string, tags []string) *schema.Binding {
	return &schema.Binding{Op: op, Region: a.Region, AppID: a.AppID, WorkspaceID: a.WorkspaceID, UserID: userID, Tags: tags}
}

// ValidateBinding checks a registry record exactly as the registry will
// (schema.DecodeBinding) and returns a *schema.ValidationError carrying
// the mPaaS result code of the first rule broken, or nil.
func ValidateBinding(b *schema.Binding) error {
	_, err := encodeBinding(b)
	return err
}

// encodeBinding returns the JSON of b once the registry would accept it.
func encodeBinding(b *schema.Binding) ([]byte, error) {
	v, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding %s record of %s: %w", b.Op, b.Key(), err)
	}
	if _, err := schema.DecodeBinding(v); err != nil {
		return nil, err
	}
	return v, nil
}

// LiveActivity returns a SIMPLE push that updates or ends iOS Live
// Activities (§7.2.3): event (schema.ActivityEventUpdate or
// ActivityEventEnd) with contentState, a JSON object of the app's
// ContentState, to at most ten targets, each mapped to its msgKey: Live
// Activity ids (deliverType schema.DeliverActivityID, every token bound
// to them) or push tokens (schema.DeliverActivityToken). Set Title and
// Content for an alert, DismissalDate (Unix seconds) on an end.
func LiveActivity(a App, taskName string, deliverType int, targets map[string]string, event string, contentState []byte) *schema.Request {
	r := a.base(schema.PushSimple, taskName, deliverType)
	r.TargetMsgkey, r.ActivityEvent, r.ActivityContentState = schema.StringMap(targets), event, schema.JSONObject(contentState)
	return r
}

// Validate checks req with the rules fanout applies (schema.Request
// Validate) and returns a *schema.ValidationError carrying the mPaaS result
// code of the first rule broken, or nil. Templates and devices are not
// consulted. The abTest fields the pipeline sets (part, testId, winner)
// are refused (3028).
func Validate(req *schema.Request) error {
	if err := refuseABPipelineFields(req); err != nil {
		return err
	}
	return req.Validate()
}

// Published says where a published request went.
type Published struct {
	// TaskID is the request's task id: its Kafka key and the task_id of
	// its events.
	TaskID string `json:"taskId"`
	// ScheduleID is set for a scheduled or loop push (strategyType 1 or
	// 2): the id of the schedule it creates (mPaaS parentId).
	ScheduleID string `json:"scheduleId,omitempty"`
	// Topic is the topic the request was written to.
	Topic string `json:"topic"`
}

// regionFor returns the region a record naming region recordRegion goes
// to when served for region served ("" serves any region). A record
// naming another region than served is refused, never forwarded.
func regionFor(recordRegion, served, what string) (string, error) {
	switch {
	case recordRegion == "":
		if served == "" {
			return "", &schema.ValidationError{Code: schema.CodeInvalidParam, Detail: what + " names no region: set region to one of cn, ru, in, eu, sg"}
		}
		return served, nil
	case served != "" && recordRegion != served:
		return "", &schema.ValidationError{Code: schema.CodeInvalidParam,
			Detail: fmt.Sprintf("%s names region %q but this endpoint serves region %q; send it to region %s", what, recordRegion, served, recordRegion)}
	}
	return recordRegion, nil
}

// Prepare readies req for push.requests.<region> and returns its Kafka
// record without publishing it. It sets req.Region to region when empty
// (region "" accepts any region the request names; a request naming
// another region than a non-empty region is a 3028 error), req.AcceptedAt
// to now when zero, and req.TaskID to req.DeriveTaskID() when empty, so
// that publishing the same request again yields the same task id. Then
// it validates req (see Validate). Errors are *schema.ValidationError.
// Prepare modifies req; it is not safe for concurrent use on one request.
func Prepare(req *schema.Request, region string, now time.Time) (pipeline.Output, Published, error) {
	r, err := regionFor(req.Region, region, "the request")
	if err != nil {
		return pipeline.Output{}, Published{}, err
	}
	req.Region = r
	if req.AcceptedAt == 0 {
		req.AcceptedAt = now.UnixMilli()
	}
	if req.TaskID == "" {
		req.TaskID = req.DeriveTaskID()
	}
	if err := Validate(req); err != nil {
		return pipeline.Output{}, Published{}, err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return pipeline.Output{}, Published{}, fmt.Errorf("encoding request of task %s: %w", req.TaskID, err)
	}
	pub := Published{TaskID: req.TaskID, Topic: pipeline.RequestsTopic(req.Region)}
	if req.IsScheduled() {
		pub.ScheduleID = schema.NewScheduleID(req)
	}
	return pipeline.Output{Topic: pub.Topic, Key: []byte(req.KafkaKey()), Value: b}, pub, nil
}

// PrepareRevoke readies a revoke for push.control.<region>, keyed by
// c.ControlKey(): it fills c.Op (revoke), c.Region (as Prepare does) and
// c.TS (now) when empty and checks the record with schema.ValidateRevoke
// against acceptedAt (Unix ms of the push being revoked, 0 when unknown),
// so a push older than schema.RevokeWindow is refused with an error that
// matches schema.ErrRevokeTooLate.
func PrepareRevoke(c *schema.Control, region string, acceptedAt int64, now time.Time) (pipeline.Output, error) {
	r, err := regionFor(c.Region, region, "the revoke")
	if err != nil {
		return pipeline.Output{}, err
	}
	c.Region = r
	if c.Op == "" {
		c.Op = schema.ControlRevoke
	}
	if c.TS == 0 {
		c.TS = now.UnixMilli()
	}
	if err := schema.ValidateRevoke(c, acceptedAt, now); err != nil {
		return pipeline.Output{}, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return pipeline.Output{}, fmt.Errorf("encoding revoke %s: %w", c.ControlKey(), err)
	}
	return pipeline.Output{Topic: pipeline.ControlTopic(c.Region), Key: []byte(c.ControlKey()), Value: b}, nil
}

// PrepareBinding readies a registry record for push.bindings.<region>,
// keyed by b.KafkaKey(): it fills b.Region (as Prepare does) and b.TS (now)
// when empty and checks the record exactly as the registry will
// (schema.DecodeBinding), so a record the registry would reject is a
// *schema.ValidationError here.
func PrepareBinding(b *schema.Binding, region string, now time.Time) (pipeline.Output, error) {
	r, err := regionFor(b.Region, region, "the binding")
	if err != nil {
		return pipeline.Output{}, err
	}
	b.Region = r
	if b.TS == 0 {
		b.TS = now.UnixMilli()
	}
	v, err := encodeBinding(b)
	if err != nil {
		return pipeline.Output{}, err
	}
	return pipeline.Output{Topic: pipeline.BindingsTopic(b.Region), Key: []byte(b.KafkaKey()), Value: v}, nil
}

// Config configures a Client.
type Config struct {
	// Brokers are the Kafka bootstrap addresses (host:port). Required.
	Brokers []string
	// Security secures every connection to the brokers (SASL, TLS; see
	// pipeline.NewSASL). The zero value is plaintext without
	// authentication.
	Security pipeline.KafkaSecurity
	// Region, if set, is the only region the Client writes to: records
	// without a region get it, records naming another are refused. Empty
	// means each record's own region.
	Region string
	// ClientID names the producer to the brokers. Default
	// "pushpipe-producer".
	ClientID string
	// Compression is the codec of the record batches written (Kafka's
	// compression.type; the workers read any), except batches of at most
	// pipeline.UncompressedRecords records. Empty means
	// pipeline.DefaultCompression (snappy).
	Compression pipeline.Compression
	// Logger receives the Kafka client's warnings; the zero Logger
	// discards them.
	Logger zerolog.Logger
	// Now is the clock stamping acceptedAt; nil means time.Now.
	Now func() time.Time
}

// Validate reports the first setting that cannot work, saying what to fix.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("producer: Brokers is empty: give at least one Kafka host:port")
	}
	if err := c.Compression.Validate(); err != nil {
		return fmt.Errorf("producer: Compression %w", err)
	}
	if c.Region != "" && !schema.ValidRegion(c.Region) {
		return fmt.Errorf("producer: Region %q is not one of %v: use one of them, or empty for the region each request names", c.Region, schema.Regions())
	}
	return nil
}

// Client publishes push requests, revokes and registry records to Kafka
// for an upstream system and returns once every record was acknowledged by
// all in-sync replicas. It is safe for concurrent use. (It writes through a
// pipeline.Producer, the stages' record writer.)
type Client struct {
	cfg Config
	p   *pipeline.Producer
}

// New returns a Client for cfg. It does not contact Kafka; the first
// publish does. Topics must exist (workers create them at start).
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "pushpipe-producer"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: cfg.Brokers, Security: cfg.Security, ClientID: cfg.ClientID, Compression: cfg.Compression, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return &Client{cfg: cfg, p: p}, nil
}

// Publish validates req (see Prepare, which fills region, task id and
// acceptedAt on req) and writes it to push.requests.<region> keyed by its
// task id, returning once Kafka acknowledged it. A request that fails
// validation is not written: the error is a *schema.ValidationError.
// Publishing the same request again is harmless: fanout does not deliver
// a msgKey twice to a device.
func (p *Client) Publish(ctx context.Context, req *schema.Request) (Published, error) {
	pubs, err := p.PublishAll(ctx, []*schema.Request{req})
	if err != nil {
		return Published{}, err
	}
	return pubs[0], nil
}

// PublishAll validates every request first and writes none unless all are
// valid (the error then names the first invalid one by index and wraps its
// *schema.ValidationError); then it writes them in one batch and returns
// once Kafka acknowledged every one. On a Kafka error some requests may
// have been written; publishing them all again is harmless.
func (p *Client) PublishAll(ctx context.Context, reqs []*schema.Request) ([]Published, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	now := p.cfg.Now()
	outs := make([]pipeline.Output, len(reqs))
	pubs := make([]Published, len(reqs))
	for i, r := range reqs {
		out, pub, err := Prepare(r, p.cfg.Region, now)
		if err != nil {
			return nil, fmt.Errorf("request %d (task %q): %w", i, r.TaskName, err)
		}
		outs[i], pubs[i] = out, pub
	}
	if err := p.p.Produce(ctx, outs); err != nil {
		return nil, fmt.Errorf("publishing %d request(s) to %s: %w", len(outs), outs[0].Topic, err)
	}
	return pubs, nil
}

// Revoke validates c (see PrepareRevoke) and writes it to
// push.control.<region>, returning once Kafka acknowledged it. acceptedAt
// is when the push being revoked was accepted (Unix ms, 0 when unknown).
func (p *Client) Revoke(ctx context.Context, c *schema.Control, acceptedAt int64) error {
	out, err := PrepareRevoke(c, p.cfg.Region, acceptedAt, p.cfg.Now())
	if err != nil {
		return err
	}
	if err := p.p.Produce(ctx, []pipeline.Output{out}); err != nil {
		return fmt.Errorf("publishing revoke %s to %s: %w", c.ControlKey(), out.Topic, err)
	}
	return nil
}

// PublishBinding validates b (see PrepareBinding) and writes it to
// push.bindings.<region>, returning once Kafka acknowledged it.
func (p *Client) PublishBinding(ctx context.Context, b *schema.Binding) error {
	out, err := PrepareBinding(b, p.cfg.Region, p.cfg.Now())
	if err != nil {
		return err
	}
	if err := p.p.Produce(ctx, []pipeline.Output{out}); err != nil {
		return fmt.Errorf("publishing %s record of %s to %s: %w", b.Op, b.Key(), out.Topic, err)
	}
	return nil
}

// AddTags adds tags to a user of the app (see TagAdd) and returns once
// Kafka acknowledged the tag_add record; the registry applies it next. A
// record that fails validation is not written: the error is a
// *schema.ValidationError (3012 without a user, 3028 for bad tags).
func (p *Client) AddTags(ctx context.Context, a App, userID string, tags ...string) error {
	return p.PublishBinding(ctx, TagAdd(a, userID, tags...))
}

// RemoveTags removes tags from a user of the app (see TagRemove), like
// AddTags.
func (p *Client) RemoveTags(ctx context.Context, a App, userID string, tags ...string) error {
	return p.PublishBinding(ctx, TagRemove(a, userID, tags...))
}

// Close waits for publishes in flight and closes the Kafka connections.
// It is idempotent; later publishes fail with pipeline.ErrProducerClosed.
func (p *Client) Close() error { return p.p.Close() }
