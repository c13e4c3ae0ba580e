package hms

// Push Kit answer codes (the "code" of every messages:send answer, a string
// of digits), from Huawei's server API reference, its server SDKs and §10.3
// of the mPaaS guide. Results of content refusals carry the code as
// StatusCode (§10.3 lists Huawei's own numbers).
const (
	CodeSuccess               = 80000000
	CodePartialSuccess        = 80100000 // msg: {"success":n,"failure":m,"illegal_tokens":[...]}
	CodeParameterError        = 80100001
	CodeIllegalTokenList      = 80100002
	CodeIllegalPayload        = 80100003
	CodeInvalidTTL            = 80100004
	CodeInvalidCollapseKey    = 80100013
	CodeSensitiveContent      = 80100016
	CodeTooManyTopicTasks     = 80100017
	CodeSignatureVerification = 80100018
	CodeOAuthError            = 80200001
	CodeOAuthTokenExpired     = 80200003
	CodeNoPermission          = 80300002
	CodeAllTokensInvalid      = 80300007
	CodeBodyTooLarge          = 80300008
	CodeTooManyTokens         = 80300010
	CodeNoHighLevelPermission = 80300011
	CodeOAuthServiceFailed    = 80600003
	CodeInternalError         = 81000001
)

// kind is what an answer code means for the call.
type kind int

const (
	// kindOK: every token accepted.
	kindOK kind = iota
	// kindPartial: the tokens in msg's illegal_tokens were refused.
	kindPartial
	// kindAllInvalid: every token was refused.
	kindAllInvalid
	// kindAuth: the access token was refused; refresh it and retry once.
	kindAuth
	// kindCallTransient: refused for now (Huawei-side failure); retry
	// every message.
	kindCallTransient
	// kindCallPermanent: the app may not send; no message of this app can
	// be sent until its configuration changes.
	kindCallPermanent
	// kindMessagePermanent: the content was refused; its messages fail.
	kindMessagePermanent
)

// classify maps an answer code to its kind. Unknown codes are a refusal of
// the content so that an unexpected answer cannot cause a retry storm; the
// code is kept in the result.
func classify(code int) kind {
	switch code {
	case CodeSuccess:
		return kindOK
	case CodePartialSuccess:
		return kindPartial
	case CodeAllTokensInvalid:
		return kindAllInvalid
	case CodeOAuthError, CodeOAuthTokenExpired:
		return kindAuth
	case CodeInternalError, CodeOAuthServiceFailed:
		return kindCallTransient
	case CodeNoPermission:
		return kindCallPermanent
	}
	return kindMessagePermanent
}
