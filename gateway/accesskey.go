package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/internal/acsign"
)

// AccessKeys and the Alibaba Cloud RPC signature (signature method
// HMAC-SHA1, signature version 1.0), which is how the official Alibaba
// Cloud SDKs sign every mPaaS call. One model for the whole gateway: an
// app's callers hold an AccessKey pair (id and secret); the gateway holds
// the same pairs (gateway.appKeys[].accessKeys) and verifies
//
//	Signature = Base64(HMAC-SHA1(secret + "&", StringToSign))
//	StringToSign = Method + "&" + PercentEncode(Path) + "&" + PercentEncode(CanonicalizedQuery)
//
// where CanonicalizedQuery is every parameter but Signature, sorted by
// name, each "PercentEncode(name)=PercentEncode(value)", joined with "&".
// The RPC API (path "/") signs its query and form parameters, exactly as
// the SDKs do; a /v1 JSON route signs the common parameters of its query
// string plus BodySHA256, the hex SHA-256 of the exact body, with the
// route's path. A request is refused when its Timestamp is more than
// Config.MaxClockSkew from the gateway's clock, and when its
// SignatureNonce was used by the same AccessKey within that window.

// Common parameters of a signed request.
const (
	ParamAction           = "Action"
	ParamVersion          = "Version"
	ParamFormat           = "Format"
	ParamAccessKeyID      = "AccessKeyId"
	ParamSignature        = "Signature"
	ParamSignatureMethod  = "SignatureMethod"
	ParamSignatureVersion = "SignatureVersion"
	ParamSignatureNonce   = "SignatureNonce"
	ParamSignatureType    = "SignatureType"
	ParamTimestamp        = "Timestamp"
	ParamRegionID         = "RegionId"
	// ParamBodySHA256 is the parameter a /v1 JSON route signs in place of
	// its body: the lowercase hex SHA-256 of the exact body bytes. The
	// caller does not send it; the gateway computes it from the body.
	ParamBodySHA256 = "BodySHA256"
)

// The one signature method and version accepted, and the format of
// Timestamp (ISO 8601, UTC, seconds).
const (
	SignatureMethod  = "HMAC-SHA1"
	SignatureVersion = "1.0"
	TimestampLayout  = "2006-01-02T15:04:05Z"
)

// AccessKey is one AccessKey pair. Secret never prints itself (see
// channels.Secret), so an AccessKey is safe in logs and config dumps.
type AccessKey struct {
	ID     string
	Secret channels.Secret
}

// Bounds of generated and configured AccessKeys.
const (
	// MinSecretLen is the shortest AccessKey secret accepted in
	// configuration; GenerateAccessKey makes secrets of 30 characters, as
	// Alibaba Cloud does.
	MinSecretLen = 16
	// AccessKeyIDPrefix starts every id GenerateAccessKey makes.
	AccessKeyIDPrefix = "PPAK"
)

// PercentEncode is acsign.PercentEncode. It, CanonicalizedQuery,
// StringToSign and SignString are the RPC signature (package acsign), for
// callers that sign gateway requests.
func PercentEncode(s string) string { return acsign.PercentEncode(s) }

// CanonicalizedQuery is acsign.CanonicalizedQuery.
func CanonicalizedQuery(params map[string]string) string { return acsign.CanonicalizedQuery(params) }

// StringToSign is acsign.StringToSign; the RPC API's path is "/".
func StringToSign(method, path string, params map[string]string) string {
	return acsign.StringToSign(method, path, params)
}

// SignString is acsign.SignString.
func SignString(stringToSign, secret string) string { return acsign.SignString(stringToSign, secret) }

// NewNonce returns a random SignatureNonce (32 hex digits).
func NewNonce() string {
	return strings.ToLower(strings.ReplaceAll(newRequestID(), "-", ""))
}

// SignParams adds the common signature parameters (AccessKeyId,
// SignatureMethod, SignatureVersion, a fresh SignatureNonce, Timestamp of
// now) to params and then Signature, computed over method, path and every
// parameter. It returns the string that was signed.
func SignParams(params map[string]string, method, path string, key AccessKey, now time.Time) string {
	params[ParamAccessKeyID] = key.ID
	params[ParamSignatureMethod] = SignatureMethod
	params[ParamSignatureVersion] = SignatureVersion
	params[ParamSignatureNonce] = NewNonce()
	params[ParamTimestamp] = now.UTC().Format(TimestampLayout)
	delete(params, ParamSignature)
	sts := StringToSign(method, path, params)
	params[ParamSignature] = SignString(sts, key.Secret.Reveal())
	return sts
}

