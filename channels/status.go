package channels

// Status codes of §10.3 ("Message push status codes") of the mPaaS Message
// Push Service guide, as stored in events.status_code. The common codes
// apply to every channel; vendor codes are the vendor's own numbers.
const (
	// StatusWaitingForVerify: waiting for verification.
	StatusWaitingForVerify = -1
	// StatusDeviceNotOnlineOrNoResponse: waiting for the device to come
	// online or for delivery confirmation.
	StatusDeviceNotOnlineOrNoResponse = 0
	// StatusNoBindInfo: no binding between user id and device.
	StatusNoBindInfo = 1
	// StatusAcked: the vendor's push gateway accepted the message.
	StatusAcked = 2
	// StatusNone: unknown status.
	StatusNone = 99999999

	// StatusMissingDeviceToken: no device token (Apple table, used by every
	// channel for an empty token).
	StatusMissingDeviceToken = 2008
	// StatusBadDeviceToken: the device token is invalid, malformed or
	// unknown to the vendor (Apple table, used by every channel for a token
	// the vendor rejects).
	StatusBadDeviceToken = 2009
)

// MiPush status codes of §10.3 used by channels/mipush (the numbers are
// MiPush's own error codes).
const (
	// StatusMiPushIllegalParameterValue (10017): a field value is illegal,
	// e.g. a title or description over MiPush's length limits.
	StatusMiPushIllegalParameterValue = 10017
	// StatusMiPushRequestTooLong (10018): the request exceeds the length
	// limit.
	StatusMiPushRequestTooLong = 10018
)

// StatusName returns the §10.3 name of a common status code ("Acked",
// "BadDeviceToken"...), or "" for a code without a name here.
func StatusName(code int) string {
	switch code {
	case StatusWaitingForVerify:
		return "WaitingForVerify"
	case StatusDeviceNotOnlineOrNoResponse:
		return "DeviceNotOnlineOrNoResponse"
	case StatusNoBindInfo:
		return "NoBindInfo"
	case StatusAcked:
		return "Acked"
	case StatusNone:
		return "NONE"
	case StatusMissingDeviceToken:
		return "MissingDeviceToken"
	case StatusBadDeviceToken:
		return "BadDeviceToken"
	}
	return ""
}
