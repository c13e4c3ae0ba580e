package console

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// Bounds of the investigation page.
const (
	// MaxInvestigatedMessages is how many messages the page shows, newest
	// first; it says how many more there are.
	MaxInvestigatedMessages = 50
	// MaxInvestigatedDevices is how many devices of a user are followed.
	MaxInvestigatedDevices = 100
	// MaxInvestigatedIDBytes bounds the id asked about.
	MaxInvestigatedIDBytes = 256
)

// investigateView is the investigation page.
type investigateView struct {
	Range rangeForm
	// By is "device" or "user"; ID the id asked about ("" shows the form
	// only).
	By, ID string
	// Devices are the registered devices (gateway.DeviceStatuses, as
	// /v1/devices/status); MoreDevices counts the user's devices not
	// followed beyond MaxInvestigatedDevices.
	Devices     []gateway.DeviceStatus
	MoreDevices int
	// Unregistered is set for a device id the registry does not know that
	// messages were planned to anyway.
	Unregistered bool
	Messages     []messageView
	// Total counts the messages in the range; Total > len(Messages) means
	// some were left out.
	Total uint64
	Limit int
	// Found is set once the id was looked up and something was found.
	Found bool
}

// messageView is one message planned to the device or user.
type messageView struct {
	TaskID, MsgID string
	Channels      string
	First         time.Time
	Events        []store.TrailEvent
	Stops         []stop
}

// stop is where a message stopped on one device (DeviceID empty: on its
// target, which reached no device).
type stop struct {
	DeviceID string
	// Event is the last lifecycle event; InFlight is set when it does not
	// end the message's way (planned, valid, sent, retried).
	Event    schema.EventType
	InFlight bool
	// Reason says why it stopped there, in words and with the event's
	// status.
	Reason string
}

// stopMeaning says in words what a message that stopped at an event went
// through; the steps without one are still in flight.
var stopMeaning = map[schema.EventType]string{
	schema.EventInvalidDevice: "not sent: the device could not be reached",
	schema.EventFiltered:      "not sent: filtered out",
	schema.EventRejected:      "rejected",
	schema.EventAcked:         "accepted by the vendor; no arrival receipt yet",
	schema.EventFailed:        "failed",
	schema.EventExpired:       "expired before it could be delivered",
	schema.EventRevoked:       "revoked before it was sent",
	schema.EventArrived:       "arrived on the device; not opened (yet)",
	schema.EventOpened:        "opened on the device",
	schema.EventIgnored:       "dismissed on the device",
	schema.EventRecalled:      "recalled after a revoke",
}

// lifecycleRank orders events of the same millisecond by their step.
func lifecycleRank(t schema.EventType) int { return slices.Index(schema.AllEventTypes(), t) }

// stopsOf says where a message stopped on each device its events name, in
// device order; events without a device (the target's planned and
// invalid_device) count only when no event names a device.
// callback_sent and superseded events follow an ending and are not one.
func stopsOf(events []store.TrailEvent) []stop {
	last := map[string]store.TrailEvent{}
	var devices []string
	for _, e := range events {
		if e.Event == schema.EventCallbackSent || e.Event == schema.EventSuperseded {
			continue
		}
		l, seen := last[e.DeviceID]
		if !seen {
			devices = append(devices, e.DeviceID)
		}
		if !seen || e.TS.After(l.TS) || e.TS.Equal(l.TS) && lifecycleRank(e.Event) > lifecycleRank(l.Event) {
			last[e.DeviceID] = e
		}
	}
	slices.Sort(devices)
	if len(devices) > 1 && devices[0] == "" {
		devices = devices[1:]
	}
	out := make([]stop, 0, len(devices))
	for _, d := range devices {
		e := last[d]
		s := stop{DeviceID: d, Event: e.Event}
		meaning, ends := stopMeaning[e.Event]
		switch {
		case !ends:
			s.InFlight = true
			s.Reason = "still in flight (last step: " + string(e.Event) + ")"
		case e.StatusDesc != "":
			s.Reason = fmt.Sprintf("%s — %s (status %d)", meaning, e.StatusDesc, e.StatusCode)
		default:
			s.Reason = fmt.Sprintf("%s (status %d)", meaning, e.StatusCode)
		}
		out = append(out, s)
	}
	return out
}

