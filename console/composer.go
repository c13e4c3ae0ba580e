package console

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/producer"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/fanout"
)

// ComposerTypes are the push types the composer sends: SIMPLE (title and
// content), TEMPLATE (a stored template and its values, for every
// target) and MULTIPLE (a template, with values per target).
var ComposerTypes = []schema.PushType{schema.PushSimple, schema.PushTemplate, schema.PushMultiple}

// targetKind is a deliverType the composer offers: what its target lines
// name.
type targetKind struct {
	DeliverType int
	Label       string
}

// composerKinds are the composer's deliverTypes: device ids per platform,
// user ids (all their devices) and aliases.
var composerKinds = []targetKind{
	{schema.DeliverAndroid, "Android device ids"},
	{schema.DeliverIOS, "iOS device ids"},
	{schema.DeliverHarmony, "HarmonyOS device ids"},
	{schema.DeliverUser, "user ids (every bound device)"},
	{schema.DeliverAlias, "aliases"},
}

// MaxComposerTargets bounds the target lines of one composed push: the
// most a MULTIPLE push takes (schema.Request.Validate refuses more than
// 10 for SIMPLE and TEMPLATE with 3029, as the gateway does).
const MaxComposerTargets = 100

// DefaultComposerExpiry is the expiredSeconds of a composed push when the
// form leaves it empty.
const DefaultComposerExpiry = 3600

// composeForm is the composer's fields, as the page shows them back.
type composeForm struct {
	Type        string
	DeliverType int
	// Targets is one target a line; for MULTIPLE a line may go on with
	// its template values as key=value&key=value after a space.
	Targets        string
	TaskName       string
	Title, Content string
	TemplateName   string
	// TemplateKV and Extras are key=value lines: the template values of
	// every target, and the extendedParams.
	TemplateKV     string
	URI            string
	Extras         string
	ExpiredSeconds string
	// Variants, when it holds any line, makes the push an A/B copy test
	// (schema.ABTest): one "title | content" a line, in place of Title and
	// Content; ABSample is its sample percent, ABMetric its metric and
	// ABDecision its decision time in seconds (empty: the defaults).
	Variants   string
	ABSample   string
	ABMetric   string
	ABDecision string
}

// readComposeForm reads the composer's fields of a POST.
func readComposeForm(r *http.Request) composeForm {
	f := composeForm{Type: r.PostFormValue("type"), Targets: r.PostFormValue("targets"), TaskName: strings.TrimSpace(r.PostFormValue("taskName")),
		Title: r.PostFormValue("title"), Content: r.PostFormValue("content"), TemplateName: strings.TrimSpace(r.PostFormValue("templateName")),
		TemplateKV: r.PostFormValue("templateKeyValue"), URI: strings.TrimSpace(r.PostFormValue("uri")), Extras: r.PostFormValue("extendedParams"),
		ExpiredSeconds: strings.TrimSpace(r.PostFormValue("expiredSeconds")), Variants: r.PostFormValue("variants"),
		ABSample: strings.TrimSpace(r.PostFormValue("abSample")), ABMetric: strings.TrimSpace(r.PostFormValue("abMetric")),
		ABDecision: strings.TrimSpace(r.PostFormValue("abDecision"))}
	f.DeliverType, _ = strconv.Atoi(r.PostFormValue("deliverType")) // 0 is refused by request
	return f
}

