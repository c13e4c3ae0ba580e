package oppo

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// StatusReceiptInvalidRegID is the status of OPPO receipt event
// regid_invalid (OPPO 10000 Invalid RegistrationId): the token is dead.
const StatusReceiptInvalidRegID int64 = 10000

// Vendor describes OPPO Push to pushpipe (see channels.Vendor): title at
// most 32 and body 200 characters, 2 KB messages, no recall, 5000
// messages/s by default.
func Vendor() channels.Vendor {
	return channels.Vendor{
		Name:   Name,
		NewApp: func() any { return new(App) },
		CheckApp: func(app any) error {
			a, _ := channels.AppAs[App](app)
			if a.AppKey == "" || a.MasterSecret.Reveal() == "" {
				return channels.Needs("appKey and masterSecret")
			}
			return nil
		},
		Build: func(s channels.Setup) (channels.Channel, error) {
			apps, err := channels.SetupApps[App](Name, s.Apps)
			if err != nil {
				return nil, err
			}
			return New(Config{Region: s.Region, BaseURL: s.BaseURL, Apps: apps, Timeout: s.Timeout,
				ReceiptSigner: s.ReceiptSigner, CallbackURL: s.CallbackURL})
		},
		ContentLimit: schema.ContentLimit{MaxTitle: 32, MaxBody: 200, MaxPayloadBytes: 2048},
		DeadToken:    func(code int64) bool { return code == StatusReceiptInvalidRegID },
		Receipts:     channels.ReceiptsOPPO,
		DefaultRate: &channels.Quota{Rate: 5000, Unit: channels.QuotaMessages,
			Source: "the lowest tier of the per-app QPS table in OPPO's push service documentation (apps under 10 million users)"},
		MPaaSChannel: "OPPO",
		ThirdChannel: 7,
	}
}
