package schema

import "fmt"

// ResultCode is an mPaaS API result code (§7.2.12 of the mPaaS MPS guide).
// Validation failures carry one; rejected events store it as status_code.
type ResultCode int

// Result codes used by request validation, with the numbers and names the
// mPaaS server API documents.
const (
	CodeSuccess                    ResultCode = 100
	CodeSignatureMismatch          ResultCode = -1
	CodeNeedAppIDWorkspaceID       ResultCode = 3003
	CodeAppIDWrong                 ResultCode = 3007
	CodeOSTypeNotSupported         ResultCode = 3008
	CodeDeliveryTypeUnsupported    ResultCode = 3009
	CodeTaskNameNull               ResultCode = 3019
	CodeExpiredSecondsWrong        ResultCode = 3020
	CodeTokenOrUserIDNull          ResultCode = 3021
	CodeTemplateNotExist           ResultCode = 3022
	CodeTemplateKVNotEnough        ResultCode = 3023
	CodePayloadNotEnough           ResultCode = 3024
	CodeNeedTemplate               ResultCode = 3025
	CodeExpiredTimeTooLong         ResultCode = 3026
	CodeInvalidParam               ResultCode = 3028
	CodeSinglePushTargetTooMuch    ResultCode = 3029
	CodeBroadcastOnlyByDevice      ResultCode = 3030
	CodeRequestShouldBeUTF8        ResultCode = 3031
	CodeExtendParamTooMuch         ResultCode = 3035
	CodeSinglePushContentTooLong   ResultCode = 3043
	CodeInvalidExtendParam         ResultCode = 3044
	CodeMultipleInnerExtendTooMuch ResultCode = 3049
	CodeMsgPayloadTooLong          ResultCode = 3050
	CodeMultipleTargetTooMuch      ResultCode = 3055
	CodeSystemError                ResultCode = 9000
)

var resultNames = map[ResultCode]string{
	CodeSuccess:                      "SUCCESS",
	CodeApprovalRejected:             "APPROVAL_REJECTED",
	CodeApprovalExpired:              "APPROVAL_EXPIRED",
	CodeSignatureMismatch:            "SIGNATURE_MISMATCH",
	CodeNeedAppIDWorkspaceID:         "NEED_APPID_WORKSPACEID",
	CodeAppIDWrong:                   "APPID_WRONG",
	CodeOSTypeNotSupported:           "OS_TYPE_NOT_SUPPORTED",
	CodeDeliveryTypeUnsupported:      "DELIVERY_TYPE_NOT_SUPPORTED",
	CodeTaskNameNull:                 "TASKNAME_NULL",
	CodeExpiredSecondsWrong:          "EXPIREDSECONDS_WRONG",
	CodeTokenOrUserIDNull:            "TOKEN_OR_USERID_NULL",
	CodeTemplateNotExist:             "TEMPLATE_NOT_EXIST",
	CodeTemplateKVNotEnough:          "TEMPLATEKV_NOT_ENOUGH",
	CodePayloadNotEnough:             "PAYLOAD_NOT_ENOUGH",
	CodeNeedTemplate:                 "NEED_TEMPLATE",
	CodeExpiredTimeTooLong:           "EXPIREDTIME_TOO_LONG",
	CodeInvalidParam:                 "INVALID_PARAM",
	CodeSinglePushTargetTooMuch:      "SINGLE_PUSH_TARGET_TOO MUCH",
	CodeBroadcastOnlyByDevice:        "BROADCAST_ONLY_SUPPORT_BY_DEVICE",
	CodeRequestShouldBeUTF8:          "REQUEST_SHOULD_BE_UTF8",
	CodeExtendParamTooMuch:           "EXTEND_PARAM_TO MUCH",
	CodeNeedUserID:                   "NEED_USERID",
	CodeTemplateAlreadyExist:         "TEMPLATE_ALREADY_EXIST",
	CodeTemplateNameNull:             "TEMPLATE_NAME_NULL",
	CodeTemplateNameInvalid:          "TEMPLATE_NAME_INVALID",
	CodeTemplateContentInvalid:       "TEMPLATE_CONTENT_INVALID",
	CodeTemplateTitleInvalid:         "TEMPLATE_TITLE_INVALID",
	CodeSinglePushContentTooLong:     "SINGLE_PUSH_CONTENT_TOO_LONG",
	CodeInvalidExtendParam:           "INVALID_EXTEND_PARAM",
	CodeMultipleInnerExtendTooMuch:   "MULTIPLE_INNER_EXTEND_PARAM_TO MUCH",
	CodeMsgPayloadTooLong:            "MSG_PAYLOAD_TOO_LONG",
	CodeBroadcastNeedUnbindPeriod:    "BROADCAST_ALL_USER_NEED_UNBIND_PERIOD",
	CodeBroadcastUnbindPeriodInvalid: "BROADCAST_ALL_USER_UNBIND_PERIOD_INVALID",
	CodeBroadcastNoSelfChannel:       "BROADCAST_ALL_USER_NOT_SUPPORT_SELFCHANNEL_ANDROID",
	CodeMultipleTargetTooMuch:        "MULTIPLE_TARGET_NUMBER_TOO MUCH",
	CodeAndroidChannelInvalid:        "ANDROID_CHANNEL_PARAM_INVALID",
	CodeBroadcastTimeRangeInvalid:    "BROADCAST_ALL_USER_TIME_RANGE_INVALID",
	CodeTemplateDescInvalid:          "TEMPLATE_DESC_INFO_INVALID",
	CodeTemplateURIInvalid:           "TEMPLATE_URI_INVALID",
	CodeTemplateNumTooMuch:           "TEMPLATE_NUM_TOO MUCH",
	CodeBadgeAddNumInvalid:           "BADGE_ADD_NUM_INVALID",
	CodeBadgeAddNumNeedClass:         "BADGE_ADD_NUM_NEED_BADGE_CLASS",
	CodeSystemError:                  "SYSTEM_ERROR",
	CodeNeedDeliveryToken:            "NEED_DELIVERYTOKEN",
	CodeDeliveryTokenInvalid:         "DELIVERYTOKEN_INVALID",
	CodeUnknownRestSignType:          "UNKNOWN_REST_SIGN_TYPE",
	CodeAccountNoPermission:          "ACCOUNT_NO_PERMISSION",
	CodeRestAPISwitchNotOpen:         "REST_API_SWITCH_NOT_OPEN",
}

