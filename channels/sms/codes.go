package sms

import "time"

// Alibaba Cloud SMS answer codes (the "Code" of every answer), from the
// SendSms reference and the SMS API error code list, and the gateway codes
// every RPC API shares. The simulator answers with the same codes.
const (
	CodeOK = "OK"

	// Per phone number.
	CodeMobileNumberIllegal       = "isv.MOBILE_NUMBER_ILLEGAL"
	CodeBusinessLimitControl      = "isv.BUSINESS_LIMIT_CONTROL"
	CodeDomesticNumberUnsupported = "isv.DOMESTIC_NUMBER_NOT_SUPPORTED"

	// Per content (sign, template, parameters).
	CodeSignatureIllegal          = "isv.SMS_SIGNATURE_ILLEGAL"
	CodeSignIllegal               = "isv.SMS_SIGN_ILLEGAL"
	CodeSignatureSceneIllegal     = "isv.SMS_SIGNATURE_SCENE_ILLEGAL"
	CodeTemplateIllegal           = "isv.SMS_TEMPLATE_ILLEGAL"
	CodeTemplateMissingParameters = "isv.TEMPLATE_MISSING_PARAMETERS"
	CodeTemplateParamsIllegal     = "isv.TEMPLATE_PARAMS_ILLEGAL"
	CodeInvalidJSONParam          = "isv.INVALID_JSON_PARAM"
	CodeParamLengthLimit          = "isv.PARAM_LENGTH_LIMIT"
	CodeParamNotSupportURL        = "isv.PARAM_NOT_SUPPORT_URL"
	CodeContentIllegal            = "isv.SMS_CONTENT_ILLEGAL"
	CodeBlackKeyControlLimit      = "isv.BLACK_KEY_CONTROL_LIMIT"
	CodeInvalidParameters         = "isv.INVALID_PARAMETERS"
	CodeMobileCountOverLimit      = "isv.MOBILE_COUNT_OVER_LIMIT"

	// Per account: no message of the app can be sent until someone acts.
	CodeAmountNotEnough     = "isv.AMOUNT_NOT_ENOUGH"
	CodeOutOfService        = "isv.OUT_OF_SERVICE"
	CodeProductUnsubscribed = "isv.PRODUCT_UN_SUBSCRIPT"
	CodeProductUnsubscribe  = "isv.PRODUCT_UNSUBSCRIBE"
	CodeAccountNotExists    = "isv.ACCOUNT_NOT_EXISTS"
	CodeAccountAbnormal     = "isv.ACCOUNT_ABNORMAL"
	CodeDenyIPRange         = "isv.DENY_IP_RANGE"
	CodeRAMPermissionDeny   = "isp.RAM_PERMISSION_DENY"

	// Account-wide quotas: the call can succeed later.
	CodeDayLimitControl   = "isv.DAY_LIMIT_CONTROL"
	CodeMonthLimitControl = "isv.MONTH_LIMIT_CONTROL"

	// Vendor-side failures.
	CodeSystemError  = "isp.SYSTEM_ERROR"
	CodeGatewayError = "isp.GATEWAY_ERROR"

	// Gateway (every RPC API).
	CodeSignatureDoesNotMatch   = "SignatureDoesNotMatch"
	CodeAccessKeyNotFound       = "InvalidAccessKeyId.NotFound"
	CodeAccessKeyInactive       = "InvalidAccessKeyId.Inactive"
	CodeSignatureNonceUsed      = "SignatureNonceUsed"
	CodeTimestampExpired        = "InvalidTimeStamp.Expired"
	CodeTimestampFormat         = "InvalidTimeStamp.Format"
	CodeMissingParameter        = "MissingParameter"
	CodeIncompleteSignature     = "IncompleteSignature"
	CodeUnsupportedSignature    = "InvalidSignatureMethod"
	CodeInvalidVersion          = "InvalidVersion"
	CodeInvalidAction           = "InvalidAction.NotFound"
	CodeThrottlingUser          = "Throttling.User"
	CodeThrottling              = "Throttling"
	CodeServiceUnavailable      = "ServiceUnavailable"
	CodeInternalError           = "InternalError"
	CodeMissingPhoneNumbers     = "MissingPhoneNumbers"
	CodeMissingSignName         = "MissingSignName"
	CodeMissingTemplateCode     = "MissingTemplateCode"
	CodeUnsupportedHTTPMethod   = "UnsupportedHTTPMethod"
	CodeInvalidFormat           = "InvalidParameter.Format"
	CodeSignatureVersionInvalid = "InvalidSignatureVersion"
)

// kind is what an answer code means for the numbers of the call.
type kind int

const (
	// kindOK: every number of the call was accepted.
	kindOK kind = iota
	// kindNumber: one number of the call was refused (illegal, or over
	// its flow control); a call of one number settles that number, a call
	// of several is sent again number by number to find it.
	kindNumber
	// kindContent: the sign, template or parameters were refused; every
	// number of the call fails.
	kindContent
	// kindCallTransient: the call was refused for now (vendor failure,
	// throttling, account quota); retry every number.
	kindCallTransient
	// kindCallPermanent: the credentials or the account were refused; no
	// message of the app can be sent until the configuration changes.
	kindCallPermanent
)

// classify maps an answer code to its kind. An unknown code is taken as a
// refusal of the content (kindContent), so that an unexpected answer
// cannot cause a retry storm; the code is kept in the result.
func classify(code string) kind {
	switch code {
	case CodeOK:
		return kindOK
	case CodeMobileNumberIllegal, CodeBusinessLimitControl, CodeDomesticNumberUnsupported:
		return kindNumber
	case CodeSystemError, CodeGatewayError, CodeThrottlingUser, CodeThrottling, CodeServiceUnavailable,
		CodeInternalError, CodeSignatureNonceUsed, CodeDayLimitControl, CodeMonthLimitControl:
		return kindCallTransient
	case CodeAmountNotEnough, CodeOutOfService, CodeProductUnsubscribed, CodeProductUnsubscribe, CodeAccountNotExists,
		CodeAccountAbnormal, CodeDenyIPRange, CodeRAMPermissionDeny, CodeSignatureDoesNotMatch, CodeAccessKeyNotFound,
		CodeAccessKeyInactive, CodeTimestampExpired, CodeTimestampFormat, CodeMissingParameter, CodeIncompleteSignature,
		CodeUnsupportedSignature, CodeInvalidVersion, CodeInvalidAction, CodeUnsupportedHTTPMethod, CodeSignatureVersionInvalid:
		return kindCallPermanent
	}
	return kindContent
}

// Retry delays of transient answers: a number over its flow control is
// tried again after a minute (Alibaba Cloud's shortest flow-control
// window), an account over its daily or monthly quota after an hour.
const (
	numberLimitRetry  = time.Minute
	accountLimitRetry = time.Hour
)

// retryAfter is the delay a transient answer code asks for; 0 leaves it
// to the sender's backoff.
func retryAfter(code string) time.Duration {
	switch code {
	case CodeBusinessLimitControl:
		return numberLimitRetry
	case CodeDayLimitControl, CodeMonthLimitControl:
		return accountLimitRetry
	}
	return 0
}
