package oppo

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
	"github.com/pushpipe/pushpipe/schema"
)

// StatusReceiptInvalidRegID is the status of OPPO receipt event
// regid_invalid (OPPO 10000 Invalid RegistrationId): the token is dead.
const StatusReceiptInvalidRegID int64 = 10000

// Vendor describes OPPO Push to pushpipe (see channels.Vendor): title at
// most 32 and body 200 characters, 2 KB messages, no recall, 5000
// messages/s by default.
func Vendor() channels.Vendor {
	v := channels.Describe(Name, func(a App) error {
		return channels.Require("appKey and masterSecret", a.AppKey, a.MasterSecret.Reveal())
	}, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		return New(Config{Endpoint: httpvendor.FromSetup(s, apps),
			ReceiptSigner: s.ReceiptSigner, CallbackURL: s.CallbackURL})
	})
	v.ContentLimit = schema.ContentLimit{MaxTitle: 32, MaxBody: 200, MaxPayloadBytes: 2048}
	v.DeadToken = func(code int64) bool { return code == StatusReceiptInvalidRegID }
	v.Receipts = channels.ReceiptsOPPO
	v.DefaultRate = &channels.Quota{Rate: 5000, Unit: channels.QuotaMessages,
		Source: "the lowest tier of the per-app QPS table in OPPO's push service documentation (apps under 10 million users)"}
	v.MPaaSChannel = "OPPO"
	v.ThirdChannel = 7
	v.Demo = &channels.DemoDevice{Platform: schema.PlatformAndroid, Model: "OPPO Find X7", Token: "demo-oppo-token"}
	return v
}
