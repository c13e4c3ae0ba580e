package honor

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes Honor Push to pushpipe (see channels.Vendor): 2 KB
// messages, no recall, no published per-second quota; its receipts keep
// Honor's status numbers, none read as a dead token.
func Vendor() channels.Vendor {
	return channels.Vendor{
		Name:   Name,
		NewApp: func() any { return new(App) },
		CheckApp: func(app any) error {
			a, _ := channels.AppAs[App](app)
			if a.AppID == "" || a.ClientID == "" || a.ClientSecret.Reveal() == "" {
				return channels.Needs("appId, clientId and clientSecret")
			}
			return nil
		},
		Build: func(s channels.Setup) (channels.Channel, error) {
			apps, err := channels.SetupApps[App](Name, s.Apps)
			if err != nil {
				return nil, err
			}
			return New(Config{Region: s.Region, BaseURL: s.BaseURL, AuthURL: s.AuthURL, Apps: apps, Timeout: s.Timeout})
		},
		ContentLimit: schema.ContentLimit{MaxPayloadBytes: 2048},
		Receipts:     channels.ReceiptsHonor,
		MPaaSChannel: "HONOR",
		AuthPath:     "/auth/token",
	}
}