// GenerateAccessKey returns a new random AccessKey: an id of
// AccessKeyIDPrefix and 20 letters and digits, and a secret of 30.
func GenerateAccessKey() (AccessKey, error) {
	id, err := randomAlnum(20)
	if err != nil {
		return AccessKey{}, err
	}
	secret, err := randomAlnum(30)
	if err != nil {
		return AccessKey{}, err
	}
	return AccessKey{ID: AccessKeyIDPrefix + id, Secret: channels.Secret(secret)}, nil
}

func randomAlnum(n int) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("generating an AccessKey: %w", err)
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out), nil
}

// grant is what one AccessKey may do: act on the apps it is configured
// under (each in its own workspace).
type grant struct {
	id     string
	secret string
	apps   map[string]bool
}

// nonces remembers the SignatureNonce of every accepted request until its
// Timestamp leaves the window, so that a request replayed within the
// window is refused. It holds at most max nonces; safe for concurrent use.
type nonces struct {
	mu        sync.Mutex
	seen      map[string]time.Time // AccessKeyId "\x00" nonce → when it may be forgotten
	max       int
	lastSweep time.Time
}

func newNonces(max int) *nonces { return &nonces{seen: map[string]time.Time{}, max: max} }

// use records the nonce of key until forget and reports whether it was
// new; full is true (and nothing recorded) when max unexpired nonces are
// held. A nonce is remembered up to and including forget: verify passes
// the last instant its timestamp is accepted, so no replay slips between
// the nonce being forgotten and the timestamp expiring.
func (n *nonces) use(keyID, nonce string, forget, now time.Time) (fresh, full bool) {
	k := keyID + "\x00" + nonce
	n.mu.Lock()
	defer n.mu.Unlock()
	if until, ok := n.seen[k]; ok && !now.After(until) {
		return false, false
	}
	// Forget the nonces whose window passed: every minute, and when full
	// at most once a second (a full set under load is not scanned for
	// every request).
	full = len(n.seen) >= n.max
	if full && now.Sub(n.lastSweep) >= time.Second || now.Sub(n.lastSweep) > time.Minute {
		for s, until := range n.seen {
			if now.After(until) {
				delete(n.seen, s)
			}
		}
		n.lastSweep = now
		full = len(n.seen) >= n.max
	}
	if full {
		return false, true
	}
	n.seen[k] = forget
	return true, false
}

// authFailure says why a signed request was refused; rpcError and the
// /v1 refusal turn it into each protocol's answer.
type authFailure int

const (
	authMissing          authFailure = iota + 1 // a common parameter is missing
	authMethod                                  // SignatureMethod, SignatureVersion or SignatureType not supported
	authTimestampFormat                         // Timestamp not ISO 8601
	authTimestampExpired                        // Timestamp outside the window
	authUnknownKey                              // AccessKeyId not configured
	authSignature                               // the signature does not match
	authNonceUsed                               // SignatureNonce seen within the window
	authNoncesFull                              // too many requests within the window to remember
)

// authError is a refused signature: why, the parameter concerned and what
// to fix; sts is the server's string to sign for authSignature.
type authError struct {
	why   authFailure
	param string
	msg   string
	sts   string
}

