package fcm

// FCM status codes of §10.3 of the mPaaS guide, used as Result.StatusCode
// (a token FCM rejects gets channels.StatusBadDeviceToken like on every
// channel; the FCM name is kept in StatusDesc).
const (
	// StatusInvalidRegistration (90000002, InvalidRegistration): the token
	// is not a valid FCM registration token.
	StatusInvalidRegistration = 90000002
	// StatusNotRegistered (90000003, NotRegistered): the token is
	// unregistered.
	StatusNotRegistered = 90000003
	// StatusInvalidPackageName (90000004, InvalidPackageName).
	StatusInvalidPackageName = 90000004
	// StatusMessageTooBig (90000007, MessageTooBig): the message is over a
	// size limit.
	StatusMessageTooBig = 90000007
	// StatusInvalidTTL (90000009, InvalidTtl).
	StatusInvalidTTL = 90000009
	// StatusInternalServerError (90000011, InternalServerError): FCM
	// service exception.
	StatusInternalServerError = 90000011
	// StatusAuthentication (90000401, Authentication): permission
	// verification failed.
	StatusAuthentication = 90000401
)

// FCM v1 error codes (the errorCode of the
// type.googleapis.com/google.firebase.fcm.v1.FcmError detail), from
// Firebase's ErrorCode reference.
const (
	ErrorCodeUnspecified      = "UNSPECIFIED_ERROR"
	ErrorCodeInvalidArgument  = "INVALID_ARGUMENT"       // HTTP 400
	ErrorCodeUnregistered     = "UNREGISTERED"           // HTTP 404
	ErrorCodeSenderIDMismatch = "SENDER_ID_MISMATCH"     // HTTP 403
	ErrorCodeQuotaExceeded    = "QUOTA_EXCEEDED"         // HTTP 429
	ErrorCodeUnavailable      = "UNAVAILABLE"            // HTTP 503
	ErrorCodeInternal         = "INTERNAL"               // HTTP 500
	ErrorCodeThirdPartyAuth   = "THIRD_PARTY_AUTH_ERROR" // HTTP 401
)

// Google API error statuses (error.status) FCM answers with besides the
// FcmError codes.
const (
	StatusNameUnauthenticated   = "UNAUTHENTICATED"    // HTTP 401: access token refused
	StatusNamePermissionDenied  = "PERMISSION_DENIED"  // HTTP 403
	StatusNameNotFound          = "NOT_FOUND"          // HTTP 404
	StatusNameResourceExhausted = "RESOURCE_EXHAUSTED" // HTTP 429
)

// Detail types of a Google API error.
const (
	DetailTypeFcmError   = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
	DetailTypeBadRequest = "type.googleapis.com/google.rpc.BadRequest"
)

// TokenField is the field a BadRequest violation names for a bad token.
const TokenField = "message.token"
