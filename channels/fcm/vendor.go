package fcm

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes FCM to pushpipe (see channels.Vendor): 2 KB messages,
// no recall, 10,000 messages/s by default. Setup.AuthURL, when set,
// replaces every app's token URI.
func Vendor() channels.Vendor {
	return channels.Vendor{
		Name:   Name,
		NewApp: func() any { return new(App) },
		CheckApp: func(app any) error {
			a, _ := channels.AppAs[App](app)
			if a.ProjectID == "" || a.ClientEmail == "" || a.PrivateKey.Reveal() == "" {
				return channels.Needs("projectId, clientEmail and privateKey")
			}
			return nil
		},
		Build: func(s channels.Setup) (channels.Channel, error) {
			apps, err := channels.SetupApps[App](Name, s.Apps)
			if err != nil {
				return nil, err
			}
			if s.AuthURL != "" {
				for id, a := range apps {
					a.TokenURI = s.AuthURL
					apps[id] = a
				}
			}
			return New(Config{Region: s.Region, BaseURL: s.BaseURL, Apps: apps, Timeout: s.Timeout})
		},
		ContentLimit: schema.ContentLimit{MaxPayloadBytes: 2048},
		DefaultRate: &channels.Quota{Rate: 10000, Unit: channels.QuotaMessages,
			Source: `Firebase's "FCM throttling and quotas" (the HTTP v1 API's default downstream quota of 600,000 messages a minute per project)`},
		MPaaSChannel: "FCM",
		ThirdChannel: 6,
		AuthPath:     "/token",
	}
}
