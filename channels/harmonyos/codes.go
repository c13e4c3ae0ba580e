package harmonyos

// Push Kit answer codes of the v3 scenario-based API (the "code" string of
// every answer; push-scenariozed-api-response of Huawei's reference).
// Results of content refusals carry the code as StatusCode.
const (
	CodeSuccess = 80000000
	// CodePartialSuccess: some tokens were refused; msg lists them (see
	// illegalTokens).
	CodePartialSuccess   = 80100000
	CodeParameterError   = 80100001
	CodeIllegalPayload   = 80100003
	CodeIllegalExpire    = 80100004 // the ttl ends before now
	CodeImageNotVerified = 80100022 // an image without Huawei's risk check
	CodeAuthError        = 80200001 // JWT missing, of another project, or not v3
	CodeJWTExpired       = 80200005
	CodeNoPermission     = 80300002 // push service not enabled for the project
	CodeAllTokensInvalid = 80300007
	CodeBodyTooLarge     = 80300008 // over 4096 bytes, tokens excluded
	CodeTooManyTokens    = 80300010
	// CodeTestMessageThrottled: the project sent test messages too fast
	// or its 1000 of the day.
	CodeTestMessageThrottled = 80300029
	CodeTestMessageTooMany   = 80300030 // a test message to more than 10 tokens
	CodeJWTLifetimeTooLong   = 80300036
	CodePenalty              = 80300037 // the app is punished for a violation
	CodeInternalError        = 81000001
)

// kind is what an answer code means for the call.
type kind int

const (
	// kindOK: every token accepted.
	kindOK kind = iota
	// kindPartial: the tokens msg lists were refused.
	kindPartial
	// kindAllInvalid: every token was refused.
	kindAllInvalid
	// kindAuth: the JWT was refused; sign a new one and retry once.
	kindAuth
	// kindCallTransient: refused for now (Huawei-side failure, test
	// message throttling); retry every message.
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
	case CodeAuthError, CodeJWTExpired:
		return kindAuth
	case CodeInternalError, CodeTestMessageThrottled:
		return kindCallTransient
	case CodeNoPermission, CodeJWTLifetimeTooLong, CodePenalty:
		return kindCallPermanent
	}
	return kindMessagePermanent
}

// Reasons Push Kit gives for refusing a token (80100000 and 80300007).
// Only the first three say that the token itself is dead; the others
// refuse the app or the message for that device, and the token stays
// usable.
const (
	ReasonTokenFormatError        = "tokenFormatError"
	ReasonNoRight                 = "noRight" // the token belongs to another project, or predates HarmonyOS NEXT
	ReasonTokenPlatformNotSupport = "tokenPlatformNotSupport"
)

// deadTokenReason reports whether a refusal reason means the token is
// dead (InvalidToken) rather than a refusal of this message (Permanent).
// A token listed without a reason counts as dead.
func deadTokenReason(reason string) bool {
	switch reason {
	case "", ReasonTokenFormatError, ReasonNoRight, ReasonTokenPlatformNotSupport:
		return true
	}
	return false
}
