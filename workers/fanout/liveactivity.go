package fanout

import (
	"context"

	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/schema"
)

// activityKey names one Live Activity target of a batch: a token
// (deliverType 5) or an activity id (deliverType 6) of an app.
type activityKey struct {
	app         string
	deliverType int
	target      string
}

// resolveActivities looks up the devices of the batch's Live Activity
// targets of one app and kind: the device holding each token, or every
// device holding a token of each activity id. Each device carries the
// Live Activity token as its APNs token, so the push reaches the activity
// and never the device's other channels.
func (h *Handler) resolveActivities(ctx context.Context, r *resolved, app string, deliverType int, targets []string) error {
	if deliverType == schema.DeliverActivityToken {
		devs, err := h.cfg.Devices.ByActivityToken(ctx, app, targets)
		for tok, d := range devs {
			r.activities[activityKey{app, deliverType, tok}] = []schema.Device{d}
		}
		return err
	}
	devs, err := h.cfg.Devices.ByActivity(ctx, app, targets)
	for id, ds := range devs {
		r.activities[activityKey{app, deliverType, id}] = ds
	}
	return err
}

// contentLimit is the channel's content limit (mPaaS §8) for the request:
// a Live Activity's alert, its title and body, is optional.
func contentLimit(req *schema.Request, channel string) schema.ContentLimit {
	l := registry.ContentLimit(channel)
	if req.IsLiveActivity() {
		l.AllowEmpty = true
	}
	return l
}
