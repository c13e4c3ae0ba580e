// Package fanout is the first stage: it validates push requests from
// push.requests.R, resolves their targets to devices through the registry's
// devices table, and emits one delivery per (message, device) on
// push.deliveries.R together with the funnel events (accepted, planned,
// invalid_device, valid) on push.events.R.
package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// SelfChannel is the channel name of the self-built connection gateway,
// used when a device reported no vendor token or the request pins
// notifyType "transparent".
const SelfChannel = "self"

// Devices resolves targets. Implementations must be safe for concurrent
// use; *schema.DeviceStore is the ClickHouse one.
type Devices interface {
	// Lookup returns the rows of the given device ids of an app; unknown
	// ids are absent.
	Lookup(ctx context.Context, appID string, ids []string) (map[string]schema.Device, error)
	// ByUser returns the devices bound to any of the user ids.
	ByUser(ctx context.Context, appID string, userIDs []string) (map[string]schema.Device, error)
}

// Config is what the fanout handler needs.
type Config struct {
	// Region served; requests naming another region are rejected.
	Region  string
	Devices Devices
	Logger  zerolog.Logger
	// Now is the clock stamped on deliveries as fanned-out time; nil means
	// time.Now.
	Now func() time.Time
}

// Validate says what is missing.
func (c Config) Validate() error {
	if !schema.ValidRegion(c.Region) {
		return fmt.Errorf("fanout: region %q is not one of %v", c.Region, schema.Regions())
	}
	if c.Devices == nil {
		return fmt.Errorf("fanout: Devices is required")
	}
	return nil
}

// Handler is the fanout pipeline.BatchHandler. It is stateless apart from
// its configuration, so one Handler may serve concurrent batches.
type Handler struct {
	cfg Config
}

// New returns a fanout handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}, nil
}

type decoded struct {
	req    *schema.Request
	taskID string
	ts     int64 // accepted time, Unix ms; deterministic under replay
}

// HandleBatch turns each request into outputs. A request that cannot be
// decoded or validated is rejected (rejected event + DLQ). Device lookups
// are made once per app for the whole batch; if they fail the whole batch
// is returned as an error so the runtime retries it without committing.
func (h *Handler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	results := make([]pipeline.Result, len(msgs))
	reqs := make([]*decoded, len(msgs))
	deviceKeys := map[string]map[string]bool{} // app -> device ids
	userKeys := map[string]map[string]bool{}   // app -> user ids
	for i, m := range msgs {
		d, rej := h.decode(m)
		if rej != nil {
			results[i].Reject = rej
			continue
		}
		reqs[i] = d
		keys := deviceKeys
		if d.req.DeliverType == schema.DeliverUser {
			keys = userKeys
		}
		if keys[d.req.AppID] == nil {
			keys[d.req.AppID] = map[string]bool{}
		}
		for k := range d.req.TargetMsgkey {
			keys[d.req.AppID][k] = true
		}
	}
	byDevice, err := h.lookup(ctx, deviceKeys, h.cfg.Devices.Lookup)
	if err != nil {
		return nil, err
	}
	byUser, err := h.lookup(ctx, userKeys, h.cfg.Devices.ByUser)
	if err != nil {
		return nil, err
	}
	for i, d := range reqs {
		if d != nil {
			results[i].Outputs = h.fanOut(d, byDevice[d.req.AppID], byUser[d.req.AppID])
		}
	}
	return results, nil
}

func (h *Handler) decode(m kafka.Message) (*decoded, *pipeline.Rejection) {
	partial := schema.Event{Region: h.cfg.Region}
	req, err := schema.DecodeRequest(m.Value)
	if err != nil {
		return nil, workers.Reject(err, partial)
	}
	d := &decoded{req: req, taskID: req.DeriveTaskID(), ts: req.AcceptedAt}
	if d.ts == 0 {
		d.ts = m.Time.UnixMilli()
	}
	partial.AppID, partial.WorkspaceID, partial.TaskID, partial.PushType = req.AppID, req.WorkspaceID, d.taskID, req.Type
	if req.Region != h.cfg.Region {
		err := &schema.ValidationError{Code: schema.CodeInvalidParam,
			Detail: fmt.Sprintf("request names region %q but arrived on the %s topic of region %q; publish it to %s", req.Region, pipeline.RequestsTopic(h.cfg.Region), h.cfg.Region, pipeline.RequestsTopic(req.Region))}
		return nil, workers.Reject(err, partial)
	}
	if err := req.Validate(); err != nil {
		return nil, workers.Reject(err, partial)
	}
	return d, nil
}

type lookupFunc func(ctx context.Context, appID string, keys []string) (map[string]schema.Device, error)

func (h *Handler) lookup(ctx context.Context, keys map[string]map[string]bool, f lookupFunc) (map[string]map[string]schema.Device, error) {
	out := make(map[string]map[string]schema.Device, len(keys))
	for app, set := range keys {
		ids := make([]string, 0, len(set))
		for k := range set {
			ids = append(ids, k)
		}
		sort.Strings(ids)
		rows, err := f(ctx, app, ids)
		if err != nil {
			return nil, fmt.Errorf("resolving targets of app %s: %w", app, err)
		}
		out[app] = rows
	}
	return out, nil
}

