package channels

import (
	"strings"
	"time"
)

// CheckDeliverable returns the result of a message no vendor can deliver,
// and false: no token (Permanent, StatusMissingDeviceToken), a token with
// any of the characters badTokenChars (InvalidToken, StatusBadDeviceToken,
// "BadDeviceToken: malformed " + tokenName), or a validity that ended by
// now (Permanent, StatusNone, MessageExpired), checked in that order. It
// returns true when none applies; the vendor's own checks come next. It
// does not modify m.
func CheckDeliverable(m *Message, now time.Time, badTokenChars, tokenName string) (Result, bool) {
	switch {
	case m.Token == "":
		return Result{Outcome: Permanent, StatusCode: StatusMissingDeviceToken, StatusDesc: "MissingDeviceToken"}, false
	case strings.ContainsAny(m.Token, badTokenChars):
		return Result{Outcome: InvalidToken, StatusCode: StatusBadDeviceToken, StatusDesc: "BadDeviceToken: malformed " + tokenName}, false
	case !m.ExpireAt.IsZero() && !m.ExpireAt.After(now):
		return Result{Outcome: Permanent, StatusCode: StatusNone, StatusDesc: "MessageExpired: validity ended before sending"}, false
	}
	return Result{}, true
}