// verify checks the common parameters and signature of params, a request
// to path with method, and records its nonce. params holds every signed
// parameter (the gateway adds BodySHA256 for /v1 routes).
func (s *Server) verify(method, path string, params map[string]string, now time.Time) (*grant, *authError) {
	for _, p := range []string{ParamAccessKeyID, ParamSignature, ParamSignatureMethod, ParamSignatureVersion, ParamSignatureNonce, ParamTimestamp} {
		if params[p] == "" {
			return nil, &authError{why: authMissing, param: p, msg: fmt.Sprintf("the parameter %s is missing: sign the request (%s)", p, signingHint)}
		}
	}
	if m := params[ParamSignatureMethod]; m != SignatureMethod {
		return nil, &authError{why: authMethod, param: ParamSignatureMethod, msg: fmt.Sprintf("SignatureMethod %q is not supported: use %s", m, SignatureMethod)}
	}
	if v := params[ParamSignatureVersion]; v != SignatureVersion {
		return nil, &authError{why: authMethod, param: ParamSignatureVersion, msg: fmt.Sprintf("SignatureVersion %q is not supported: use %s", v, SignatureVersion)}
	}
	if t := params[ParamSignatureType]; t != "" {
		return nil, &authError{why: authMethod, param: ParamSignatureType, msg: fmt.Sprintf("SignatureType %q (bearer tokens) is not supported: sign with an AccessKey", t)}
	}
	ts, err := time.Parse(TimestampLayout, params[ParamTimestamp])
	if err != nil {
		return nil, &authError{why: authTimestampFormat, param: ParamTimestamp, msg: fmt.Sprintf("Timestamp %q is not in the format %s (UTC)", params[ParamTimestamp], TimestampLayout)}
	}
	if off := now.Sub(ts); off > s.cfg.MaxClockSkew || off < -s.cfg.MaxClockSkew {
		return nil, &authError{why: authTimestampExpired, param: ParamTimestamp, msg: fmt.Sprintf("Timestamp %s is %s away from the gateway's clock (%s); at most %s is accepted: sign each request when sending it, with a synchronised clock",
			params[ParamTimestamp], off.Abs().Round(time.Second), now.UTC().Format(TimestampLayout), s.cfg.MaxClockSkew)}
	}
	g, ok := s.keys[params[ParamAccessKeyID]]
	if !ok {
		return nil, &authError{why: authUnknownKey, param: ParamAccessKeyID, msg: fmt.Sprintf("AccessKeyId %q is not configured on this gateway (gateway.appKeys[].accessKeys)", params[ParamAccessKeyID])}
	}
	sts := StringToSign(method, path, params)
	want := SignString(sts, g.secret)
	if !hmac.Equal([]byte(want), []byte(params[ParamSignature])) {
		return nil, &authError{why: authSignature, param: ParamSignature, sts: sts,
			msg: "the signature does not match the AccessKey secret of " + g.id}
	}
	fresh, full := s.nonces.use(g.id, params[ParamSignatureNonce], ts.Add(s.cfg.MaxClockSkew), now)
	if full {
		return nil, &authError{why: authNoncesFull, msg: "too many requests within the timestamp window to remember their nonces: send again later"}
	}
	if !fresh {
		return nil, &authError{why: authNonceUsed, param: ParamSignatureNonce, msg: fmt.Sprintf("SignatureNonce %q was used already within the last %s: use a new random nonce for every request", params[ParamSignatureNonce], s.cfg.MaxClockSkew)}
	}
	return g, nil
}

// signingHint points a caller at how to sign.
const signingHint = "AccessKeyId, SignatureMethod HMAC-SHA1, SignatureVersion 1.0, SignatureNonce, Timestamp and Signature; see the README's Gateway section"

// accessKeyFile is the JSON of an AccessKey file.
type accessKeyFile struct {
	AccessKeyID     string `json:"accessKeyId"`
	AccessKeySecret string `json:"accessKeySecret"`
}

// ReadAccessKeyFile reads an AccessKey file as WriteAccessKeyFile writes
// it: {"accessKeyId": "...", "accessKeySecret": "..."}.
func ReadAccessKeyFile(path string) (AccessKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return AccessKey{}, fmt.Errorf("reading AccessKey file: %w", err)
	}
	var f accessKeyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return AccessKey{}, fmt.Errorf("reading AccessKey file %s: not {\"accessKeyId\": ..., \"accessKeySecret\": ...}: %w", path, err)
	}
	k := AccessKey{ID: f.AccessKeyID, Secret: channels.Secret(f.AccessKeySecret)}
	if err := k.Validate(); err != nil {
		return AccessKey{}, fmt.Errorf("AccessKey file %s: %w", path, err)
	}
	return k, nil
}

// WriteAccessKeyFile writes k to a new file at path with mode 0600; an
// existing file is never overwritten.
func WriteAccessKeyFile(path string, k AccessKey) error {
	b, err := json.MarshalIndent(accessKeyFile{AccessKeyID: k.ID, AccessKeySecret: k.Secret.Reveal()}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the AccessKey: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing AccessKey file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing AccessKey file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing AccessKey file %s: %w", path, err)
	}
	return nil
}