// Name is the documented result message, e.g. "TASKNAME_NULL".
func (c ResultCode) Name() string {
	if n, ok := resultNames[c]; ok {
		return n
	}
	return fmt.Sprintf("RESULT_%d", int(c))
}

// ValidationError is a request that cannot be served as sent. Code is the
// mPaaS result code; Detail says what to fix. Use errors.As to get it.
type ValidationError struct {
	Code   ResultCode
	Detail string
}

// Error formats as "3019 TASKNAME_NULL: taskName is empty".
func (e *ValidationError) Error() string {
	return fmt.Sprintf("%d %s: %s", int(e.Code), e.Code.Name(), e.Detail)
}

func invalid(code ResultCode, format string, args ...any) *ValidationError {
	return &ValidationError{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Status codes of delivery outcomes (§10.3, common codes). Vendor-specific
// codes are passed through as the vendor reports them.
const (
	StatusWaitingForVerify            int64 = -1
	StatusDeviceNotOnlineOrNoResponse int64 = 0
	StatusNoBindInfo                  int64 = 1
	StatusAcked                       int64 = 2
	StatusBadDeviceToken              int64 = 2009
	StatusNone                        int64 = 99999999
)

// Result codes of templates and broadcasts.
const (
	CodeNeedUserID                   ResultCode = 3012
	CodeTemplateAlreadyExist         ResultCode = 3036
	CodeTemplateNameNull             ResultCode = 3037
	CodeTemplateNameInvalid          ResultCode = 3038
	CodeTemplateContentInvalid       ResultCode = 3039
	CodeTemplateTitleInvalid         ResultCode = 3040
	CodeBroadcastNeedUnbindPeriod    ResultCode = 3051
	CodeBroadcastUnbindPeriodInvalid ResultCode = 3052
	CodeBroadcastNoSelfChannel       ResultCode = 3053
	CodeAndroidChannelInvalid        ResultCode = 3057
	CodeBroadcastTimeRangeInvalid    ResultCode = 8018
	CodeTemplateDescInvalid          ResultCode = 3041
	CodeTemplateURIInvalid           ResultCode = 3042
	CodeTemplateNumTooMuch           ResultCode = 3056
)

// Result codes of the extended parameters badge and badge_add_num
// (§7.2.11).
const (
	CodeBadgeAddNumInvalid   ResultCode = 3058
	CodeBadgeAddNumNeedClass ResultCode = 3059
)

// Result codes of the HTTP gateway's client APIs and request signatures.
const (
	CodeNeedDeliveryToken ResultCode = 3001
	// CodeDeliveryTokenInvalid: the self-built channel does not know the
	// token (its answer for a dead token).
	CodeDeliveryTokenInvalid ResultCode = 3054
	CodeUnknownRestSignType  ResultCode = 3033
	// CodeAccountNoPermission: the key that signed the call does not
	// belong to the app and workspace the call names.
	CodeAccountNoPermission ResultCode = 8014
	// CodeRestAPISwitchNotOpen: the app's push API is closed by its
	// operator.
	CodeRestAPISwitchNotOpen ResultCode = 3032
)
