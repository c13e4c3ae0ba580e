package sms

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// simulatorRegionID is the Alibaba Cloud region id used on the simulator
// for a region without one of its own: the simulator serves every region
// under any region id.
const simulatorRegionID = "cn-hangzhou"

// Vendor describes Alibaba Cloud SMS, the channel of the SMS supplement,
// to pushpipe (see channels.Vendor): 5000 calls/s by default. Setup's
// RegionID and NumbersPerCall configure it.
func Vendor() channels.Vendor {
	v := channels.Describe(Name, func(a App) error {
		return channels.Require("accessKeyId and accessKeySecret (the Alibaba Cloud AccessKey pair that sends the SMS supplement)", a.AccessKeyID, a.AccessKeySecret.Reveal())
	}, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		c := Config{Region: s.Region, BaseURL: s.BaseURL, RegionID: s.RegionID, Apps: apps,
			Timeout: s.Timeout, NumbersPerCall: s.NumbersPerCall}
		if _, _, known := RegionEndpoint(s.Region); s.Simulator && c.RegionID == "" && !known {
			c.RegionID = simulatorRegionID
		}
		return New(c)
	})
	v.ContentLimit = schema.ContentLimit{AllowEmpty: true, MaxPayloadBytes: 2048}
	v.DefaultRate = &channels.Quota{Rate: 5000, Unit: channels.QuotaCalls,
		Source: "Alibaba Cloud's documented SendSms limit per account (one call carries one content for up to 1000 numbers)"}
	return v
}
