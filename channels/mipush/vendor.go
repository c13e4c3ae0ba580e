package mipush

import (
	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
	"github.com/pushpipe/pushpipe/schema"
)

// StatusReceiptInvalidTarget is the status of MiPush receipt type 16: the
// regId is invalid (MiPush 20301 Invalid target), so the token is dead.
const StatusReceiptInvalidTarget int64 = CodeSendMessageFailed

// Vendor describes MiPush to pushpipe (see channels.Vendor): title at most
// 50 and body 128 characters, 4 KB messages; 1000 calls/s by default.
func Vendor() channels.Vendor {
	v := channels.Describe(Name, func(a App) error {
		return channels.Require("both appSecret and packageName", a.AppSecret.Reveal(), a.PackageName)
	}, func(s channels.Setup, apps map[string]App) (*Channel, error) {
		return New(Config{Endpoint: httpvendor.FromSetup(s, apps),
			ReceiptSigner: s.ReceiptSigner, CallbackURL: s.CallbackURL})
	})
	v.ContentLimit = schema.ContentLimit{MaxTitle: 50, MaxBody: 128, MaxPayloadBytes: 4096}
	v.ThrottleCodes = ThrottleCodes()
	v.DeadToken = func(code int64) bool { return code == StatusReceiptInvalidTarget }
	v.Receipts = channels.ReceiptsMiPush
	v.Recall = true
	v.DefaultRate = &channels.Quota{Rate: 1000, Unit: channels.QuotaCalls,
		Source: `Xiaomi's push product guide (MiPush 产品指南, "单播消息 (regID/alias/useraccount) 的接口调用频率上限为：1000次/s"); one call carries one content for up to 1000 regIds`}
	v.MPaaSChannel = "MIUI"
	v.ThirdChannel = 4
	v.RegionBaseURL = RegionBaseURL
	return v
}
