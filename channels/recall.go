package channels

import (
	"context"
	"fmt"
	"hash/fnv"
)

// Recaller is implemented by channels whose vendor can withdraw a message
// it accepted earlier (message revocation, mPaaS §6.4 and §7.2.7). Which
// vendors have such an API, and which vendor request each package makes,
// is documented in the vendor packages:
//
//   - channels/mipush: POST {base}/v3/message/regid/revoke (registration_ids,
//     restricted_package_name, notify_id);
//   - channels/hms: POST {base}/v1/{appId}/messages:revoke (notifyId and the
//     token list, header push-type 0);
//   - channels/harmonyos: POST {base}/v1/{clientId}/messages:revoke
//     (notifyId and the token list, header push-type 0);
//   - channels/vivo: POST {base}/message/recall (the taskId of the push);
//   - channels/selfchannel: POST {base}/v1/recall of the gateway protocol.
//
// APNs, FCM, Honor and OPPO have no recall API (mPaaS only overlays an
// APNs, Honor or OPPO notification with a replacement): their channels do
// not implement Recaller and AsRecaller answers ErrRecallUnsupported.
//
// Implementations are safe for concurrent use by multiple goroutines.
type Recaller interface {
	// Recall withdraws msgs (all of one AppID, len <= MaxRecallBatch())
	// that an earlier Send accepted; vendorMsgIDs[i] is the vendor message
	// id Send returned for msgs[i] (Result.VendorMsgID, may be "" when the
	// vendor recalls by token and notification id). msgs must carry what
	// Send was given (token, MsgID, extras): vendors that recall by
	// notification id need them.
	//
	// Results are index-aligned with msgs (len(results) == len(msgs)):
	// Success means the vendor confirmed the recall, Permanent means it
	// refused (unknown or too old message, or a message the vendor cannot
	// recall), Transient means try again later. A whole-call error follows
	// Send's rules: results is nil and the error Is ErrTransient (network,
	// timeout, 5xx, throttling, ctx done; the ctx error is wrapped too) or
	// ErrPermanent (credentials refused, batch too large, mixed apps,
	// unknown app, vendorMsgIDs not aligned with msgs).
	//
	// Recall returns promptly when ctx is done.
	Recall(ctx context.Context, msgs []Message, vendorMsgIDs []string) ([]Result, error)
	// MaxRecallBatch is the number of messages one Recall accepts; at
	// least 1.
	MaxRecallBatch() int
}

// ErrRecallUnsupported is the error of AsRecaller for a channel whose
// vendor has no recall API. It matches ErrPermanent: asking again does not
// help.
var ErrRecallUnsupported = fmt.Errorf("the vendor has no recall API: %w", ErrPermanent)

// ErrRecallIDs is the caller error of a Recall whose vendorMsgIDs are not
// index-aligned with its messages. It matches ErrPermanent.
var ErrRecallIDs = fmt.Errorf("vendor message ids not aligned with the messages: %w", ErrPermanent)

// AsRecaller returns ch as a Recaller, or an error matching
// ErrRecallUnsupported (and ErrPermanent) naming the channel when its
// vendor cannot recall messages.
func AsRecaller(ch Channel) (Recaller, error) {
	if r, ok := ch.(Recaller); ok {
		return r, nil
	}
	return nil, fmt.Errorf("recalling on channel %q: %w", ch.Name(), ErrRecallUnsupported)
}

// CheckRecall verifies the caller contract of Recall: at most maxBatch
// messages, all of one app, one vendor message id per message. It returns
// the app id (empty for an empty batch) or an error matching
// ErrBatchTooLarge, ErrMixedApps or ErrRecallIDs (all ErrPermanent).
func CheckRecall(msgs []Message, vendorMsgIDs []string, maxBatch int) (string, error) {
	app, err := CheckBatch(msgs, maxBatch)
	if err != nil {
		return "", err
	}
	if len(vendorMsgIDs) != len(msgs) {
		return "", fmt.Errorf("%d vendor message ids for %d messages: %w", len(vendorMsgIDs), len(msgs), ErrRecallIDs)
	}
	return app, nil
}

// MaxNotifyID is the largest notification id NotifyID returns (vendors
// take a non-negative 32-bit integer).
const MaxNotifyID = 1<<31 - 1

// NotifyID returns the vendor notification id (MiPush notify_id, Huawei
// notify_id) of the notifications of pushpipe message msgID: a
// deterministic number in [0, MaxNotifyID], so that Send and a later
// Recall, in any process, name the same notification. Notifications with
// equal ids replace each other on the device, so a replayed delivery
// does not show twice.
func NotifyID(msgID string) int {
	h := fnv.New32a()
	h.Write([]byte(msgID))
	return int(h.Sum32() & MaxNotifyID)
}

// Recalled is the result of a message whose recall the vendor confirmed.
func Recalled(desc string) Result {
	return Result{Outcome: Success, StatusCode: StatusAcked, StatusDesc: desc}
}

// NotRecalled is the result of a message the vendor refused to recall, or
// that cannot be recalled; code is the vendor's code or a status of
// §10.3.
func NotRecalled(code int, desc string) Result {
	return Result{Outcome: Permanent, StatusCode: code, StatusDesc: desc}
}
