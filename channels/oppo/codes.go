package oppo

// OPPO Push server API return codes (the "code" field of every answer and
// the errorCode of a batch entry), from OPPO's "调用地址，公共参数和返回码"
// reference, its unicast reference (10000) and §10.3 of the mPaaS guide
// (OPPO table: -1, -2, 11, 13, 14, 15, 16, 17, 28, 29, 30, 10000).
const (
	CodeServiceUnavailable       = -1
	CodeFlowControl              = -2
	CodeSuccess                  = 0
	CodeInvalidAuthToken         = 11
	CodeHTTPActionNotAllowed     = 12
	CodeAppCallLimited           = 13
	CodeInvalidAppKey            = 14
	CodeMissingAppKey            = 15
	CodeInvalidSignature         = 16
	CodeMissingSignature         = 17
	CodeMissingTimestamp         = 18
	CodeInvalidTimestamp         = 19
	CodeInvalidMethod            = 20
	CodeMissingMethod            = 21
	CodeMissingVersion           = 22
	CodeInvalidVersion           = 23
	CodeUnsupportedVersion       = 24
	CodeInvalidEncoding          = 25
	CodeIPBlackList              = 26
	CodeAccessDenied             = 27
	CodeAppDisabled              = 28
	CodeMissingAuthToken         = 29
	CodeAPIPermissionDenied      = 30
	CodeDataNotExist             = 31
	CodeDataDuplicate            = 32
	CodeDailyLimitExceeded       = 33
	CodePictureDailyLimit        = 34
	CodeMissingRequiredArguments = 40
	CodeInvalidArguments         = 41
	CodeInvalidPicture           = 51
	CodeAppCallFrequencyLimit    = 55
	CodeSecondaryActionDenied    = 59
	CodeCategoryError            = 67
	CodeInvalidRegistrationID    = 10000
)

// kind is what an answer code means for the messages of a call.
type kind int

const (
	// kindOK: accepted (per-message errors of a batch are in its data).
	kindOK kind = iota
	// kindInvalidToken: the registration id is invalid.
	kindInvalidToken
	// kindAuthToken: the auth_token was refused; fetch a new one once.
	kindAuthToken
	// kindCallTransient: refused for now (flow control, call limits,
	// vendor unavailable); retry every message.
	kindCallTransient
	// kindCallPermanent: the app's credentials or permissions were
	// refused; nothing of this app can be sent until configuration
	// changes.
	kindCallPermanent
	// kindMessagePermanent: the content was refused.
	kindMessagePermanent
)

// classify maps a code to its kind. Unknown codes are a refusal of the
// content (kindMessagePermanent) so that an unexpected answer cannot cause
// a retry storm; the code is kept in the result.
func classify(code int) kind {
	switch code {
	case CodeSuccess:
		return kindOK
	case CodeInvalidRegistrationID:
		return kindInvalidToken
	case CodeInvalidAuthToken, CodeMissingAuthToken:
		return kindAuthToken
	case CodeServiceUnavailable, CodeFlowControl, CodeAppCallLimited, CodeDailyLimitExceeded, CodeAppCallFrequencyLimit:
		return kindCallTransient
	case CodeHTTPActionNotAllowed, CodeInvalidAppKey, CodeMissingAppKey, CodeInvalidSignature, CodeMissingSignature,
		CodeMissingTimestamp, CodeInvalidTimestamp, CodeInvalidMethod, CodeMissingMethod, CodeMissingVersion,
		CodeInvalidVersion, CodeUnsupportedVersion, CodeInvalidEncoding, CodeIPBlackList, CodeAccessDenied,
		CodeAppDisabled, CodeAPIPermissionDenied:
		return kindCallPermanent
	}
	return kindMessagePermanent
}

// codeName is the English name OPPO gives a code, for result
// descriptions.
func codeName(code int) string {
	switch code {
	case CodeServiceUnavailable:
		return "ServiceCurrentlyUnavailable"
	case CodeFlowControl:
		return "ServiceInFlowControl"
	case CodeSuccess:
		return "Success"
	case CodeInvalidAuthToken:
		return "InvalidAuthToken"
	case CodeAppCallLimited:
		return "AppCallLimited"
	case CodeInvalidAppKey:
		return "InvalidAppKey"
	case CodeMissingAppKey:
		return "MissingAppKey"
	case CodeInvalidSignature:
		return "InvalidSignature"
	case CodeMissingSignature:
		return "MissingSignature"
	case CodeAppDisabled:
		return "AppDisabled"
	case CodeMissingAuthToken:
		return "MissingAuthToken"
	case CodeAPIPermissionDenied:
		return "ApiPermissionDenied"
	case CodeDailyLimitExceeded:
		return "DailyLimitExceeded"
	case CodeMissingRequiredArguments:
		return "MissingRequiredArguments"
	case CodeInvalidArguments:
		return "InvalidArguments"
	case CodeAppCallFrequencyLimit:
		return "AppCallFrequencyLimit"
	case CodeCategoryError:
		return "CategoryError"
	case CodeInvalidRegistrationID:
		return "InvalidRegistrationId"
	}
	return "OPPOError"
}
