package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// Signing a /v1 JSON route: the AccessKey and signature of the RPC API
// (see accesskey.go), with the request's body bound by its digest. The
// caller sends, in the query string,
//
//	AccessKeyId, SignatureMethod=HMAC-SHA1, SignatureVersion=1.0,
//	SignatureNonce (random, new for every request), Timestamp (UTC,
//	2006-01-02T15:04:05Z) and Signature
//
// where Signature is SignString(StringToSign("POST", path, p), secret)
// and p is those parameters (without Signature) plus BodySHA256, the
// lowercase hex SHA-256 of the exact body bytes, which is not sent. path
// is the route as requested, unescaped (/v1/tasks/t0123). SignJSONRequest
// implements the caller's side; the query string carries nothing else.

// jsonRouteParams are the query parameters a /v1 route reads.
var jsonRouteParams = map[string]bool{ParamAccessKeyID: true, ParamSignature: true, ParamSignatureMethod: true,
	ParamSignatureVersion: true, ParamSignatureNonce: true, ParamTimestamp: true}

// BodyDigest returns the BodySHA256 of body: its SHA-256 in lowercase hex.
func BodyDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// JSONRouteQuery returns the signed query string of a POST of body to
// the /v1 route path with key at now (a fresh nonce each call).
func JSONRouteQuery(path string, key AccessKey, body []byte, now time.Time) string {
	params := map[string]string{ParamBodySHA256: BodyDigest(body)}
	SignParams(params, http.MethodPost, path, key, now)
	delete(params, ParamBodySHA256)
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	return q.Encode()
}

// SignJSONRequest signs r, a POST of body (exactly the bytes r sends) to a
// /v1 route, with key at now: it replaces r's query string with the
// signature parameters.
func SignJSONRequest(r *http.Request, key AccessKey, body []byte, now time.Time) {
	r.URL.RawQuery = JSONRouteQuery(r.URL.Path, key, body, now)
}

// authenticate checks the signature of a /v1 request over its query and
// body and returns what its AccessKey may do.
func (s *Server) authenticate(r *http.Request, body []byte, now time.Time) (*grant, *reply) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		rep := refuse(http.StatusBadRequest, schema.CodeInvalidParam, "the query string does not parse: "+err.Error())
		return nil, &rep
	}
	params := make(map[string]string, len(q)+1)
	for k, vs := range q {
		switch {
		case !jsonRouteParams[k]:
			rep := refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("the query parameter %s is not read by the /v1 routes, whose query carries the signature only (%s); send the request's fields in the JSON body", k, signingHint))
			return nil, &rep
		case len(vs) > 1:
			rep := refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("the query parameter %s is given %d times", k, len(vs)))
			return nil, &rep
		}
		params[k] = vs[0]
	}
	params[ParamBodySHA256] = BodyDigest(body)
	g, ae := s.verify(http.MethodPost, r.URL.Path, params, now)
	if ae == nil {
		return g, nil
	}
	var rep reply
	switch ae.why {
	case authMethod:
		rep = refuse(http.StatusUnauthorized, schema.CodeUnknownRestSignType, ae.msg)
	case authNoncesFull:
		rep = reply{status: http.StatusServiceUnavailable, code: schema.CodeSystemError, msg: ae.msg}
	case authSignature:
		rep = refuse(http.StatusUnauthorized, schema.CodeSignatureMismatch, fmt.Sprintf("%s: the gateway signed %q (the query's parameters and BodySHA256 %s of the body received)",
			ae.msg, ae.sts, params[ParamBodySHA256]))
	default:
		rep = refuse(http.StatusUnauthorized, schema.CodeSignatureMismatch, ae.msg)
	}
	return nil, &rep
}
