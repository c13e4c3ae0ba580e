package selfchannel

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes the self-built channel to pushpipe (see
// channels.Vendor): no length limits, empty title or body allowed, 2 KB
// payloads; recall; not rate-limited by default.
func Vendor() channels.Vendor {
	return channels.Vendor{
		Name:   Name,
		NewApp: func() any { return new(App) },
		CheckApp: func(app any) error {
			a, _ := channels.AppAs[App](app)
			if a.AppKey.Reveal() == "" {
				return channels.Needs("appKey")
			}
			return nil
		},
		Build: func(s channels.Setup) (channels.Channel, error) {
			apps, err := channels.SetupApps[App](Name, s.Apps)
			if err != nil {
				return nil, err
			}
			return New(Config{Region: s.Region, BaseURL: s.BaseURL, Apps: apps, Timeout: s.Timeout})
		},
		ContentLimit: schema.ContentLimit{AllowEmpty: true, MaxPayloadBytes: 2048},
		Recall:       true,
		MPaaSChannel: "ANDROID",
	}
}
