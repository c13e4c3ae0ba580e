// Package acsign computes the signature of Alibaba Cloud's RPC-style APIs
// (signature version 1.0, HMAC-SHA1): what the Alibaba Cloud SDKs send to
// the gateway's mPaaS API, and what the SMS channel sends to SendSms. All
// functions are pure and safe for concurrent use.
package acsign

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"sort"
	"strings"
)

// SignatureParam is the parameter that carries the signature; it is left
// out of what is signed.
const SignatureParam = "Signature"

// PercentEncode encodes s as the signature does: RFC 3986 over UTF-8
// bytes, every byte but A–Z a–z 0–9 - _ . ~ as %XY with upper-case hex
// digits (a space is %20, '*' is %2A, '~' stays as it is).
func PercentEncode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// CanonicalizedQuery returns the parameters but Signature, sorted by name
// and percent-encoded, as "name=value" pairs joined with "&".
func CanonicalizedQuery(params map[string]string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		if k != SignatureParam {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(PercentEncode(k))
		b.WriteByte('=')
		b.WriteString(PercentEncode(params[k]))
	}
	return b.String()
}

// StringToSign returns Method & PercentEncode(path) &
// PercentEncode(CanonicalizedQuery(params)); an RPC API's path is "/".
func StringToSign(method, path string, params map[string]string) string {
	return method + "&" + PercentEncode(path) + "&" + PercentEncode(CanonicalizedQuery(params))
}

// SignString returns Base64(HMAC-SHA1(secret + "&", stringToSign)).
func SignString(stringToSign, secret string) string {
	h := hmac.New(sha1.New, []byte(secret+"&"))
	h.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
