package mipush

// MiPush server API error codes (the "code" field of every answer), from
// Xiaomi's server error code reference and the ErrorCode class of its Java
// server SDK. The simulator answers with the same codes.
const (
	CodeSuccess                      = 0
	CodeInternalError                = 1
	CodeSystemError                  = 10001
	CodeServiceUnavailable           = 10002
	CodeRemoteServiceError           = 10003
	CodeIPLimit                      = 10004
	CodePermissionDenied             = 10005
	CodeMissAppKey                   = 10006
	CodeParameterError               = 10008
	CodeSystemIsBusy                 = 10009
	CodeJobExpired                   = 10010
	CodeRPCError                     = 10011
	CodeIllegalRequest               = 10012
	CodeInvalidUser                  = 10013
	CodeInsufficientPermissions      = 10014
	CodeMissRequiredParameter        = 10016
	CodeInvalidParameterValue        = 10017
	CodeRequestBodyTooLong           = 10018
	CodeRequestAPINotFound           = 10020
	CodeHTTPMethodUnsupported        = 10021
	CodeIPRequestExceedQuota         = 10022
	CodeUserRequestExceedQuota       = 10023
	CodeUserRequestAPIExceedQuota    = 10024
	CodeInvalidCallbackURL           = 10025
	CodeApplicationInBlacklist       = 10026
	CodeApplicationAPICallTooOften   = 10027
	CodeApplicationTotalCallTooOften = 10028
	CodeSendBlacklisted              = 10031
	CodeDailyMessagesExceeded        = 10034
	CodeOperationForbidden           = 10036
	CodeRequestExpired               = 10037
	CodeSendMessageFailed            = 20301 // reason "No valid targets!"
	CodeAuthenticationFailed         = 21301 // reason "Invalid application secret."
	CodeTokenAuthenticationFailed    = 21302
	CodeRestrictedRequest            = 21303
	CodeIllegalApplication           = 22000
	CodeApplicationNotExists         = 22001
	CodeApplicationRevoked           = 22002
	CodeInvalidApplicationID         = 22006
	CodeInvalidApplicationKey        = 22007
	CodeInvalidApplicationSecret     = 22008
	CodeInvalidPackageName           = 22022
	CodePushInternalCallFailed       = 26003
	CodeBroadcastTooOften            = 26004
	CodeChannelMismatch              = 27001
	CodeMessageTooLong               = 65009
	CodeParameterNotProvided         = 65011 // reason "Title or Description is empty!"
	CodeTooManyKeyValues             = 65014
	CodeKeyValuesTooLong             = 65015
	CodeRemoteServiceException       = 65029
	CodeCallbackParamTooLong         = 65036
	CodeCallbackURLTooLong           = 65037
	CodeCallbackURLIllegal           = 65038
)

// kind is what an answer code means for the batch.
type kind int

const (
	// kindOK: accepted; data.bad_regids lists rejected targets.
	kindOK kind = iota
	// kindNoValidTargets: every target of the call was rejected.
	kindNoValidTargets
	// kindCallTransient: the call was refused for now (busy, throttled,
	// vendor-side failure); retry every message.
	kindCallTransient
	// kindCallPermanent: the credentials or app configuration were
	// refused; no message of this app can be sent until configuration
	// changes.
	kindCallPermanent
	// kindMessagePermanent: the content of the call was refused; its
	// messages fail.
	kindMessagePermanent
)

// classify maps an answer code to its kind. Unknown codes are treated as a
// rejection of the content (kindMessagePermanent) so that an unexpected
// answer cannot cause a retry storm; the code is kept in the result.
func classify(code int) kind {
	switch code {
	case CodeSuccess:
		return kindOK
	case CodeSendMessageFailed:
		return kindNoValidTargets
	case CodeInternalError, CodeSystemError, CodeServiceUnavailable, CodeRemoteServiceError,
		CodeSystemIsBusy, CodeJobExpired, CodeRPCError,
		CodeIPRequestExceedQuota, CodeUserRequestExceedQuota, CodeUserRequestAPIExceedQuota,
		CodeApplicationAPICallTooOften, CodeApplicationTotalCallTooOften, CodeDailyMessagesExceeded,
		CodeRequestExpired, CodePushInternalCallFailed, CodeBroadcastTooOften, CodeRemoteServiceException:
		return kindCallTransient
	case CodeIPLimit, CodePermissionDenied, CodeMissAppKey, CodeIllegalRequest, CodeInvalidUser,
		CodeInsufficientPermissions, CodeRequestAPINotFound, CodeHTTPMethodUnsupported,
		CodeApplicationInBlacklist, CodeSendBlacklisted, CodeOperationForbidden,
		CodeAuthenticationFailed, CodeTokenAuthenticationFailed, CodeRestrictedRequest,
		CodeIllegalApplication, CodeApplicationNotExists, CodeApplicationRevoked,
		CodeInvalidApplicationID, CodeInvalidApplicationKey, CodeInvalidApplicationSecret,
		CodeInvalidPackageName:
		return kindCallPermanent
	}
	return kindMessagePermanent
}

// ThrottleCodes returns the codes of a whole-call error that mean "you are
// sending too fast" (quotas and call-frequency limits) rather than "the
// endpoint is unwell": a circuit breaker leaves them out of its counts. A
// new slice on every call.
func ThrottleCodes() []int {
	return []int{CodeIPRequestExceedQuota, CodeUserRequestExceedQuota, CodeUserRequestAPIExceedQuota,
		CodeApplicationAPICallTooOften, CodeApplicationTotalCallTooOften, CodeDailyMessagesExceeded,
		CodeBroadcastTooOften}
}
