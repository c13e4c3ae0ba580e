package fcm

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes FCM to pushpipe (see channels.Vendor): 2 KB messages,
// no recall, 10,000 messages/s by default. Setup.AuthURL, when set,
// replaces every app's token URI. The vendor simulator serves FCM, like
// Google, over TLS (HTTP/2): on the simulator the channel trusts
// Setup.SimulatorCAFile.
func Vendor() channels.Vendor {
	v := channels.Describe(Name, func(a App) error {
		return channels.Require("projectId, clientEmail and privateKey", a.ProjectID, a.ClientEmail, a.PrivateKey.Reveal())
	}, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		if s.AuthURL != "" {
			for id, a := range apps {
				a.TokenURI = s.AuthURL
				apps[id] = a
			}
		}
		c := Config{Region: s.Region, BaseURL: s.BaseURL, Apps: apps, Timeout: s.Timeout}
		if s.Simulator {
			c.CAFile = s.SimulatorCAFile
		}
		return New(c)
	})
	v.ContentLimit = schema.ContentLimit{MaxPayloadBytes: 2048}
	v.DefaultRate = &channels.Quota{Rate: 10000, Unit: channels.QuotaMessages,
		Source: `Firebase's "FCM throttling and quotas" (the HTTP v1 API's default downstream quota of 600,000 messages a minute per project)`}
	v.MPaaSChannel = "FCM"
	v.ThirdChannel = 6
	v.AuthPath = "/token"
	v.AuthURLs = true
	v.SimulatorTLS = true
	v.Demo = &channels.DemoDevice{Platform: schema.PlatformAndroid, Model: "Pixel 9", Token: "demo-fcm-token"}
	return v
}