// fanOut emits the events and deliveries of one valid request.
func (h *Handler) fanOut(d *decoded, devices, userDevices map[string]schema.Device) []pipeline.Output {
	req := d.req
	base := schema.Event{
		TS: d.ts, Region: h.cfg.Region, AppID: req.AppID, WorkspaceID: req.WorkspaceID,
		TaskID: d.taskID, PushType: req.Type,
	}
	accepted := base
	accepted.EventID = schema.NewEventID(schema.EventAccepted, d.taskID)
	accepted.Event = schema.EventAccepted
	accepted.StatusCode = int64(schema.CodeSuccess)
	accepted.StatusDesc = schema.CodeSuccess.Name()
	outs := []pipeline.Output{workers.EventOutput(h.cfg.Region, accepted)}

	for _, target := range req.TargetMsgkey.SortedKeys() {
		msgID := req.TargetMsgkey[target]
		ev := base
		ev.MsgID, ev.Target = msgID, target
		planned := ev
		planned.EventID = schema.NewEventID(schema.EventPlanned, d.taskID, msgID, target)
		planned.Event = schema.EventPlanned
		outs = append(outs, workers.EventOutput(h.cfg.Region, planned))

		targets := targetDevices(req.DeliverType, target, devices, userDevices)
		if len(targets) == 0 {
			outs = append(outs, h.invalid(ev, schema.StatusNoBindInfo, "NoBindInfo: no device is registered for target "+target))
			continue
		}
		for _, dev := range targets {
			if reason := platformMismatch(req.DeliverType, dev.Platform); reason != "" {
				outs = append(outs, h.invalid(withDevice(ev, dev), schema.StatusNoBindInfo, "NoBindInfo: "+reason))
				continue
			}
			channel, token := chooseChannel(req, dev)
			if token == "" || (channel != SelfChannel && !dev.TokenValid) {
				outs = append(outs, h.invalid(withDevice(ev, dev), schema.StatusBadDeviceToken, "BadDeviceToken: the device's "+channel+" token is known invalid"))
				continue
			}
			del := h.delivery(d, msgID, target, dev, channel, token)
			valid := del.EventFor(schema.EventValid, d.ts)
			outs = append(outs, workers.EventOutput(h.cfg.Region, valid), workers.DeliveryOutput(del))
		}
	}
	return outs
}

func (h *Handler) invalid(ev schema.Event, code int64, desc string) pipeline.Output {
	ev.EventID = schema.NewEventID(schema.EventInvalidDevice, ev.TaskID, ev.MsgID, ev.Target, ev.DeviceID)
	ev.Event = schema.EventInvalidDevice
	ev.StatusCode, ev.StatusDesc = code, desc
	return workers.EventOutput(h.cfg.Region, ev)
}

func withDevice(ev schema.Event, dev schema.Device) schema.Event {
	ev.DeviceID, ev.Platform, ev.AppVersion, ev.Model = dev.DeviceID, dev.Platform, dev.AppVersion, dev.Model
	return ev
}

// targetDevices resolves one target: a device id, or a user id to every
// device bound to it (in device id order).
func targetDevices(deliverType int, target string, devices, userDevices map[string]schema.Device) []schema.Device {
	if deliverType != schema.DeliverUser {
		if d, ok := devices[target]; ok {
			return []schema.Device{d}
		}
		return nil
	}
	var out []schema.Device
	for _, d := range userDevices {
		if d.UserID == target {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}

func platformMismatch(deliverType int, platform string) string {
	switch {
	case deliverType == schema.DeliverAndroid && platform == schema.PlatformIOS:
		return "deliverType 1 targets Android devices but the device is iOS"
	case deliverType == schema.DeliverIOS && platform != schema.PlatformIOS:
		return "deliverType 2 targets iOS devices but the device is " + platform
	}
	return ""
}

// chooseChannel prefers the vendor channel when the device reported a
// vendor token, else the self-built channel; notifyType "transparent"
// pins the self-built channel.
func chooseChannel(req *schema.Request, dev schema.Device) (channel, token string) {
	if req.NotifyType == "transparent" || dev.Vendor == "" || dev.VendorToken == "" {
		return SelfChannel, dev.SelfToken
	}
	return dev.Vendor, dev.VendorToken
}

func (h *Handler) delivery(d *decoded, msgID, target string, dev schema.Device, channel, token string) schema.Delivery {
	req := d.req
	extras := map[string]string{}
	for k, v := range req.ExtendedParams {
		extras[channels.ExtraCustomPrefix+k] = v
	}
	if req.URI != "" {
		extras[channels.ExtraURI] = req.URI
	}
	if req.MiChannelID != "" {
		extras[channels.ExtraMiPushChannelID] = req.MiChannelID
	}
	var payload string
	if len(req.ExtendedParams) > 0 {
		b, _ := json.Marshal(req.ExtendedParams)
		payload = string(b)
	}
	return schema.Delivery{
		DeliveryID: schema.NewDeliveryID(msgID, dev.DeviceID), MsgID: msgID, TaskID: d.taskID,
		AppID: req.AppID, WorkspaceID: req.WorkspaceID, Region: h.cfg.Region, PushType: req.Type,
		Target: target, DeviceID: dev.DeviceID, Platform: dev.Platform, Channel: channel, Token: token,
		Title: req.Title, Body: req.Content, Payload: payload, PassThrough: req.Silent == 1, Extras: extras,
		ExpireAt: d.ts + req.ExpiredSeconds*1000, AcceptedAt: d.ts, FannedOutAt: h.cfg.Now().UnixMilli(),
		CallbackURL: req.CallbackURL, AppVersion: dev.AppVersion, Model: dev.Model,
	}
}
