package gateway

import (
	"context"
	"net/http"
	"slices"

	"github.com/pushpipe/pushpipe/schema"
)

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
	store := schema.NewDeviceStore(s.cfg.ClickHouse, s.cfg.Database)
	var devs map[string]schema.Device
	var err error
	if len(b.DeviceIDs) > 0 {
		devs, err = store.Lookup(ctx, b.AppID, b.DeviceIDs)
	} else {
		devs, err = store.ByUser(ctx, b.AppID, b.UserIDs)
	}
	if err != nil {
		return failed("querying device status", err)
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
	slices.SortFunc(out, func(a, b DeviceStatus) int {
		if a.DeviceID < b.DeviceID {
			return -1
		}
		if a.DeviceID > b.DeviceID {
			return 1
		}
		return 0
	})
	return ok(out)
}
