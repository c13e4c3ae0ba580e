package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/producer"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// push serves /v1/push/{simple,template,multiple,broadcast}: the body is a
// schema.Request (mPaaS names; deliveryType is accepted for deliverType;
// type may be left out). The answer's Data is the task id, or the schedule
// id of a scheduled or loop push.
func (s *Server) push(t schema.PushType) handler {
	return func(ctx context.Context, c *call) reply {
		req, err := schema.DecodeRequest(c.body)
		if err != nil {
			return failed("decoding the request", err)
		}
		if rep := s.check(c, appRef{AppID: req.AppID, WorkspaceID: req.WorkspaceID, Region: req.Region}); rep != nil {
			return *rep
		}
		if rep := s.pushOpen(req.AppID); rep != nil {
			return *rep
		}
		pub, err := Push(ctx, s.cfg.ClickHouse, s.cfg.Database, s.cfg.Producer, s.cfg.Region, t, req, c.now, SubmitterAccessKey+c.grant.idOrNone())
		if err != nil {
			return failed("pushing the request", err)
		}
		var rep reply
		if pub.ScheduleID != "" {
			rep = ok(pub.ScheduleID)
		} else {
			rep = ok(pub.TaskID)
		}
		if note := ApprovalNote(s.apps[req.AppID].Approval, req); note != "" {
			rep.msg += ": " + note
		}
		return rep
	}
}

// Submitter prefixes of the schema.SubmitterHeader the gateway and the
// console put on the requests they publish: the approval flow refuses an
// approval by the account that submitted the push.
const (
	SubmitterAccessKey = "accesskey:"
	SubmitterConsole   = "console:"
)

// ApprovalNote says, for an accepted push, whether fanout will hold it for
// a second operator's approval under policy p (schema.ApprovalPolicy
// .Requires), in words for the answer's ResultMessage; "" when it will
// not. A scheduled or loop push is held at each occurrence.
func ApprovalNote(p schema.ApprovalPolicy, req *schema.Request) string {
	if !p.Active() {
		return ""
	}
	if req.IsScheduled() {
		once := *req
		once.StrategyType, once.StrategyContent = 0, nil
		if held, why := p.Requires(&once); held {
			return "each occurrence waits for a second operator's approval when it fires (" + why + ")"
		}
		return ""
	}
	if held, why := p.Requires(req); held {
		return fmt.Sprintf("awaiting a second operator's approval (%s); it expires unless approved within %s of its arrival", why, p.ExpiryOrDefault())
	}
	return ""
}

// pushOpen refuses a push or revoke of an app whose push API its operator
// closed (App.PushClosed) with 3032 REST_API_SWITCH_NOT_OPEN.
func (s *Server) pushOpen(appID string) *reply {
	if !s.apps[appID].PushClosed {
		return nil
	}
	r := refuse(http.StatusForbidden, schema.CodeRestAPISwitchNotOpen, fmt.Sprintf("the push API of app %s is closed (gateway.appKeys[].pushClosed); queries and client routes still work", appID))
	return &r
}

// PreparePush checks a push of type t exactly as /v1/push/<t> does once
// the caller is authenticated and the app's push API is open, and readies
// its record for push.requests.<region> without publishing it: req.Type
// is filled with t when empty and must equal it, req.AcceptedAt is set to
// now (the latency clock), producer.Prepare fills the region and task id
// and validates it (schema.Request.Validate, the rules fanout applies),
// and a TEMPLATE, MULTIPLE or BROADCAST push's template is looked up in
// database db and every placeholder must get a value (3022
// TEMPLATE_NOT_EXIST, 3023 TEMPLATEKV_NOT_ENOUGH), as fanout will check.
// The gateway's push routes and the console's composer both push
// through it (see Push), so a request is refused by both with the same
// code and words.
//
// submitter, when not empty, goes on the record as its
// schema.SubmitterHeader (SubmitterAccessKey or SubmitterConsole and the
// id): the approval flow's record of who sent it.
//
// A refused request is a *schema.ValidationError carrying its mPaaS
// result code; any other error is ClickHouse failing. PreparePush
// modifies req.
func PreparePush(ctx context.Context, conn driver.Conn, db, region string, t schema.PushType, req *schema.Request, now time.Time, submitter string) (pipeline.Output, producer.Published, error) {
	if req.Type == "" {
		req.Type = t
	}
	if req.Type != t {
		return pipeline.Output{}, producer.Published{}, &schema.ValidationError{Code: schema.CodeInvalidParam,
			Detail: fmt.Sprintf("type %q does not match the route, which takes %s pushes", req.Type, t)}
	}
	// The push is accepted now: this starts the latency clock and dates a
	// scheduled push's strategy checks.
	req.AcceptedAt = now.UnixMilli()
	out, pub, err := producer.Prepare(req, region, now)
	if err != nil {
		return pipeline.Output{}, producer.Published{}, err
	}
	if err := checkTemplate(ctx, conn, db, req); err != nil {
		return pipeline.Output{}, producer.Published{}, err
	}
	if submitter != "" {
		out.Headers = append(out.Headers, kafka.Header{Key: schema.SubmitterHeader, Value: []byte(submitter)})
	}
	return out, pub, nil
}

