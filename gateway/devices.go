package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// activityBody is the body of the Live Activity client routes: the app's
// server binds, on behalf of a device, the push token of one of its iOS
// Live Activities to the activity id (mPaaS SDK
// liveActivityBindWithActivityId:pushToken:), and unbinds it when the
// activity ended.
type activityBody struct {
	appRef
	// DeliveryToken is the device id (the mPaaS Ad-token).
	DeliveryToken string `json:"deliveryToken"`
	// ActivityID is the app's id of the Live Activity: the target of
	// deliverType 6 pushes.
	ActivityID string `json:"activityId"`
	// ActivityToken is the Live Activity's push token (bind only): the
	// target of deliverType 5 pushes.
	ActivityToken string `json:"activityToken"`
}

// bindActivity serves /v1/client/liveactivity/bind: a Live Activity push
// token of a device, bound to its activity id; a newer token of the same
// activity and device replaces it.
func (s *Server) bindActivity(ctx context.Context, c *call) reply {
	return s.activity(ctx, c, schema.OpActivityToken)
}

// unbindActivity serves /v1/client/liveactivity/unbind: the device's token
// of the activity is removed (the activity ended).
func (s *Server) unbindActivity(ctx context.Context, c *call) reply {
	return s.activity(ctx, c, schema.OpActivityTokenRemove)
}

// activity publishes one Live Activity token record; Data is the device id.
func (s *Server) activity(ctx context.Context, c *call, op schema.BindingOp) reply {
	var b activityBody
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	switch {
	case b.DeliveryToken == "":
		return refuse(http.StatusBadRequest, schema.CodeNeedDeliveryToken, "deliveryToken is empty: give the device id (Ad-token)")
	case b.ActivityID == "":
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "activityId is empty: name the Live Activity")
	case op == schema.OpActivityToken && b.ActivityToken == "":
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "activityToken is empty: give the Live Activity's push token")
	case op == schema.OpActivityTokenRemove && b.ActivityToken != "":
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "activityToken is not read by unbind, which removes the device's token of the activity: leave it out")
	}
	return s.publishBinding(ctx, c, &schema.Binding{Op: op, Region: b.Region, AppID: b.AppID, WorkspaceID: b.WorkspaceID,
		DeviceID: b.DeliveryToken, ActivityID: b.ActivityID, ActivityToken: b.ActivityToken})
}

// maxStatusIDs bounds the ids of one device status query.
const maxStatusIDs = 100

// DeviceStatus is one device of the device status query (mPaaS §6.6):
// what the registry knows of it.
type DeviceStatus struct {
	DeviceID string `json:"deviceId"`
	UserID   string `json:"userId,omitempty"`
	Platform string `json:"platform"`
	// Channel is the vendor channel of the device ("self" without one).
	Channel     string `json:"channel"`
	VendorToken string `json:"vendorToken,omitempty"`
	SelfToken   string `json:"selfToken,omitempty"`
	// TokenValid is false once a vendor called the token dead.
	TokenValid bool `json:"tokenValid"`
	// SelfChannelStatus is the self-built channel's connection state as
	// the mPaaS query shows it; pushpipe does not track connections of the
	// self-built gateway, so it is "Unknown".
	SelfChannelStatus string `json:"selfChannelStatus"`
	Alias             string `json:"alias,omitempty"`
	UserAccount       string `json:"userAccount,omitempty"`
	AppVersion        string `json:"appVersion,omitempty"`
	Model             string `json:"model,omitempty"`
	UpdatedAt         int64  `json:"updatedAt"`
}

// deviceStatus serves /v1/devices/status: the devices of the given device
// ids or user ids (exactly one of the two lists, at most 100 ids), in id
// order. Unknown ids are left out.
func (s *Server) deviceStatus(ctx context.Context, c *call) reply {
	var b struct {
		appRef
		DeviceIDs []string `json:"deviceIds"`
		UserIDs   []string `json:"userIds"`
	}
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	if (len(b.DeviceIDs) == 0) == (len(b.UserIDs) == 0) {
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "give exactly one of deviceIds and userIds")
	}
	if len(b.DeviceIDs)+len(b.UserIDs) > maxStatusIDs {
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "at most 100 ids a query")
	}
	out, err := DeviceStatuses(ctx, s.cfg.ClickHouse, s.cfg.Database, b.AppID, b.DeviceIDs, b.UserIDs)
	if err != nil {
		return failed("querying device status", err)
	}
	return ok(out)
}

// DeviceStatuses is the device status query of /v1/devices/status (and
// the console's investigation page): the registered devices of app appID
// among deviceIDs, or else bound to one of userIDs, in device id order.
// Unknown ids are left out; an error is ClickHouse's, wrapped.
func DeviceStatuses(ctx context.Context, conn driver.Conn, db, appID string, deviceIDs, userIDs []string) ([]DeviceStatus, error) {
	devices := store.NewDevices(conn, db)
	var devs map[string]schema.Device
	var err error
	if len(deviceIDs) > 0 {
		devs, err = devices.Lookup(ctx, appID, deviceIDs)
	} else {
		devs, err = devices.ByUser(ctx, appID, userIDs)
	}
	if err != nil {
		return nil, err
	}
	out := make([]DeviceStatus, 0, len(devs))
	for _, d := range devs {
		channel := d.Vendor
		if channel == "" {
			channel = "self"
		}
		out = append(out, DeviceStatus{DeviceID: d.DeviceID, UserID: d.UserID, Platform: d.Platform, Channel: channel,
			VendorToken: d.VendorToken, SelfToken: d.SelfToken, TokenValid: d.TokenValid, SelfChannelStatus: "Unknown",
			Alias: d.Alias, UserAccount: d.UserAccount, AppVersion: d.AppVersion, Model: d.Model, UpdatedAt: d.UpdatedAt.UnixMilli()})
	}
	slices.SortFunc(out, func(a, b DeviceStatus) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	return out, nil
}
