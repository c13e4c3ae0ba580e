package sms

import (
	"net/url"

	"github.com/pushpipe/pushpipe/internal/acsign"
)

// Fixed common parameters of every call: Alibaba Cloud's RPC style with
// signature version 1.0.
const (
	Action           = "SendSms"
	Version          = "2017-05-25"
	Format           = "JSON"
	SignatureMethod  = "HMAC-SHA1"
	SignatureVersion = "1.0"
	// TimestampLayout is the Timestamp format: ISO 8601 in UTC.
	TimestampLayout = "2006-01-02T15:04:05Z"
)

// PercentEncode is the encoding of Alibaba Cloud's RPC signature (see
// acsign.PercentEncode).
func PercentEncode(s string) string { return acsign.PercentEncode(s) }

// StringToSign returns the string an RPC call of method with params is
// signed over (acsign.StringToSign with path "/").
func StringToSign(method string, params url.Values) string {
	return acsign.StringToSign(method, "/", single(params))
}

// Sign returns the Signature of an RPC call: Base64 of the HMAC-SHA1 of
// StringToSign keyed with the AccessKey secret followed by "&".
func Sign(method string, params url.Values, accessKeySecret string) string {
	return acsign.SignString(StringToSign(method, params), accessKeySecret)
}

// single returns the first value of each parameter.
func single(params url.Values) map[string]string {
	out := make(map[string]string, len(params))
	for k := range params {
		out[k] = params.Get(k)
	}
	return out
}
