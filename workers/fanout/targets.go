package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// lookupKeys collects, per app and target kind, the targets of a batch.
type lookupKeys map[string]map[int]map[string]bool

func (k lookupKeys) add(app string, deliverType int, target string) {
	kind := kindOf(deliverType)
	if k[app] == nil {
		k[app] = map[int]map[string]bool{}
	}
	if k[app][kind] == nil {
		k[app][kind] = map[string]bool{}
	}
	k[app][kind][target] = true
}

// kindOf folds the device deliverTypes (Android, iOS, HarmonyOS) together:
// they are all looked up by device id.
func kindOf(deliverType int) int {
	switch deliverType {
	case schema.DeliverAndroid, schema.DeliverIOS, schema.DeliverHarmony:
		return schema.DeliverAndroid
	}
	return deliverType
}

// resolved holds the batch's lookups per app.
type resolved struct {
	devices  map[string]map[string][]schema.Device // app -> device id -> its one device
	users    map[string]map[string][]schema.Device // app -> user id -> devices
	aliases  map[string]map[string][]schema.Device // app -> alias -> its one device
	accounts map[string]map[string][]schema.Device // app -> account -> devices
	seen     map[string]bool                       // delivery ids already fanned out
	checked  []string                              // delivery ids the replay check was asked about
	// activities holds the Live Activity targets (deliverType 5 and 6).
	activities map[activityKey][]schema.Device
}

func (h *Handler) resolve(ctx context.Context, keys lookupKeys) (*resolved, error) {
	r := &resolved{devices: map[string]map[string][]schema.Device{}, users: map[string]map[string][]schema.Device{},
		aliases: map[string]map[string][]schema.Device{}, accounts: map[string]map[string][]schema.Device{},
		activities: map[activityKey][]schema.Device{}}
	for app, kinds := range keys {
		for kind, set := range kinds {
			ids := sortedKeys(set)
			var err error
			switch kind {
			case schema.DeliverAndroid:
				var rows map[string]schema.Device
				rows, err = h.cfg.Devices.Lookup(ctx, app, ids)
				r.devices[app] = singles(rows)
			case schema.DeliverUser:
				var rows map[string]schema.Device
				rows, err = h.cfg.Devices.ByUser(ctx, app, ids)
				byUser := map[string][]schema.Device{}
				for _, d := range rows {
					byUser[d.UserID] = append(byUser[d.UserID], d)
				}
				for _, ds := range byUser {
					sort.Slice(ds, func(i, j int) bool { return ds[i].DeviceID < ds[j].DeviceID })
				}
				r.users[app] = byUser
			case schema.DeliverAlias:
				var rows map[string]schema.Device
				rows, err = h.cfg.Devices.ByAlias(ctx, app, ids)
				r.aliases[app] = singles(rows)
			case schema.DeliverUserAccount:
				r.accounts[app], err = h.cfg.Devices.ByAccount(ctx, app, ids)
			case schema.DeliverActivityToken, schema.DeliverActivityID:
				err = h.resolveActivities(ctx, r, app, kind, ids)
			}
			if err != nil {
				return nil, fmt.Errorf("resolving targets of app %s: %w", app, err)
			}
		}
	}
	return r, nil
}

// singles turns a look-up's device by key into one-device slices sharing
// one backing array, so that resolving a target (targetDevices, asked
// several times per target) allocates nothing.
func singles(rows map[string]schema.Device) map[string][]schema.Device {
	out := make(map[string][]schema.Device, len(rows))
	all := make([]schema.Device, 0, len(rows))
	for k, d := range rows {
		all = append(all, d)
		out[k] = all[len(all)-1 : len(all) : len(all)]
	}
	return out
}

// sink accumulates a request's outputs. For a streamed audience it writes
// them in chunks, up to maxInFlight chunks at once so that reading devices,
// encoding and producing overlap; wait collects the writes' outcome.
type sink struct {
	h      *Handler
	outs   []pipeline.Output
	stream bool
	seen   map[string]bool

	inflight chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
}

