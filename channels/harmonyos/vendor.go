package harmonyos

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes HarmonyOS Push Kit to pushpipe (see channels.Vendor):
// the whole message body at most 4096 bytes (tokens excluded), no title or
// body length of its own; recall; no published per-second quota.
func Vendor() channels.Vendor {
	return channels.Vendor{
		Name:   Name,
		NewApp: func() any { return new(App) },
		CheckApp: func(app any) error {
			a, _ := channels.AppAs[App](app)
			return a.Validate()
		},
		Build: func(s channels.Setup) (channels.Channel, error) {
			apps, err := channels.SetupApps[App](Name, s.Apps)
			if err != nil {
				return nil, err
			}
			return New(Config{Region: s.Region, BaseURL: s.BaseURL, Apps: apps, Timeout: s.Timeout})
		},
		ContentLimit: schema.ContentLimit{MaxPayloadBytes: 4096},
		Receipts:     channels.ReceiptsHarmony,
		Recall:       true,
	}
}
