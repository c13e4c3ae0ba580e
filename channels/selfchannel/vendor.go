package selfchannel

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes the self-built channel to pushpipe (see
// channels.Vendor): no length limits, empty title or body allowed, 2 KB
// payloads; recall; not rate-limited by default.
func Vendor() channels.Vendor {
	v := channels.Describe(Name, func(a App) error {
		return channels.Require("appKey", a.AppKey.Reveal())
	}, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		return New(Config{Region: s.Region, BaseURL: s.BaseURL, Apps: apps, Timeout: s.Timeout})
	})
	v.ContentLimit = schema.ContentLimit{AllowEmpty: true, MaxPayloadBytes: 2048}
	v.Recall = true
	v.MPaaSChannel = "ANDROID"
	v.Demo = &channels.DemoDevice{Platform: schema.PlatformAndroid, Model: "Generic Android", Token: "demo-self-token", SelfToken: true}
	return v
}
