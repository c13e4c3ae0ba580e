package receipts

import (
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/oppo"
	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/schema"
)

// Status codes the vendor mappings give receipts that say the device's
// token is dead (see TokenInvalid).
const (
	// StatusMiPushInvalidTarget is MiPush receipt type 16: the regId is
	// invalid (MiPush 20301 Invalid target).
	StatusMiPushInvalidTarget = mipush.StatusReceiptInvalidTarget
	// StatusOPPOInvalidRegID is OPPO receipt event regid_invalid (OPPO
	// 10000 Invalid RegistrationId).
	StatusOPPOInvalidRegID = oppo.StatusReceiptInvalidRegID
	// StatusHMSAppUninstalled is Huawei receipt status 2: the app is not
	// installed, so its token is gone (Huawei 80000004).
	StatusHMSAppUninstalled = hms.StatusReceiptAppUninstalled
)

// TokenInvalid reports whether a receipt event of event type ev with
// status code, published by the endpoint of channel (the endpoint name:
// hms, honor, harmonyos, mipush, oppo, vivo; "" for the app SDK), says
// that the vendor token of the delivery is dead, as a vendor answering
// the send call with an invalid-token error would: MiPush type 16
// (20301), OPPO regid_invalid (10000), Huawei status 5 (2009
// BadDeviceToken) and status 2 (80000004, app uninstalled). Honor and
// HarmonyOS statuses keep the vendor's number and none of them is read as
// a dead token; vivo receipts and client events report arrivals only.
// Only failed events can say so. The rule is each vendor's
// Vendor.DeadToken (channels/registry). It is a pure function, safe for
// concurrent use.
func TokenInvalid(ev schema.EventType, channel string, code int64) bool {
	if ev != schema.EventFailed {
		return false
	}
	v, ok := registry.Lookup(channel)
	return ok && v.DeadToken != nil && v.DeadToken(code)
}

// InvalidatesToken reports whether a receipt event (as the receipts
// worker published it: ev, status code, the endpoint channel it came
// through and the token it names) says that the vendor token of the
// delivery it resolved to is dead, and may therefore mark that token
// invalid: TokenInvalid must hold, and the receipt must come through the
// delivery's own channel and name the delivery's own token. A receipt of
// another vendor, or naming another token (or none), never invalidates:
// a Huawei status 5 cannot kill a MiPush token. It is a pure function,
// safe for concurrent use.
func InvalidatesToken(ev schema.EventType, endpoint string, code int64, token, deliveryChannel, deliveryToken string) bool {
	return TokenInvalid(ev, endpoint, code) && endpoint == deliveryChannel && token != "" && token == deliveryToken
}