// channelsOf lists the channels of the events, in order of appearance.
func channelsOf(events []store.TrailEvent) string {
	var cs []string
	for _, e := range events {
		if e.Channel != "" && !slices.Contains(cs, e.Channel) {
			cs = append(cs, e.Channel)
		}
	}
	return strings.Join(cs, ", ")
}

// investigate answers "did device (or user) X get its messages, and if
// not, why": its registered devices and their tokens (as
// /v1/devices/status), and the messages planned to it in the range, each
// with its events and where it stopped. Every role may investigate the
// apps it sees.
func (s *Server) investigate(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	v := view{Title: "Investigate", App: app, Nav: "investigate"}
	iv := investigateView{By: q.Get("by"), ID: strings.TrimSpace(q.Get("id")), Limit: MaxInvestigatedMessages}
	if iv.By == "" {
		iv.By = "device"
	}
	v.Body = &iv
	from, to, _, rf, err := timeRange(q, s.cfg.Now(), "7d")
	iv.Range = rf
	switch {
	case err != nil:
	case iv.By != "device" && iv.By != "user":
		err = fmt.Errorf("by %q is not device or user", iv.By)
	case len(iv.ID) > MaxInvestigatedIDBytes:
		err = fmt.Errorf("the id has %d bytes; ids have at most %d", len(iv.ID), MaxInvestigatedIDBytes)
	case to.Sub(from) > schema.MaxStatsRange:
		err = fmt.Errorf("the range is longer than %d days", int(schema.MaxStatsRange/(24*time.Hour)))
	}
	if err != nil {
		s.badRequest(w, r, "investigate", v, err)
		return
	}
	if iv.ID == "" {
		s.render(w, r.Request, http.StatusOK, "investigate", r, v)
		return
	}
	v.Title = "Investigate " + iv.By + " " + iv.ID
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	tq := store.TrailQuery{AppID: app, From: from, To: to, Limit: MaxInvestigatedMessages, Targets: []string{iv.ID}}
	if iv.By == "device" {
		iv.Devices, err = gateway.DeviceStatuses(ctx, s.cfg.ClickHouse, s.cfg.Database, app, []string{iv.ID}, nil)
		tq.DeviceIDs = []string{iv.ID}
	} else {
		iv.Devices, err = gateway.DeviceStatuses(ctx, s.cfg.ClickHouse, s.cfg.Database, app, nil, []string{iv.ID})
		if len(iv.Devices) > MaxInvestigatedDevices {
			iv.MoreDevices = len(iv.Devices) - MaxInvestigatedDevices
			iv.Devices = iv.Devices[:MaxInvestigatedDevices]
		}
		for _, d := range iv.Devices {
			tq.DeviceIDs = append(tq.DeviceIDs, d.DeviceID)
		}
	}
	if err != nil {
		s.fail(w, r, "investigate", v, "looking up the devices of "+iv.By+" "+iv.ID, err)
		return
	}
	trails, err := store.QueryTrails(ctx, s.cfg.ClickHouse, s.cfg.Database, tq)
	if err != nil {
		s.fail(w, r, "investigate", v, "reading the messages of "+iv.By+" "+iv.ID, err)
		return
	}
	iv.Total = trails.Total
	for _, m := range trails.Messages {
		iv.Messages = append(iv.Messages, messageView{TaskID: m.TaskID, MsgID: m.MsgID, Channels: channelsOf(m.Events), First: m.First,
			Events: m.Events, Stops: stopsOf(m.Events)})
	}
	if len(iv.Devices) == 0 && trails.Total == 0 {
		what := fmt.Sprintf("Device %q is not registered for app %s", iv.ID, app)
		if iv.By == "user" {
			what = fmt.Sprintf("User %q has no device bound in app %s", iv.ID, app)
		}
		v.Error = fmt.Sprintf("%s in region %s, and no message was planned to it between %s and %s UTC.",
			what, s.cfg.Region, from.Format("2006-01-02 15:04"), to.Format("2006-01-02 15:04"))
		s.render(w, r.Request, http.StatusNotFound, "investigate", r, v)
		return
	}
	iv.Found = true
	iv.Unregistered = iv.By == "device" && len(iv.Devices) == 0
	s.render(w, r.Request, http.StatusOK, "investigate", r, v)
}
