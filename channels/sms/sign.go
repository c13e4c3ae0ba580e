package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
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

// PercentEncode is the encoding of Alibaba Cloud's RPC signature:
// RFC 3986, UTF-8, every byte but A-Z a-z 0-9 - _ . ~ as %XX with upper
// case hex (so a space is %20, * is %2A and ~ stays ~).
func PercentEncode(s string) string {
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// StringToSign returns the string an RPC call of method with params is
// signed over: method, "&%2F&" and the percent-encoded canonicalized
// query (the parameters but Signature sorted by name, each
// encode(name)=encode(value), joined by &).
func StringToSign(method string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = PercentEncode(k) + "=" + PercentEncode(params.Get(k))
	}
	return method + "&" + PercentEncode("/") + "&" + PercentEncode(strings.Join(pairs, "&"))
}

// Sign returns the Signature of an RPC call: Base64 of the HMAC-SHA1 of
// StringToSign keyed with the AccessKey secret followed by "&".
func Sign(method string, params url.Values, accessKeySecret string) string {
	mac := hmac.New(sha1.New, []byte(accessKeySecret+"&"))
	mac.Write([]byte(StringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
