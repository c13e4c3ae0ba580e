package fanout

import (
	"context"
	"fmt"
	"slices"

	"github.com/pushpipe/pushpipe/channels/sms"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// The SMS supplement (smsStrategy, mPaaS §7.2.3). A message of a request
// with smsStrategy 1 or 2 gets, besides its push deliveries, one SMS
// delivery per user its target names (deliverType 3: the user; 1, 2, 7,
// 10: the user the device is bound to), on the channel "sms", to the phone
// number the registry holds for the user (set_phone), with the device id
// "sms:<user id>" and a delivery id derived from the message and that
// device id, so that a replay makes the same SMS delivery:
//   - smsStrategy 2 (concurrent): a `valid` event and the delivery on
//     push.deliveries.R next to the push deliveries;
//   - smsStrategy 1 (resend): the delivery is held on the retry tiers
//     until the push's validity ends (not-before = the push's expiry,
//     carrying the ids of the user's push deliveries in SMSResend); the
//     retry worker then sends it (a `valid` event and the delivery) only
//     if none of them arrived, else ends it `filtered` (see retry).
//
// A user without a phone number, or a device target bound to no user,
// gets an `invalid_device` event (status 1 NoBindInfo) on the channel
// "sms" instead; a request narrowed by appVersions or models sends no SMS
// to a user none of whose devices it takes in (`filtered`, 3028). An SMS delivery is sent like any other; it is never
// revoked or recalled.

// resolvePhones looks up, once per app for the whole batch, the phone
// numbers of the users the SMS supplements of the batch go to.
func (h *Handler) resolvePhones(ctx context.Context, reqs []*decoded, r *resolved) error {
	users := map[string]map[string]bool{}
	for _, d := range reqs {
		if d == nil || d.req.SmsStrategy == schema.SMSStrategyNone {
			continue
		}
		for _, m := range d.msgs {
			for _, u := range smsUsers(d.req, m.target, targetDevices(d.req.AppID, d.req.DeliverType, m.target, r)) {
				if users[d.req.AppID] == nil {
					users[d.req.AppID] = map[string]bool{}
				}
				users[d.req.AppID][u] = true
			}
		}
	}
	phones := map[string]map[string]string{}
	for app, set := range users {
		p, err := h.cfg.Phones(ctx, app, sortedKeys(set))
		if err != nil {
			return fmt.Errorf("looking up the phone numbers of %d users of app %s: %w", len(set), app, err)
		}
		phones[app] = p
	}
	for _, d := range reqs {
		if d != nil && d.req.SmsStrategy != schema.SMSStrategyNone {
			d.phones = phones[d.req.AppID]
		}
	}
	return nil
}

// smsUsers returns the users the SMS supplement of a target goes to, in
// order: the target itself for deliverType 3, else the users its devices
// are bound to.
func smsUsers(req *schema.Request, target string, devs []schema.Device) []string {
	if req.DeliverType == schema.DeliverUser {
		return []string{target}
	}
	var out []string
	for _, dev := range devs {
		if dev.UserID != "" && !slices.Contains(out, dev.UserID) {
			out = append(out, dev.UserID)
		}
	}
	slices.Sort(out)
	return out
}

// targeted reports whether the request's appVersions and models (when
// set) take in dev.
func targeted(req *schema.Request, dev schema.Device) bool {
	return (len(req.AppVersions) == 0 || slices.Contains(req.AppVersions, dev.AppVersion)) &&
		(len(req.Models) == 0 || slices.Contains(req.Models, dev.Model))
}

// smsDeliveryIDs returns the delivery ids of the SMS supplements of one
// message of a request, for the replay check.
func (h *Handler) smsDeliveryIDs(d *decoded, m message, r *resolved) []string {
	if d.req.SmsStrategy == schema.SMSStrategyNone {
		return nil
	}
	var ids []string
	for _, u := range smsUsers(d.req, m.target, targetDevices(d.req.AppID, d.req.DeliverType, m.target, r)) {
		ids = append(ids, h.cfg.IDKey.DeliveryID(d.req.AppID, m.msgID, schema.SMSDeviceID(u)))
	}
	return ids
}

// smsSupplement emits the SMS supplement of one message to one target
// whose push goes to devs; ev is the message's event base (msg id and
// target set).
func (h *Handler) smsSupplement(ctx context.Context, s *sink, d *decoded, ev schema.Event, msg message, devs []schema.Device) error {
	req := d.req
	if req.SmsStrategy == schema.SMSStrategyNone {
		return nil
	}
	ev.Channel = schema.ChannelSMS
	users := smsUsers(req, msg.target, devs)
	if len(users) == 0 {
		ev.DeviceID = schema.SMSDeviceID("")
		return s.add(ctx, h.event(ev, schema.EventInvalidDevice, schema.StatusNoBindInfo,
			"NoBindInfo: target "+msg.target+" is bound to no user, so its SMS supplement has no phone number"))
	}
	narrowed := len(req.AppVersions) > 0 || len(req.Models) > 0
	for _, u := range users {
		var own []schema.Device // the user's devices the request targets
		for _, dv := range devs {
			if (req.DeliverType == schema.DeliverUser || dv.UserID == u) && targeted(req, dv) {
				own = append(own, dv)
			}
		}
		del := h.smsDelivery(d, msg, u, own)
		if d.smsDone[del.DeliveryID] || s.seen[del.DeliveryID] {
			continue // another target of the same user, or fanned out before
		}
		if d.smsDone == nil {
			d.smsDone = map[string]bool{}
		}
		d.smsDone[del.DeliveryID] = true
		if narrowed && len(own) == 0 {
			// appVersions and models narrow the audience to devices; a user
			// none of whose devices is in it is no recipient of the SMS.
			e := ev
			e.DeviceID = del.DeviceID
			if err := s.add(ctx, h.event(e, schema.EventFiltered, int64(schema.CodeInvalidParam),
				"filtered: no device of user "+u+" has a targeted app version and model, so it gets no SMS supplement")); err != nil {
				return err
			}
			continue
		}
		if del.Token == "" {
			e := ev
			e.DeviceID = del.DeviceID
			if err := s.add(ctx, h.event(e, schema.EventInvalidDevice, schema.StatusNoBindInfo,
				"NoBindInfo: user "+u+" has no phone number for the SMS supplement (registry op set_phone)")); err != nil {
				return err
			}
			continue
		}
		var out []pipeline.Output
		if req.SmsStrategy == schema.SMSStrategyConcurrent {
			out = []pipeline.Output{h.valid(&del, d.ts), h.out.Delivery(&del)}
		} else {
			out = []pipeline.Output{workers.RetryOutput(del, h.cfg.Now())}
		}
		if err := s.add(ctx, out...); err != nil {
			return err
		}
	}
	return nil
}

// smsDelivery is the SMS delivery of one message to user (its token
// empty when the user has no phone number), whose push goes to devs (the
// user's targeted devices). A resend SMS is held until the push expires
// and keeps the push's validity from then on.
func (h *Handler) smsDelivery(d *decoded, msg message, user string, devs []schema.Device) schema.Delivery {
	req := d.req
	param, _ := schema.NormalizeSMSTemplateParam(req.SmsTemplateParam) // Validate checked it
	dev := schema.SMSDeviceID(user)
	validity := req.ExpiredSeconds * 1000
	del := schema.Delivery{
		DeliveryID: h.cfg.IDKey.DeliveryID(req.AppID, msg.msgID, dev), MsgID: msg.msgID, TaskID: d.taskID,
		AppID: req.AppID, WorkspaceID: req.WorkspaceID, Region: h.cfg.Region, PushType: req.Type,
		Target: msg.target, DeviceID: dev, Channel: schema.ChannelSMS, Token: d.phones[user],
		Extras:   map[string]string{sms.ExtraSignName: req.SmsSignName, sms.ExtraTemplateCode: req.SmsTemplateCode, sms.ExtraTemplateParam: param},
		ExpireAt: d.ts + validity, AcceptedAt: d.ts, FannedOutAt: h.cfg.Now().UnixMilli(), CallbackURL: req.CallbackURL,
	}
	if req.SmsStrategy == schema.SMSStrategyResend {
		pushDevs := make([]string, len(devs))
		for i, dv := range devs {
			pushDevs[i] = dv.DeviceID
		}
		del.SMSResend = &schema.SMSResend{PushDeliveries: schema.SortedDeliveryIDs(h.cfg.IDKey, req.AppID, msg.msgID, pushDevs), PushExpireAt: d.ts + validity}
		del.NotBefore, del.ExpireAt = d.ts+validity, d.ts+2*validity
	}
	return del
}