// maxInFlight bounds the chunks being written at once per streamed request.
const maxInFlight = 4

func (s *sink) add(ctx context.Context, o ...pipeline.Output) error {
	s.outs = append(s.outs, o...)
	if !s.stream || len(s.outs) < s.h.cfg.Chunk {
		return nil
	}
	if s.inflight == nil {
		s.inflight = make(chan struct{}, maxInFlight)
	}
	chunk := s.outs
	s.outs = make([]pipeline.Output, 0, s.h.cfg.Chunk)
	select {
	case s.inflight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.inflight }()
		if err := s.h.cfg.Emit(ctx, chunk); err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = fmt.Errorf("writing %d streamed outputs: %w", len(chunk), err)
			}
			s.mu.Unlock()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// wait blocks until every chunk written so far is acknowledged and returns
// the first error.
func (s *sink) wait() error {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// fanOut emits the events and deliveries of one valid request. Targeted
// pushes return their outputs; tag targets and broadcasts stream theirs
// through Emit and return the remainder.
func (h *Handler) fanOut(ctx context.Context, d *decoded, r *resolved) ([]pipeline.Output, error) {
	req := d.req
	s := &sink{h: h, stream: req.Type == schema.PushBroadcast || req.DeliverType == schema.DeliverTag, seen: r.seen}
	base := schema.Event{TS: d.ts, Region: h.cfg.Region, AppID: req.AppID, WorkspaceID: req.WorkspaceID,
		TaskID: d.taskID, PushType: req.Type}
	accepted := base
	accepted.EventID = schema.NewEventID(schema.EventAccepted, d.taskID)
	accepted.Event = schema.EventAccepted
	accepted.StatusCode, accepted.StatusDesc = int64(schema.CodeSuccess), schema.CodeSuccess.Name()
	accepted.TaskName = req.TaskName
	if req.Type != schema.PushSimple {
		accepted.Template = req.TemplateName
	}
	if req.Type == schema.PushBroadcast {
		return h.broadcast(ctx, s, d, base, accepted)
	}
	if !s.stream {
		// accepted, then planned, valid and the delivery of each message
		// to one device (a unicast request's every output).
		s.outs = make([]pipeline.Output, 0, 1+3*len(d.msgs))
	}
	if err := s.add(ctx, h.out.Event(&accepted)); err != nil {
		return nil, err
	}

	for _, msg := range d.msgs {
		ev := base
		ev.MsgID, ev.Target = msg.msgID, msg.target
		if req.DeliverType == schema.DeliverTag {
			reached := 0
			err := h.cfg.Devices.Stream(ctx, store.Audience{AppID: req.AppID, Tag: msg.target}, func(dev schema.Device) error {
				reached++
				return h.device(ctx, s, d, base, msg, msg.target, dev, true)
			})
			if werr := s.wait(); err == nil {
				err = werr
			}
			if err != nil {
				return nil, err
			}
			if reached == 0 {
				// No device carries the tag: the target is planned and
				// ends as a target without a device, as any other would.
				err := h.noDevice(ctx, s, d, ev, "NoBindInfo: no bound device of a user carrying tag "+msg.target)
				if werr := s.wait(); err == nil {
					err = werr
				}
				if err != nil {
					return nil, err
				}
			}
			continue
		}
		devs := targetDevices(req.AppID, req.DeliverType, msg.target, r)
		if err := h.smsSupplement(ctx, s, d, ev, msg, devs); err != nil {
			return nil, err
		}
		if len(devs) == 0 {
			if err := h.noDevice(ctx, s, d, ev, "NoBindInfo: no device is registered for target "+msg.target); err != nil {
				return nil, err
			}
			continue
		}
		planned := ev
		planned.EventID = schema.NewEventID(schema.EventPlanned, d.taskID, msg.msgID, msg.target)
		planned.Event = schema.EventPlanned
		if err := s.add(ctx, h.out.Event(&planned)); err != nil {
			return nil, err
		}
		for _, dev := range devs {
			if err := h.device(ctx, s, d, base, msg, msg.target, dev, false); err != nil {
				return nil, err
			}
		}
	}
	return s.outs, nil
}

// broadcast streams the audience of a BROADCAST, planning each device.
// Its accepted event joins the output with the first device's events;
// when no device matches, it is the only output, with a status
// description starting with schema.AudienceEmptyDesc and naming the
// filters, so the task says its audience was empty (a replay writes the
// same event id).
func (h *Handler) broadcast(ctx context.Context, s *sink, d *decoded, base, accepted schema.Event) ([]pipeline.Output, error) {
	msg := d.msgs[0]
	audience := h.broadcastAudience(d.req)
	matched := false
	err := h.cfg.Devices.Stream(ctx, audience, func(dev schema.Device) error {
		if !matched {
			matched = true
			if err := s.add(ctx, h.out.Event(&accepted)); err != nil {
				return err
			}
		}
		return h.device(ctx, s, d, base, msg, dev.DeviceID, dev, true)
	})
	if err == nil && !matched {
		accepted.StatusDesc = schema.AudienceEmptyDesc + ": no device matches " + describeAudience(d.req, audience)
		err = s.add(ctx, h.out.Event(&accepted))
	}
	if werr := s.wait(); err == nil {
		err = werr
	}
	return s.outs, err
}

// describeAudience names the filters of a broadcast audience, for the
// accepted event of an empty one.
func describeAudience(req *schema.Request, a store.Audience) string {
	status := schema.PushStatusBound
	if req.PushStatus != nil {
		status = *req.PushStatus
	}
	parts := []string{fmt.Sprintf("deliverType %d (%s devices)", req.DeliverType, strings.Join(a.Platforms, ", ")),
		fmt.Sprintf("pushStatus %d", status)}
	if !a.BoundFrom.IsZero() || !a.BoundTo.IsZero() || !a.UnboundFrom.IsZero() || !a.UnboundTo.IsZero() {
		parts = append(parts, "the bind/unbind period")
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"tags", a.Tags}, {"appVersions", a.AppVersions}, {"models", a.Models}} {
		if len(f.list) > 0 {
			parts = append(parts, f.name+" "+strings.Join(f.list, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// noDevice records a target that reaches no device: planned, then
// invalid_device with status 1 NoBindInfo and why.
func (h *Handler) noDevice(ctx context.Context, s *sink, d *decoded, ev schema.Event, why string) error {
	planned := ev
	planned.EventID = schema.NewEventID(schema.EventPlanned, d.taskID, ev.MsgID, ev.Target)
	planned.Event = schema.EventPlanned
	return s.add(ctx, h.out.Event(&planned), h.event(ev, schema.EventInvalidDevice, schema.StatusNoBindInfo, why))
}

// device decides one (message, device) pair: invalid, filtered or valid
// with a delivery. For streamed audiences every device is also a planned
// target of its own.
func (h *Handler) device(ctx context.Context, s *sink, d *decoded, base schema.Event, msg message, target string, dev schema.Device, planEach bool) error {
	req := d.req
	ev := withDevice(base, dev)
	ev.MsgID, ev.Target = msg.msgID, target
	if planEach {
		planned := ev
		planned.EventID = schema.NewEventID(schema.EventPlanned, d.taskID, msg.msgID, target, dev.DeviceID)
		planned.Event = schema.EventPlanned
		if err := s.add(ctx, h.out.Event(&planned)); err != nil {
			return err
		}
	}
	if reason := platformMismatch(req, dev.Platform); reason != "" {
		return s.add(ctx, h.event(ev, schema.EventInvalidDevice, schema.StatusNoBindInfo, "NoBindInfo: "+reason))
	}
	channel, token := chooseChannel(req, dev)
	if token == "" || (channel != SelfChannel && !dev.TokenValid) {
		return s.add(ctx, h.event(ev, schema.EventInvalidDevice, schema.StatusBadDeviceToken, "BadDeviceToken: the device has no valid "+channel+" token"))
	}
	ev.Channel = channel
	if len(req.AppVersions) > 0 && !slices.Contains(req.AppVersions, dev.AppVersion) {
		return s.add(ctx, h.event(ev, schema.EventFiltered, int64(schema.CodeInvalidParam), "filtered: app version "+dev.AppVersion+" is not targeted"))
	}
	if len(req.Models) > 0 && !slices.Contains(req.Models, dev.Model) {
		return s.add(ctx, h.event(ev, schema.EventFiltered, int64(schema.CodeInvalidParam), "filtered: model "+dev.Model+" is not targeted"))
	}
	del := h.delivery(d, msg, target, dev, channel, token)
	if s.seen[del.DeliveryID] {
		return nil // fanned out before: a replay must not deliver twice
	}
	if code, why := contentLimit(req, channel).Check(channel, del.Title, del.Body, len(del.Title)+len(del.Body)+len(del.Payload)); code != 0 {
		return s.add(ctx, h.event(ev, schema.EventFiltered, int64(code), why))
	}
	if code, why := channelRefusal(req, channel, msg.ext, msg.uri); code != 0 {
		return s.add(ctx, h.event(ev, schema.EventFiltered, int64(code), why))
	}
	return s.add(ctx, h.valid(&del, d.ts), h.out.Delivery(&del))
}

func (h *Handler) event(ev schema.Event, t schema.EventType, code int64, desc string) pipeline.Output {
	ev.EventID = schema.NewEventID(t, ev.TaskID, ev.MsgID, ev.Target, ev.DeviceID)
	ev.Event = t
	ev.StatusCode, ev.StatusDesc = code, desc
	return h.out.Event(&ev)
}

// valid is the output of del's valid event at ts.
func (h *Handler) valid(del *schema.Delivery, ts int64) pipeline.Output {
	ev := del.EventFor(schema.EventValid, ts)
	return h.out.Event(&ev)
}

func withDevice(ev schema.Event, dev schema.Device) schema.Event {
	ev.DeviceID, ev.Platform, ev.AppVersion, ev.Model = dev.DeviceID, dev.Platform, dev.AppVersion, dev.Model
	return ev
}

// targetDevices resolves one target of a targeted push.
func targetDevices(app string, deliverType int, target string, r *resolved) []schema.Device {
	switch kindOf(deliverType) {
	case schema.DeliverAndroid:
		return r.devices[app][target]
	case schema.DeliverUser:
		return r.users[app][target]
	case schema.DeliverAlias:
		return r.aliases[app][target]
	case schema.DeliverUserAccount:
		return r.accounts[app][target]
	case schema.DeliverActivityToken, schema.DeliverActivityID:
		return r.activities[activityKey{app, deliverType, target}]
	}
	return nil
}

// platformMismatch explains why a device cannot take a push of this
// deliverType, or returns "".
func platformMismatch(req *schema.Request, platform string) string {
	want := ""
	switch req.DeliverType {
	case schema.DeliverAndroid:
		if platform == schema.PlatformIOS {
			want = "Android"
		}
	case schema.DeliverIOS:
		if platform != schema.PlatformIOS {
			want = "iOS"
		}
	case schema.DeliverHarmony:
		if platform != schema.PlatformHarmony {
			want = "HarmonyOS"
		}
	case schema.DeliverActivityToken, schema.DeliverActivityID:
		if platform != schema.PlatformIOS {
			want = "iOS Live Activities on"
		}
	}
	if want == "" {
		return ""
	}
	return fmt.Sprintf("deliverType %d targets %s devices but the device is %s", req.DeliverType, want, platform)
}

// chooseChannel prefers the vendor channel when the device reported a
// vendor token, else the self-built channel; notifyType "transparent" and
// androidChannel 1 pin the self-built channel.
func chooseChannel(req *schema.Request, dev schema.Device) (channel, token string) {
	pinSelf := req.NotifyType == "transparent" || (req.AndroidChannel == schema.AndroidChannelSelf && dev.Platform != schema.PlatformIOS)
	if pinSelf || dev.Vendor == "" || dev.VendorToken == "" {
		return SelfChannel, dev.SelfToken
	}
	return dev.Vendor, dev.VendorToken
}

// broadcastAudience turns the broadcast filters into an audience.
func (h *Handler) broadcastAudience(req *schema.Request) store.Audience {
	a := store.Audience{AppID: req.AppID, Tags: req.Tags, AppVersions: req.AppVersions, Models: req.Models}
	switch req.DeliverType {
	case schema.DeliverAndroid:
		a.Platforms = []string{schema.PlatformAndroid}
	case schema.DeliverIOS:
		a.Platforms = []string{schema.PlatformIOS}
	case schema.DeliverHarmony:
		a.Platforms = []string{schema.PlatformHarmony}
	}
	status := schema.PushStatusBound
	if req.PushStatus != nil {
		status = *req.PushStatus
	}
	a.Bound = status == schema.PushStatusBound || status == schema.PushStatusAll
	a.Unbound = status == schema.PushStatusUnbound || status == schema.PushStatusAll
	now := h.cfg.Now()
	if req.TimeMode == schema.TimeModeRange {
		a.BoundFrom, a.BoundTo = msTime(req.BindStartTime), msTime(req.BindEndTime)
		a.UnboundFrom, a.UnboundTo = msTime(req.UnBindStartTime), msTime(req.UnBindEndTime)
		return a
	}
	if days := schema.PeriodDays(req.BindPeriod); days > 0 {
		a.BoundFrom = now.AddDate(0, 0, -days)
	}
	if days := schema.PeriodDays(req.UnBindPeriod); days > 0 {
		a.UnboundFrom = now.AddDate(0, 0, -days)
	}
	return a
}

func msTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// content is what every delivery of one message on one channel shares.
type content struct {
	extras  map[string]string
	payload string
}

// contentKey names the content of one message on one channel.
type contentKey struct{ msgID, channel string }

// contentFor builds (once per message and channel of a request) the
// extras and payload of the message's deliveries. Deliveries share the
// returned map; nothing modifies it after it is built.
func (d *decoded) contentFor(msg message, channel string) content {
	key := contentKey{msg.msgID, channel}
	if d.hasFirst && d.firstKey == key {
		return d.first
	}
	if c, ok := d.content[key]; ok {
		return c
	}
	extras := requestExtras(d.req, msg, channel)
	var payload string
	if len(msg.ext) > 0 {
		b, _ := json.Marshal(msg.ext)
		payload = string(b)
	}
	c := content{extras: extras, payload: payload}
	if !d.hasFirst {
		// A unicast request has one message on one channel: no map.
		d.firstKey, d.first, d.hasFirst = key, c, true
		return c
	}
	if d.content == nil {
		d.content = map[contentKey]content{}
	}
	d.content[key] = c
	return c
}

func (h *Handler) delivery(d *decoded, msg message, target string, dev schema.Device, channel, token string) schema.Delivery {
	req := d.req
	c := d.contentFor(msg, channel)
	return schema.Delivery{
		DeliveryID: d.deliveryID(h.cfg.IDKey, msg.msgID, dev.DeviceID), MsgID: msg.msgID, TaskID: d.taskID,
		AppID: req.AppID, WorkspaceID: req.WorkspaceID, Region: h.cfg.Region, PushType: req.Type,
		Target: target, DeviceID: dev.DeviceID, Platform: dev.Platform, Channel: channel, Token: token,
		Title: msg.title, Body: msg.body, Payload: c.payload, PassThrough: req.Silent == 1, Extras: c.extras,
		ExpireAt: d.ts + req.ExpiredSeconds*1000, AcceptedAt: d.ts, FannedOutAt: h.cfg.Now().UnixMilli(),
		CallbackURL: req.CallbackURL, AppVersion: dev.AppVersion, Model: dev.Model, NotifyID: notifyIDOf(req),
	}
}
