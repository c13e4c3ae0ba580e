package vivo

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes vivo Push to pushpipe (see channels.Vendor): title at
// most 40 and body 100 characters, 2 KB messages; recall; vivo publishes a
// daily quota, no per-second figure; its receipts report arrivals only.
func Vendor() channels.Vendor {
	v := channels.Describe(Name, func(a App) error {
		return channels.Require("appId, appKey and appSecret", a.AppID, a.AppKey, a.AppSecret.Reveal())
	}, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		return New(Config{Endpoint: httpvendor.FromSetup(s, apps),
			ReceiptSigner: s.ReceiptSigner, CallbackURL: s.CallbackURL})
	})
	v.ContentLimit = schema.ContentLimit{MaxTitle: 40, MaxBody: 100, MaxPayloadBytes: 2048}
	v.Receipts = channels.ReceiptsVivo
	v.Recall = true
	v.MPaaSChannel = "VIVO"
	v.ThirdChannel = 8
	v.Demo = &channels.DemoDevice{Platform: schema.PlatformAndroid, Model: "vivo X100", Token: "demo-vivo-token"}
	return v
}