// Push checks and readies req with PreparePush and publishes it through p,
// returning once Kafka acknowledged it: the path of /v1/push/<t> and of
// the console's composer. Errors are PreparePush's, or Kafka failing
// (nothing was published then).
func Push(ctx context.Context, conn driver.Conn, db string, p Producer, region string, t schema.PushType, req *schema.Request, now time.Time, submitter string) (producer.Published, error) {
	out, pub, err := PreparePush(ctx, conn, db, region, t, req, now, submitter)
	if err != nil {
		return producer.Published{}, err
	}
	if err := p.Produce(ctx, []pipeline.Output{out}); err != nil {
		return producer.Published{}, fmt.Errorf("publishing task %s to %s: %w", pub.TaskID, out.Topic, err)
	}
	return pub, nil
}

// checkTemplate looks up the template a TEMPLATE, MULTIPLE or BROADCAST
// push renders and checks that every placeholder gets a value, as fanout
// will: 3022 TEMPLATE_NOT_EXIST, 3023 TEMPLATEKV_NOT_ENOUGH, as
// *schema.ValidationError; another error is ClickHouse's.
func checkTemplate(ctx context.Context, conn driver.Conn, db string, req *schema.Request) error {
	if req.Type == schema.PushSimple {
		return nil
	}
	tpl, found, err := store.NewTemplates(conn, db).Get(ctx, req.AppID, req.TemplateName)
	if err != nil {
		return fmt.Errorf("reading template %s: %w", req.TemplateName, err)
	}
	if !found {
		return &schema.ValidationError{Code: schema.CodeTemplateNotExist, Detail: fmt.Sprintf("template %q does not exist for app %s", req.TemplateName, req.AppID)}
	}
	kvs := []schema.StringMap{req.TemplateKeyValue}
	if req.Type == schema.PushMultiple {
		kvs = kvs[:0]
		for _, t := range req.TargetMsgs {
			kv := maps.Clone(req.TemplateKeyValue)
			if kv == nil {
				kv = schema.StringMap{}
			}
			maps.Copy(kv, t.TemplateKeyValue)
			kvs = append(kvs, kv)
		}
	}
	for i, kv := range kvs {
		_, _, uri, err := tpl.Render(kv)
		if err == nil {
			err = req.ValidateTemplateURI(cmp.Or(req.URI, uri)) // the request's uri wins, as fanout renders it
		}
		var ve *schema.ValidationError
		if !errors.As(err, &ve) {
			continue
		}
		if req.Type == schema.PushMultiple {
			return &schema.ValidationError{Code: ve.Code, Detail: fmt.Sprintf("targetMsgs[%d] (%s): %s", i, req.TargetMsgs[i].Target, ve.Detail)}
		}
		return ve
	}
	return nil
}

// revokeBody is the body of the revoke routes.
type revokeBody struct {
	appRef
	// MessageID and TargetID name a message of a SIMPLE or TEMPLATE push
	// (its msgKey) and optionally one target of it.
	MessageID string `json:"messageId"`
	TargetID  string `json:"targetId"`
	// TaskID names a MULTIPLE or BROADCAST task.
	TaskID string `json:"taskId"`
	// Reason is shown on the revoked events.
	Reason string `json:"reason"`
}

// revokeMessage serves /v1/push/revoke/message (mPaaS RevokePushMessage).
func (s *Server) revokeMessage(ctx context.Context, c *call) reply {
	var b revokeBody
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	if b.MessageID == "" {
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "messageId is empty: name the msgKey of the message to revoke")
	}
	return s.revoke(ctx, c, b.appRef, &schema.Control{MsgID: b.MessageID, Target: b.TargetID, Reason: b.Reason})
}

// revokeTask serves /v1/push/revoke/task (mPaaS RevokePushTask).
func (s *Server) revokeTask(ctx context.Context, c *call) reply {
	var b revokeBody
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	if b.TaskID == "" {
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "taskId is empty: name the task to revoke")
	}
	return s.revoke(ctx, c, b.appRef, &schema.Control{TaskID: b.TaskID, Reason: b.Reason})
}