// keyValues reads key=value lines (blank lines skipped); what names the
// field in an error.
func keyValues(text, what string) (schema.StringMap, error) {
	var out schema.StringMap
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s line %d %q is not key=value", what, i+1, line)
		}
		if out == nil {
			out = schema.StringMap{}
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s names %q twice", what, k)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// composerTarget is one target line.
type composerTarget struct {
	target string
	kv     schema.StringMap
}

// targets reads the target lines: at most MaxComposerTargets, none twice;
// only MULTIPLE lines may carry values.
func (f composeForm) targets() ([]composerTarget, error) {
	var out []composerTarget
	seen := map[string]bool{}
	for i, line := range strings.Split(f.Targets, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		target, rest, _ := strings.Cut(line, " ")
		t := composerTarget{target: target}
		if rest = strings.TrimSpace(rest); rest != "" {
			if f.Type != string(schema.PushMultiple) {
				return nil, fmt.Errorf("target line %d %q has values after its target: only a MULTIPLE push takes values per target", i+1, line)
			}
			q, err := url.ParseQuery(rest)
			if err != nil {
				return nil, fmt.Errorf("target line %d: the values %q are not key=value&key=value: %w", i+1, rest, err)
			}
			t.kv = schema.StringMap{}
			for k, vs := range q {
				t.kv[k] = vs[len(vs)-1]
			}
		}
		if seen[target] {
			return nil, fmt.Errorf("target %q is listed twice", target)
		}
		seen[target] = true
		out = append(out, t)
	}
	if len(out) > MaxComposerTargets {
		return nil, fmt.Errorf("%d targets: the composer sends to at most %d", len(out), MaxComposerTargets)
	}
	return out, nil
}

// request builds the push the form describes for app, each message keyed
// by prefix and its line number. The form's own mistakes (a line that is
// not key=value, a target twice) are errors; everything else is left to
// the checks of gateway.PreparePush, as for a request to /v1/push/*.
func (f composeForm) request(app App, account, prefix string) (*schema.Request, error) {
	ts, err := f.targets()
	if err != nil {
		return nil, err
	}
	kv, err := keyValues(f.TemplateKV, "templateKeyValue")
	if err != nil {
		return nil, err
	}
	ext, err := keyValues(f.Extras, "extendedParams")
	if err != nil {
		return nil, err
	}
	expiry := int64(DefaultComposerExpiry)
	if f.ExpiredSeconds != "" {
		if expiry, err = strconv.ParseInt(f.ExpiredSeconds, 10, 64); err != nil {
			return nil, fmt.Errorf("expiredSeconds %q is not a whole number of seconds", f.ExpiredSeconds)
		}
	}
	name := f.TaskName
	if name == "" {
		name = "console test push by " + account
	}
	ab, err := f.abTest()
	if err != nil {
		return nil, err
	}
	req := &schema.Request{Type: schema.PushType(f.Type), AppID: app.AppID, WorkspaceID: app.WorkspaceID, TaskName: name, DeliverType: f.DeliverType,
		Title: f.Title, Content: f.Content, TemplateName: f.TemplateName, TemplateKeyValue: kv, URI: f.URI, ExtendedParams: ext, ExpiredSeconds: expiry,
		ABTest: ab}
	for i, t := range ts {
		key := prefix + "-" + strconv.Itoa(i+1)
		if req.Type == schema.PushMultiple {
			req.TargetMsgs = append(req.TargetMsgs, schema.TargetMsg{Target: t.target, MsgKey: key, TemplateKeyValue: t.kv})
			continue
		}
		if req.TargetMsgkey == nil {
			req.TargetMsgkey = schema.StringMap{}
		}
		req.TargetMsgkey[t.target] = key
	}
	return req, nil
}

// abTest reads the A/B test fields: nil when no variant line is given.
// The form's own mistakes (a line without " | ", a number that is not
// one) are errors; the ranges are left to schema.Request.Validate, which
// refuses them with 3028 as the gateway does.
func (f composeForm) abTest() (*schema.ABTest, error) {
	var variants []schema.ABVariant
	for i, line := range strings.Split(f.Variants, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		title, content, ok := strings.Cut(line, "|")
		if !ok {
			return nil, fmt.Errorf("variant line %d %q is not \"title | content\"", i+1, line)
		}
		variants = append(variants, schema.ABVariant{Title: strings.TrimSpace(title), Content: strings.TrimSpace(content)})
	}
	if len(variants) == 0 {
		return nil, nil
	}
	ab := &schema.ABTest{Variants: variants, Metric: f.ABMetric, SamplePercent: 10}
	var err error
	if f.ABSample != "" {
		if ab.SamplePercent, err = strconv.Atoi(f.ABSample); err != nil {
			return nil, fmt.Errorf("sample percent %q is not a whole number", f.ABSample)
		}
	}
	if f.ABDecision != "" {
		if ab.DecisionSeconds, err = strconv.ParseInt(f.ABDecision, 10, 64); err != nil {
			return nil, fmt.Errorf("decision time %q is not a whole number of seconds", f.ABDecision)
		}
	}
	return ab, nil
}

// composerView is the composer page.
type composerView struct {
	Form    composeForm
	Types   []schema.PushType
	Kinds   []targetKind
	Preview *preview
	// TaskID is the task of the push just sent; TaskLink its page.
	TaskID, TaskLink string
}

// composer shows the empty composer to an operator or admin.
func (s *Server) composer(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok || !s.allowed(w, r, app, r.account.Role.CanOperate(), "operators and admins", "compose pushes") {
		return
	}
	v := view{Title: "Composer", App: app, Nav: "composer",
		Body: &composerView{Form: composeForm{Type: string(schema.PushSimple), DeliverType: schema.DeliverAndroid}, Types: ComposerTypes, Kinds: composerKinds}}
	s.render(w, r.Request, http.StatusOK, "composer", r, v)
}

// compose previews (action=preview) or sends the composed push for an
// operator or admin. Both build the request from the form and check it
// with gateway.PreparePush, as /v1/push/<type> does, so a refusal has the
// gateway's code and words. A preview publishes nothing: it runs the
// fanout's own handler on the prepared record against the region's
// device registry and templates, and shows per device and channel what
// fanout would do. A send publishes the record through gateway.Push and
// links to the new task's page.
func (s *Server) compose(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok || !s.allowed(w, r, app, r.account.Role.CanOperate(), "operators and admins", "compose pushes") {
		return
	}
	cv := &composerView{Form: readComposeForm(r.Request), Types: ComposerTypes, Kinds: composerKinds}
	v := view{Title: "Composer", App: app, Nav: "composer", Body: cv}
	req, err := cv.Form.request(s.appOf(app), r.account.Name, "con-"+randomHex(6))
	if err != nil {
		s.badRequest(w, r, "composer", v, err)
		return
	}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	now := s.cfg.Now()
	preview := r.PostFormValue("action") == "preview"
	var pub producer.Published
	if preview {
		cv.Preview, err = s.preview(ctx, req, now)
	} else {
		pub, err = gateway.Push(ctx, s.cfg.ClickHouse, s.cfg.Database, s.cfg.Producer, s.cfg.Region, req.Type, req, now, submitterOf(r.account.Name))
	}
	if words := refusal(err); words != "" {
		what := "The push was "
		if preview {
			what = "The push would be "
		}
		s.badRequest(w, r, "composer", v, errors.New(what+words))
		return
	}
	if err != nil {
		s.fail(w, r, "composer", v, map[bool]string{true: "previewing the push", false: "sending the push"}[preview], err)
		return
	}
	if !preview {
		cv.TaskID, cv.TaskLink = pub.TaskID, "/apps/"+url.PathEscape(app)+"/tasks/"+url.PathEscape(pub.TaskID)
		if req.ABTest != nil {
			cv.TaskLink = "/apps/" + url.PathEscape(app) + "/abtests/" + url.PathEscape(pub.TaskID)
		}
		v.Notice = "Task " + pub.TaskID + " was published to " + pub.Topic + "."
		if note := gateway.ApprovalNote(s.appOf(app).Approval, req); note != "" {
			v.Notice += " It is " + note + ": see Approvals."
		}
		s.log.Info().Str("account", r.account.Name).Str("app_id", app).Str("task_id", pub.TaskID).Str("type", string(req.Type)).
			Int("targets", len(req.TargetMsgkey)+len(req.TargetMsgs)).Msg("console: test push sent")
	}
	s.render(w, r.Request, http.StatusOK, "composer", r, v)
}

// appOf returns the configured app id.
func (s *Server) appOf(id string) App {
	for _, a := range s.apps {
		if a.AppID == id {
			return a
		}
	}
	return App{AppID: id}
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// preview is what fanout would do with a composed push.
type preview struct {
	TaskID string
	// Rejected is set when fanout would reject the request (a rejected
	// event and a dead letter): its code and reason.
	Rejected     bool
	RejectCode   int
	RejectReason string
	// Devices are the (message, device) pairs, and targets without a
	// device, in target order.
	Devices []previewDevice
	// Channels are the channels the devices use, in the registry's order.
	Channels []previewChannel
}

// previewDevice is what fanout would do with one message for one device
// (or for a target that reaches none: DeviceID empty).
type previewDevice struct {
	Target, MsgID, DeviceID string
	// Registered and Registry* are what the device registry says of the
	// device (gateway.DeviceStatuses, as /v1/devices/status).
	Registered   bool
	RegistryChan string
	TokenValid   bool
	Platform     string
	Channel      string
	Outcome      schema.EventType
	Code         int64
	Reason       string
	Title, Body  string
	PayloadBytes int
	ExtraKeys    []string
}

// previewChannel is one channel of a preview: its content limits (the
// registry's, which fanout applies) and what its devices would get.
type previewChannel struct {
	Name  string
	Limit schema.ContentLimit
	// Valid, Filtered and Invalid count its devices by outcome.
	Valid, Filtered, Invalid int
	// Title and Body are what a valid device of the channel would be sent
	// (the first one's), with their lengths in characters.
	Title, Body           string
	TitleChars, BodyChars int
	// Reasons are the distinct refusals of its filtered devices.
	Reasons []string
}

// errPreviewStreams is the Emit of the preview's fanout: a composed push
// names its targets, so fanout never streams its outputs.
var errPreviewStreams = errors.New("console: a preview never streams outputs")

// newPreviewFanout returns the fanout handler previews run: the region's
// device registry and templates, delivery ids under a key of its own
// (never shown), no earlier deliveries (each composed push has new
// message keys) and no phone directory (the composer sends no SMS).
func newPreviewFanout(cfg Config) (*fanout.Handler, error) {
	secret := make([]byte, schema.MinIDSecretBytes)
	_, _ = rand.Read(secret) // never fails (crypto/rand)
	key, err := schema.NewIDKey(secret)
	if err != nil {
		return nil, fmt.Errorf("console: the preview's id key: %w", err)
	}
	h, err := fanout.New(fanout.Config{Region: cfg.Region, Devices: store.NewDevices(cfg.ClickHouse, cfg.Database),
		Templates: store.NewTemplates(cfg.ClickHouse, cfg.Database), IDKey: key, Now: cfg.Now, Logger: cfg.Logger,
		Emit: func(context.Context, []pipeline.Output) error { return errPreviewStreams }})
	if err != nil {
		return nil, fmt.Errorf("console: the preview's fanout: %w", err)
	}
	return h, nil
}

// preview checks req as a send would (gateway.PreparePush) and hands the
// prepared record to the fanout handler, collecting the events and
// deliveries it would write. A refusal is PreparePush's error.
func (s *Server) preview(ctx context.Context, req *schema.Request, now time.Time) (*preview, error) {
	out, pub, err := gateway.PreparePush(ctx, s.cfg.ClickHouse, s.cfg.Database, s.cfg.Region, req.Type, req, now, "")
	if err != nil {
		return nil, err
	}
	res, err := s.fanout.HandleBatch(ctx, []kafka.Message{{Topic: out.Topic, Key: out.Key, Value: out.Value, Time: now}})
	if err != nil {
		return nil, fmt.Errorf("running fanout on the preview: %w", err)
	}
	p := &preview{TaskID: pub.TaskID}
	if rej := res[0].Reject; rej != nil {
		p.Rejected, p.RejectCode, p.RejectReason = true, rej.Code, rej.Reason
		return p, nil
	}
	outs := res[0].Outputs
	// An A/B test's first step writes one request per variant, which
	// fanout fans out to the variant's share of the sample: run those too,
	// so the preview shows each sampled device with its variant's copy.
	var parts []kafka.Message
	for _, o := range outs {
		if o.Topic == pipeline.RequestsTopic(s.cfg.Region) {
			parts = append(parts, kafka.Message{Topic: o.Topic, Key: o.Key, Value: o.Value, Time: now})
		}
	}
	if len(parts) > 0 {
		pres, err := s.fanout.HandleBatch(ctx, parts)
		if err != nil {
			return nil, fmt.Errorf("running fanout on the preview's A/B variants: %w", err)
		}
		for _, r := range pres {
			if r.Reject != nil {
				p.Rejected, p.RejectCode, p.RejectReason = true, r.Reject.Code, r.Reject.Reason
				return p, nil
			}
			outs = append(outs, r.Outputs...)
		}
	}
	if err := p.collect(outs); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(p.Devices))
	for _, d := range p.Devices {
		if d.DeviceID != "" {
			ids = append(ids, d.DeviceID)
		}
	}
	if len(ids) > 0 {
		st, err := gateway.DeviceStatuses(ctx, s.cfg.ClickHouse, s.cfg.Database, req.AppID, ids, nil)
		if err != nil {
			return nil, err
		}
		for i := range p.Devices {
			d := &p.Devices[i]
			j := slices.IndexFunc(st, func(x gateway.DeviceStatus) bool { return x.DeviceID == d.DeviceID })
			if j >= 0 {
				d.Registered, d.RegistryChan, d.TokenValid, d.Platform = true, st[j].Channel, st[j].TokenValid, st[j].Platform
			}
		}
	}
	p.summarize()
	return p, nil
}

// collect reads fanout's outputs: every invalid_device, filtered and
// valid event is a device row, each valid one completed by its delivery.
func (p *preview) collect(outs []pipeline.Output) error {
	deliveries := map[string]schema.Delivery{}
	var events []schema.Event
	for _, o := range outs {
		switch {
		case strings.HasPrefix(o.Topic, "push.deliveries."):
			var d schema.Delivery
			if err := schema.DecodeDelivery(o.Value, &d); err != nil {
				return fmt.Errorf("reading a previewed delivery: %w", err)
			}
			deliveries[d.MsgID+"\x00"+d.DeviceID] = d
		case strings.HasPrefix(o.Topic, "push.events."):
			var e schema.Event
			if err := schema.DecodeEvent(o.Value, &e); err != nil {
				return fmt.Errorf("reading a previewed event: %w", err)
			}
			events = append(events, e)
		}
	}
	for _, e := range events {
		switch e.Event {
		case schema.EventInvalidDevice, schema.EventFiltered, schema.EventValid:
		default:
			continue
		}
		row := previewDevice{Target: e.Target, MsgID: e.MsgID, DeviceID: e.DeviceID, Channel: e.Channel, Outcome: e.Event,
			Code: e.StatusCode, Reason: e.StatusDesc, Platform: e.Platform}
		if d, ok := deliveries[e.MsgID+"\x00"+e.DeviceID]; ok && e.Event == schema.EventValid {
			row.Title, row.Body, row.PayloadBytes = d.Title, d.Body, len(d.Title)+len(d.Body)+len(d.Payload)
			for k := range d.Extras {
				row.ExtraKeys = append(row.ExtraKeys, k)
			}
			slices.Sort(row.ExtraKeys)
			row.Code, row.Reason = 0, ""
		}
		p.Devices = append(p.Devices, row)
	}
	return nil
}

// summarize groups the devices by channel (the event's, else the
// registry's) in the registry's order.
func (p *preview) summarize() {
	by := map[string]*previewChannel{}
	for _, d := range p.Devices {
		ch := cmp.Or(d.Channel, d.RegistryChan)
		if ch == "" {
			continue // a target no device is registered for
		}
		c := by[ch]
		if c == nil {
			c = &previewChannel{Name: ch, Limit: registry.ContentLimit(ch)}
			by[ch] = c
		}
		switch d.Outcome {
		case schema.EventValid:
			if c.Valid == 0 {
				c.Title, c.Body = d.Title, d.Body
				c.TitleChars, c.BodyChars = utf8.RuneCountInString(d.Title), utf8.RuneCountInString(d.Body)
			}
			c.Valid++
		case schema.EventFiltered:
			c.Filtered++
			if !slices.Contains(c.Reasons, d.Reason) {
				c.Reasons = append(c.Reasons, d.Reason)
			}
		default:
			c.Invalid++
		}
	}
	for _, name := range registry.Names() {
		if c := by[name]; c != nil {
			p.Channels = append(p.Channels, *c)
			delete(by, name)
		}
	}
	for _, c := range by { // a channel the registry does not list
		p.Channels = append(p.Channels, *c)
	}
}
