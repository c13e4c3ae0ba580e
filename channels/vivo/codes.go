package vivo

// vivo Push server API result codes (the "result" field of every answer),
// from §10.3 of the mPaaS guide (vivo table) and vivo's auth error codes.
const (
	CodeSuccess              = 0
	CodeAuthFailed           = 10000
	CodeResourceLimit        = 10040
	CodeTargetEmpty          = 10050
	CodeUnsupportedMsgType   = 10051
	CodeNotifyTypeInvalid    = 10054
	CodeTitleEmpty           = 10055
	CodeTitleTooLong         = 10056
	CodeContentEmpty         = 10057
	CodeContentTooLong       = 10058
	CodeTooManyCustomPairs   = 10066
	CodeInvalidCustomPair    = 10067
	CodeTotalLimitExceeded   = 10070
	CodeOutsideSendingWindow = 10071
	CodePushTooFast          = 10072
	CodeContentUnapproved    = 10101
	CodeServerError          = 10102
	CodeSensitiveContent     = 10103
	CodeTestContent          = 10104
	CodeSetCommercialFreq    = 10110
	CodeAppIDEmpty           = 10200
	CodeAppKeyEmpty          = 10201
	CodeAppKeyInvalid        = 10202
	CodeTimestampEmpty       = 10203
	CodeSignEmpty            = 10204
	CodeAppIDNotExist        = 10205
	CodeSignInvalid          = 10206
	CodeTimestampInvalid     = 10207
	CodeAuthLimitExceeded    = 10250
	CodeInvalidRegID         = 10302
	CodeRequestIDExists      = 10303
)

// kind is what a result code means for the messages of a call.
type kind int

const (
	kindOK kind = iota
	// kindInvalidToken: the regId is invalid.
	kindInvalidToken
	// kindDuplicate: the requestId was already accepted; the message is
	// on its way.
	kindDuplicate
	// kindAuthToken: the authToken was refused; fetch a new one once.
	kindAuthToken
	// kindCallTransient: refused for now (quota, rate, sending window,
	// vendor failure); retry every message.
	kindCallTransient
	// kindCallPermanent: the app's credentials were refused.
	kindCallPermanent
	// kindMessagePermanent: the content was refused.
	kindMessagePermanent
)

// classify maps a result code to its kind. Unknown codes are a refusal of
// the content (kindMessagePermanent) so that an unexpected answer cannot
// cause a retry storm; the code is kept in the result.
func classify(code int) kind {
	switch code {
	case CodeSuccess:
		return kindOK
	case CodeInvalidRegID:
		return kindInvalidToken
	case CodeRequestIDExists:
		return kindDuplicate
	case CodeAuthFailed:
		return kindAuthToken
	case CodeResourceLimit, CodeTotalLimitExceeded, CodeOutsideSendingWindow, CodePushTooFast, CodeServerError,
		CodeAuthLimitExceeded:
		return kindCallTransient
	case CodeAppIDEmpty, CodeAppKeyEmpty, CodeAppKeyInvalid, CodeTimestampEmpty, CodeSignEmpty, CodeAppIDNotExist,
		CodeSignInvalid, CodeTimestampInvalid:
		return kindCallPermanent
	}
	return kindMessagePermanent
}

// codeName names a result code for result descriptions.
func codeName(code int) string {
	switch code {
	case CodeSuccess:
		return "Success"
	case CodeAuthFailed:
		return "AuthFailed"
	case CodeResourceLimit:
		return "ResourceLimit"
	case CodeTargetEmpty:
		return "TargetEmpty"
	case CodeNotifyTypeInvalid:
		return "NotifyTypeInvalid"
	case CodeTitleEmpty:
		return "TitleEmpty"
	case CodeTitleTooLong:
		return "TitleTooLong"
	case CodeContentEmpty:
		return "ContentEmpty"
	case CodeContentTooLong:
		return "ContentTooLong"
	case CodeTooManyCustomPairs:
		return "TooManyCustomPairs"
	case CodeInvalidCustomPair:
		return "InvalidCustomPair"
	case CodeTotalLimitExceeded:
		return "TotalLimitExceeded"
	case CodeOutsideSendingWindow:
		return "OutsideSendingWindow"
	case CodePushTooFast:
		return "PushTooFast"
	case CodeContentUnapproved:
		return "ContentUnapproved"
	case CodeServerError:
		return "ServerError"
	case CodeSensitiveContent:
		return "SensitiveContent"
	case CodeTestContent:
		return "TestContent"
	case CodeAppKeyInvalid:
		return "AppKeyInvalid"
	case CodeAppIDNotExist:
		return "AppIdNotExist"
	case CodeSignInvalid:
		return "SignInvalid"
	case CodeTimestampInvalid:
		return "TimestampInvalid"
	case CodeAuthLimitExceeded:
		return "AuthLimitExceeded"
	case CodeInvalidRegID:
		return "InvalidRegId"
	case CodeRequestIDExists:
		return "RequestIdExists"
	}
	return "VivoError"
}