// revoke (for a body already decoded and checked) refuses a closed push
// API and publishes the revoke with Revoke; Data is its control key.
func (s *Server) revoke(ctx context.Context, c *call, a appRef, ctl *schema.Control) reply {
	if rep := s.pushOpen(a.AppID); rep != nil {
		return *rep
	}
	ctl.AppID, ctl.Region = a.AppID, a.Region
	err := Revoke(ctx, s.cfg.ClickHouse, s.cfg.Database, s.cfg.Producer, s.cfg.Region, ctl, c.now)
	var ve *schema.ValidationError
	switch {
	case errors.As(err, &ve):
		return refuse(http.StatusBadRequest, ve.Code, ve.Detail)
	case err != nil:
		return failed("revoking "+ctl.ControlKey(), err)
	}
	return ok(ctl.ControlKey())
}

// Revoke takes back a push of app ctl.AppID in region (ctl names it by
// MsgID, optionally Target, or by TaskID; Reason is optional): it looks
// up when the push was accepted in database db (LookupAcceptedAt), checks
// the 7-day window (producer.PrepareRevoke) and publishes the control
// record to push.control.<region> through p, returning once Kafka
// acknowledged it. ctl's Op, Region and TS are filled when empty. The
// gateway's revoke routes and the console both revoke through it.
//
// A push this app never made (or not stored yet), a revoke naming another
// region and one past the window are *schema.ValidationError (code 3028;
// past the window it also matches schema.ErrRevokeTooLate); any other
// error is ClickHouse or Kafka failing, and nothing was published.
func Revoke(ctx context.Context, conn driver.Conn, db string, p Producer, region string, ctl *schema.Control, now time.Time) error {
	acceptedAt, err := LookupAcceptedAt(ctx, conn, db, ctl.AppID, ctl.MsgID, ctl.TaskID)
	if err != nil {
		return fmt.Errorf("looking up the push to revoke: %w", err)
	}
	if acceptedAt == 0 {
		// A revoke names a push this app made; one of an id never pushed
		// (or another app's) would only be held, uselessly, by every
		// sender for days.
		what := "task " + ctl.TaskID
		if ctl.MsgID != "" {
			what = "message " + ctl.MsgID
		}
		return &schema.ValidationError{Code: schema.CodeInvalidParam, Detail: fmt.Sprintf("app %s has no push with %s: nothing to revoke (a push accepted in the last seconds may not be stored yet; send the revoke again)", ctl.AppID, what)}
	}
	out, err := producer.PrepareRevoke(ctl, region, acceptedAt, now)
	if err != nil {
		return fmt.Errorf("validating the revoke: %w", err)
	}
	if err := p.Produce(ctx, []pipeline.Output{out}); err != nil {
		return fmt.Errorf("publishing revoke %s to %s: %w", ctl.ControlKey(), out.Topic, err)
	}
	return nil
}

// LookupAcceptedAt returns when the push carrying msgID (or, with msgID
// empty, the task taskID) of an app was accepted, Unix ms, from database
// db: the time of the message's planned events (stamped with the accepted
// time) or of the task's accepted event; 0 when none is stored (yet),
// which revocation treats as unknown.
func LookupAcceptedAt(ctx context.Context, conn driver.Conn, db, appID, msgID, taskID string) (int64, error) {
	col, val, ev := "task_id", taskID, schema.EventAccepted
	if msgID != "" {
		col, val, ev = "msg_id", msgID, schema.EventPlanned
	}
	var n uint64
	var first time.Time
	if err := conn.QueryRow(ctx, "SELECT count(), min(ts) FROM "+db+".events WHERE app_id = ? AND "+col+" = ? AND event = ?", appID, val, string(ev)).Scan(&n, &first); err != nil {
		return 0, fmt.Errorf("looking up when %s %s of app %s was accepted: %w", col, val, appID, err)
	}
	if n == 0 {
		return 0, nil
	}
	return first.UnixMilli(), nil
}

