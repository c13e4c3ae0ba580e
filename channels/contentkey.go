package channels

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
)

// ContentKey returns a key equal for messages that can share one vendor
// call carrying one content for many tokens: same app, MsgID, title, body,
// payload, pass-through flag, expiry (to the millisecond) and extras. The
// token, DeliveryID, TaskID and DeviceID do not count. The key is 32 hex
// characters of a SHA-256 over length-prefixed fields, so distinct
// contents cannot collide by concatenation. It is a pure function, safe
// for concurrent use; vendor channels return it from BatchKey.
func ContentKey(m Message) string {
	h := sha256.New()
	put := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	put(m.AppID)
	put(m.MsgID)
	put(m.Title)
	put(m.Body)
	put(m.Payload)
	put(strconv.FormatBool(m.PassThrough))
	if m.ExpireAt.IsZero() {
		put("")
	} else {
		put(strconv.FormatInt(m.ExpireAt.UnixMilli(), 10))
	}
	for _, k := range slices.Sorted(maps.Keys(m.Extras)) {
		put(k)
		put(m.Extras[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
