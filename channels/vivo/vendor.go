package vivo

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes vivo Push to pushpipe (see channels.Vendor): title at
// most 40 and body 100 characters, 2 KB messages; recall; vivo publishes a
// daily quota, no per-second figure; its receipts report arrivals only.
func Vendor() channels.Vendor {
	return channels.Vendor{
		Name:   Name,
		NewApp: func() any { return new(App) },
		CheckApp: func(app any) error {
			a, _ := channels.AppAs[App](app)
			if a.AppID == "" || a.AppKey == "" || a.AppSecret.Reveal() == "" {
				return channels.Needs("appId, appKey and appSecret")
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
		ContentLimit: schema.ContentLimit{MaxTitle: 40, MaxBody: 100, MaxPayloadBytes: 2048},
		Receipts:     channels.ReceiptsVivo,
		Recall:       true,
		MPaaSChannel: "VIVO",
		ThirdChannel: 8,
	}
}
