package apns

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes APNs to pushpipe (see channels.Vendor): 2 KB messages
// (APNs truncates long titles with an ellipsis rather than failing), no
// recall, no documented request rate (Apple's "Sending notification
// requests to APNs" and "Establishing a connection to APNs" state none;
// APNs answers 429 TooManyRequests for a token pushed too often).
func Vendor() channels.Vendor {
	return channels.Vendor{
		Name:   Name,
		NewApp: func() any { return new(App) },
		CheckApp: func(app any) error {
			a, _ := channels.AppAs[App](app)
			if a.TeamID == "" || a.KeyID == "" || a.PrivateKey.Reveal() == "" || a.BundleID == "" {
				return channels.Needs("teamId, keyId, privateKey and bundleId")
			}
			return nil
		},
		Build: func(s channels.Setup) (channels.Channel, error) {
			apps, err := channels.SetupApps[App](Name, s.Apps)
			if err != nil {
				return nil, err
			}
			c := Config{Region: s.Region, BaseURL: s.BaseURL, Apps: apps, Timeout: s.Timeout}
			if s.Simulator {
				c.CAFile = s.SimulatorCAFile
			}
			return New(c)
		},
		ContentLimit: schema.ContentLimit{MaxPayloadBytes: 2048},
		MPaaSChannel: "IOS",
		ThirdChannel: 2,
		SimulatorTLS: true,
	}
}
