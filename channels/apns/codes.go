package apns

import "net/http"

// APNs error reasons: the "reason" string of an error answer's JSON body
// (Apple, "Handling error responses from APNs"). The simulator answers with
// the same strings.
const (
	ReasonBadCollapseID               = "BadCollapseId"
	ReasonBadDeviceToken              = "BadDeviceToken"
	ReasonBadExpirationDate           = "BadExpirationDate"
	ReasonBadMessageID                = "BadMessageId"
	ReasonBadPriority                 = "BadPriority"
	ReasonBadTopic                    = "BadTopic"
	ReasonDeviceTokenNotForTopic      = "DeviceTokenNotForTopic"
	ReasonDuplicateHeaders            = "DuplicateHeaders"
	ReasonIdleTimeout                 = "IdleTimeout"
	ReasonInvalidPushType             = "InvalidPushType"
	ReasonMissingDeviceToken          = "MissingDeviceToken"
	ReasonMissingTopic                = "MissingTopic"
	ReasonPayloadEmpty                = "PayloadEmpty"
	ReasonTopicDisallowed             = "TopicDisallowed"
	ReasonBadCertificate              = "BadCertificate"
	ReasonBadCertificateEnvironment   = "BadCertificateEnvironment"
	ReasonExpiredProviderToken        = "ExpiredProviderToken"
	ReasonForbidden                   = "Forbidden"
	ReasonInvalidProviderToken        = "InvalidProviderToken"
	ReasonMissingProviderToken        = "MissingProviderToken"
	ReasonUnrelatedKeyIDInToken       = "UnrelatedKeyIdInToken"
	ReasonBadPath                     = "BadPath"
	ReasonMethodNotAllowed            = "MethodNotAllowed"
	ReasonExpiredToken                = "ExpiredToken"
	ReasonUnregistered                = "Unregistered"
	ReasonPayloadTooLarge             = "PayloadTooLarge"
	ReasonTooManyProviderTokenUpdates = "TooManyProviderTokenUpdates"
	ReasonTooManyRequests             = "TooManyRequests"
	ReasonInternalServerError         = "InternalServerError"
	ReasonServiceUnavailable          = "ServiceUnavailable"
	ReasonShutdown                    = "Shutdown"
)

// Apple status codes of §10.3 of the mPaaS guide ("Apple Push"), as stored
// in events.status_code. 2008 and 2009 are channels.StatusMissingDeviceToken
// and channels.StatusBadDeviceToken.
const (
	StatusPayloadEmpty              = 2001
	StatusPayloadTooLarge           = 2002
	StatusBadTopic                  = 2003
	StatusTopicDisallowed           = 2004
	StatusBadMessageID              = 2005
	StatusBadExpirationDate         = 2006
	StatusBadPriority               = 2007
	StatusDeviceTokenNotForTopic    = 2010
	StatusUnregistered              = 2011
	StatusBadCertificateEnvironment = 2013
	StatusBadCertificate            = 2014
	StatusMissingTopic              = 2023
	StatusConnClosed                = 2024
	StatusConnUnavailable           = 2025
)

// StatusOf returns the §10.3 Apple status code of an APNs reason, or 0 if
// §10.3 lists none for it.
func StatusOf(reason string) int {
	switch reason {
	case ReasonPayloadEmpty:
		return StatusPayloadEmpty
	case ReasonPayloadTooLarge:
		return StatusPayloadTooLarge
	case ReasonBadTopic:
		return StatusBadTopic
	case ReasonTopicDisallowed:
		return StatusTopicDisallowed
	case ReasonBadMessageID:
		return StatusBadMessageID
	case ReasonBadExpirationDate:
		return StatusBadExpirationDate
	case ReasonBadPriority:
		return StatusBadPriority
	case ReasonMissingDeviceToken:
		return 2008
	case ReasonBadDeviceToken:
		return 2009
	case ReasonDeviceTokenNotForTopic:
		return StatusDeviceTokenNotForTopic
	case ReasonUnregistered, ReasonExpiredToken:
		return StatusUnregistered
	case ReasonBadCertificateEnvironment:
		return StatusBadCertificateEnvironment
	case ReasonBadCertificate:
		return StatusBadCertificate
	case ReasonMissingTopic:
		return StatusMissingTopic
	}
	return 0
}

// kind is what an APNs answer means for the message and the app.
type kind int

const (
	// kindOK: accepted for delivery.
	kindOK kind = iota
	// kindInvalidToken: the device token is invalid or no longer active
	// for the topic.
	kindInvalidToken
	// kindMessagePermanent: this request was refused as sent.
	kindMessagePermanent
	// kindCallPermanent: the credentials or the app configuration (topic)
	// were refused; no message of the app can be sent until configuration
	// changes.
	kindCallPermanent
	// kindCallTransient: refused for now (throttled, server trouble).
	kindCallTransient
	// kindExpiredToken: the provider token is stale; sign a new one and
	// retry once.
	kindExpiredToken
)

// classify maps an answer's HTTP status and reason to its kind. Known
// reasons decide; an unknown reason falls back on the HTTP status, and an
// unknown 4xx is a refusal of the message so that an unexpected answer
// cannot cause a retry storm.
func classify(status int, reason string) kind {
	if status/100 == 2 {
		return kindOK
	}
	switch reason {
	case ReasonBadDeviceToken, ReasonUnregistered, ReasonExpiredToken, ReasonDeviceTokenNotForTopic:
		return kindInvalidToken
	case ReasonExpiredProviderToken:
		return kindExpiredToken
	case ReasonBadTopic, ReasonTopicDisallowed, ReasonMissingTopic, ReasonBadCertificate,
		ReasonBadCertificateEnvironment, ReasonForbidden, ReasonInvalidProviderToken,
		ReasonMissingProviderToken, ReasonUnrelatedKeyIDInToken:
		return kindCallPermanent
	case ReasonTooManyRequests, ReasonTooManyProviderTokenUpdates, ReasonIdleTimeout,
		ReasonInternalServerError, ReasonServiceUnavailable, ReasonShutdown:
		return kindCallTransient
	case ReasonPayloadEmpty, ReasonPayloadTooLarge, ReasonBadMessageID, ReasonBadExpirationDate,
		ReasonBadPriority, ReasonMissingDeviceToken, ReasonBadCollapseID, ReasonDuplicateHeaders,
		ReasonInvalidPushType, ReasonBadPath, ReasonMethodNotAllowed:
		return kindMessagePermanent
	}
	switch {
	case status == http.StatusGone:
		return kindInvalidToken
	case status == http.StatusTooManyRequests || status >= 500:
		return kindCallTransient
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return kindCallPermanent
	}
	return kindMessagePermanent
}
