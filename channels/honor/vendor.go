package honor

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes Honor Push to pushpipe (see channels.Vendor): 2 KB
// messages, no recall, no published per-second quota; its receipts keep
// Honor's status numbers, none read as a dead token.
func Vendor() channels.Vendor {
	v := channels.Describe(Name, func(a App) error {
		return channels.Require("appId, clientId and clientSecret", a.AppID, a.ClientID, a.ClientSecret.Reveal())
	}, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		return New(Config{Endpoint: httpvendor.FromSetup(s, apps), AuthURL: s.AuthURL})
	})
	v.ContentLimit = schema.ContentLimit{MaxPayloadBytes: 2048}
	v.Receipts = channels.ReceiptsHonor
	v.MPaaSChannel = "HONOR"
	v.AuthPath = "/auth/token"
	v.AuthURLs = true
	v.Demo = &channels.DemoDevice{Platform: schema.PlatformAndroid, Model: "HONOR Magic6", Token: "demo-honor-token"}
	return v
}
