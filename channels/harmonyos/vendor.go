package harmonyos

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes HarmonyOS Push Kit to pushpipe (see channels.Vendor):
// the whole message body at most 4096 bytes (tokens excluded), no title or
// body length of its own; recall; no published per-second quota.
func Vendor() channels.Vendor {
	v := channels.Describe(Name, App.Validate, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		return New(Config{Endpoint: httpvendor.FromSetup(s, apps)})
	})
	v.ContentLimit = schema.ContentLimit{MaxPayloadBytes: 4096}
	v.Receipts = channels.ReceiptsHarmony
	v.Recall = true
	v.Demo = &channels.DemoDevice{Platform: schema.PlatformHarmony, Model: "HUAWEI Mate 70", Token: "demo-harmonyos-token"}
	return v
}
