package hms

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
	"github.com/pushpipe/pushpipe/schema"
)

// StatusReceiptAppUninstalled is the status of Huawei receipt status 2:
// the app is not installed, so its token is gone (Huawei 80000004).
const StatusReceiptAppUninstalled int64 = 80000004

// Vendor describes Huawei Push Kit to pushpipe (see channels.Vendor):
// title at most 40 and body 1024 characters, 2 KB messages; receipts
// status 5 (2009 BadDeviceToken) and 2 (app uninstalled) mean a dead
// token; no per-second quota is published (daily quotas in the console).
func Vendor() channels.Vendor {
	v := channels.Describe(Name, func(a App) error {
		return channels.Require("appId and appSecret", a.AppID, a.AppSecret.Reveal())
	}, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		return New(Config{Endpoint: httpvendor.FromSetup(s, apps), AuthURL: s.AuthURL})
	})
	v.ContentLimit = schema.ContentLimit{MaxTitle: 40, MaxBody: 1024, MaxPayloadBytes: 2048}
	v.DeadToken = func(code int64) bool {
		return code == channels.StatusBadDeviceToken || code == StatusReceiptAppUninstalled
	}
	v.Receipts = channels.ReceiptsHuawei
	v.Recall = true
	v.MPaaSChannel = "HMS"
	v.ThirdChannel = 5
	v.AuthURLs = true
	v.Demo = &channels.DemoDevice{Platform: schema.PlatformAndroid, Model: "HUAWEI Mate 60", Token: "demo-hms-token"}
	return v
}