// clientBody is the body of the client APIs (mPaaS §7.1: bind, unbind,
// report), called by the app's server on behalf of a device.
type clientBody struct {
	appRef
	// DeliveryToken is the device id (the mPaaS Ad-token).
	DeliveryToken string `json:"deliveryToken"`
	// UserID is the user bound or unbound.
	UserID string `json:"userId"`
	// ThirdChannel (2 Apple, 4 Xiaomi, 5 Huawei, 6 FCM, 7 OPPO, 8 vivo) or
	// Vendor (mipush, apns, fcm, hms, honor, harmonyos, oppo, vivo) names the vendor
	// channel of ThirdChannelDeviceToken; neither means the self-built
	// channel only.
	ThirdChannel            int    `json:"thirdChannel"`
	Vendor                  string `json:"vendor"`
	ThirdChannelDeviceToken string `json:"thirdChannelDeviceToken"`
	// OSType is android, ios or harmony; default ios for Apple, else
	// android.
	OSType     string `json:"osType"`
	AppVersion string `json:"appVersion"`
	Model      string `json:"model"`
}

// thirdChannel returns the channel of the registry whose mPaaS
// thirdChannel number (Vendor.ThirdChannel: 2 apns, 4 mipush, 5 hms, 6
// fcm, 7 oppo, 8 vivo) is n; ok is false for another number.
func thirdChannel(n int) (channel string, ok bool) {
	for _, v := range registry.Vendors() {
		if v.ThirdChannel != 0 && v.ThirdChannel == n {
			return v.Name, true
		}
	}
	return "", false
}

// bind serves /v1/client/bind: userId ↔ device.
func (s *Server) bind(ctx context.Context, c *call) reply {
	return s.client(ctx, c, schema.OpBind)
}

// unbind serves /v1/client/unbind.
func (s *Server) unbind(ctx context.Context, c *call) reply {
	return s.client(ctx, c, schema.OpUnbind)
}

// report serves /v1/client/report: the device's vendor channel token.
func (s *Server) report(ctx context.Context, c *call) reply {
	return s.client(ctx, c, schema.OpReport)
}

// client publishes one registry record; Data is the device id.
func (s *Server) client(ctx context.Context, c *call, op schema.BindingOp) reply {
	var b clientBody
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	if op != schema.OpReport && b.UserID == "" {
		return refuse(http.StatusBadRequest, schema.CodeNeedUserID, "userId is empty: name the user to "+string(op))
	}
	if b.DeliveryToken == "" {
		return refuse(http.StatusBadRequest, schema.CodeNeedDeliveryToken, "deliveryToken is empty: give the device id (Ad-token)")
	}
	rec := &schema.Binding{Op: op, Region: b.Region, AppID: b.AppID, WorkspaceID: b.WorkspaceID, DeviceID: b.DeliveryToken, UserID: b.UserID}
	if op == schema.OpReport {
		rec.UserID = ""
		if rep := b.device(rec); rep != nil {
			return *rep
		}
	}
	return s.publishBinding(ctx, c, rec)
}

// publishBinding checks rec exactly as the registry will and publishes it
// to push.bindings.<region>, answering once Kafka acknowledged it; Data is
// its key (the device id, or the user id of a tag record).
func (s *Server) publishBinding(ctx context.Context, c *call, rec *schema.Binding) reply {
	out, err := producer.PrepareBinding(rec, s.cfg.Region, c.now)
	if err != nil {
		return failed("validating the "+string(rec.Op)+" record", err)
	}
	if err := s.cfg.Producer.Produce(ctx, []pipeline.Output{out}); err != nil {
		return failed("publishing the "+string(rec.Op)+" record of "+rec.Key()+" to "+out.Topic, err)
	}
	return ok(rec.Key())
}

// device fills the report fields of rec: vendor, tokens, platform.
func (b clientBody) device(rec *schema.Binding) *reply {
	vendor := b.Vendor
	if b.ThirdChannel != 0 {
		v, known := thirdChannel(b.ThirdChannel)
		if !known || (vendor != "" && vendor != v) {
			r := refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("thirdChannel %d is not 2 (Apple), 4 (Xiaomi), 5 (Huawei), 6 (FCM), 7 (OPPO) or 8 (vivo), or does not match vendor %q", b.ThirdChannel, vendor))
			return &r
		}
		vendor = v
	}
	if vendor != "" && b.ThirdChannelDeviceToken == "" {
		r := refuse(http.StatusBadRequest, schema.CodeInvalidParam, "thirdChannelDeviceToken is empty: give the device's "+vendor+" token")
		return &r
	}
	rec.Platform = b.OSType
	if rec.Platform == "" {
		rec.Platform = schema.PlatformAndroid
		if vendor == apns.Name {
			rec.Platform = schema.PlatformIOS
		}
	}
	// The Ad-token is the device's self-built channel token, as in mPaaS.
	rec.SelfToken = b.DeliveryToken
	rec.Vendor, rec.VendorToken = vendor, b.ThirdChannelDeviceToken
	rec.AppVersion, rec.Model = b.AppVersion, b.Model
	return nil
}
