package apns

import (
	"strings"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes APNs to pushpipe (see channels.Vendor): 2 KB messages
// (APNs truncates long titles with an ellipsis rather than failing), no
// recall, no documented request rate (Apple's "Sending notification
// requests to APNs" and "Establishing a connection to APNs" state none;
// APNs answers 429 TooManyRequests for a token pushed too often).
func Vendor() channels.Vendor {
	v := channels.Describe(Name, func(a App) error {
		return channels.Require("teamId, keyId, privateKey and bundleId", a.TeamID, a.KeyID, a.PrivateKey.Reveal(), a.BundleID)
	}, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		c := Config{Region: s.Region, BaseURL: s.BaseURL, Apps: apps, Timeout: s.Timeout}
		if s.Simulator {
			c.CAFile = s.SimulatorCAFile
		}
		return New(c)
	})
	v.ContentLimit = schema.ContentLimit{MaxPayloadBytes: 2048}
	v.MPaaSChannel = "IOS"
	v.ThirdChannel = 2
	v.SimulatorTLS = true
	v.Demo = &channels.DemoDevice{Platform: schema.PlatformIOS, Model: "iPhone 16", Token: strings.Repeat("d3", 32)} // APNs tokens are 64 hex digits
	return v
}
