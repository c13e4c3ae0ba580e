package honor

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Honor Push sendMessage answer codes. Success is 200 (Honor's answer
// {"code":200,"message":"success","data":{...}}); 80000000, the Push Kit
// family's success code, is accepted too. The error codes are those of the
// Push Kit family Honor's API derives from. §10.3 of the mPaaS guide has no
// Honor table, so results carry these codes as they are.
const (
	CodeSuccess            = 200
	CodePushKitSuccess     = 80000000
	CodePartialSuccess     = 80100000 // some tokens failed; the others were accepted
	CodeParameterError     = 80100001
	CodeIllegalPayload     = 80100003
	CodeInvalidTTL         = 80100004
	CodeOAuthError         = 80200001
	CodeOAuthExpired       = 80200003
	CodeNoPermission       = 80300002
	CodeAllTokensInvalid   = 80300007
	CodeMessageTooLarge    = 80300008
	CodeTooManyTokens      = 80300010
	CodeHighLevelForbidden = 80300011
	CodeOAuthServerError   = 80600003
	CodeInternalError      = 81000001
	// CodeFlowControl is the code of a traffic-control answer (HTTP 503).
	CodeFlowControl = 503
)

// kind is what an answer code means for the messages of a call.
type kind int

const (
	// kindOK: accepted; data lists failed and expired tokens.
	kindOK kind = iota
	// kindAllInvalid: every token of the call is invalid.
	kindAllInvalid
	// kindAuthToken: the access token was refused; fetch a new one once.
	kindAuthToken
	// kindCallTransient: refused for now; retry every message.
	kindCallTransient
	// kindCallPermanent: the app lacks a permission; nothing of this kind
	// can be sent until configuration changes.
	kindCallPermanent
	// kindMessagePermanent: the content was refused.
	kindMessagePermanent
)

// classify maps an answer code to its kind. Unknown codes are a refusal of
// the content (kindMessagePermanent) so that an unexpected answer cannot
// cause a retry storm; the code is kept in the result.
func classify(code int) kind {
	switch code {
	case CodeSuccess, CodePushKitSuccess, CodePartialSuccess:
		return kindOK
	case CodeAllTokensInvalid:
		return kindAllInvalid
	case CodeOAuthError, CodeOAuthExpired:
		return kindAuthToken
	case CodeFlowControl, CodeInternalError, CodeOAuthServerError:
		return kindCallTransient
	case CodeNoPermission, CodeHighLevelForbidden:
		return kindCallPermanent
	}
	return kindMessagePermanent
}

func codeName(code int) string {
	switch code {
	case CodeSuccess, CodePushKitSuccess:
		return "Success"
	case CodePartialSuccess:
		return "PartialSuccess"
	case CodeParameterError:
		return "ParameterError"
	case CodeIllegalPayload:
		return "IllegalPayload"
	case CodeInvalidTTL:
		return "InvalidTTL"
	case CodeOAuthError:
		return "OAuthAuthenticationError"
	case CodeOAuthExpired:
		return "OAuthTokenExpired"
	case CodeNoPermission:
		return "NoPermission"
	case CodeAllTokensInvalid:
		return "AllTokensInvalid"
	case CodeMessageTooLarge:
		return "MessageTooLarge"
	case CodeTooManyTokens:
		return "TooManyTokens"
	case CodeHighLevelForbidden:
		return "HighLevelNotificationForbidden"
	case CodeInternalError:
		return "InternalError"
	case CodeFlowControl:
		return "FlowControl"
	}
	return "HonorError"
}

// flexCode is an answer code sent as a JSON number or string.
type flexCode int

// UnmarshalJSON reads 200 or "80000000".
func (c *flexCode) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(bytes.TrimSpace(b), `"`)
	if len(b) == 0 || string(b) == "null" {
		*c = 0
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return &json.UnsupportedValueError{Str: string(b)}
	}
	*c = flexCode(n)
	return nil
}
