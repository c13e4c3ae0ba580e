package fcm

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Endpoints and limits of FCM HTTP v1, from Firebase's HTTP v1 reference
// (projects.messages.send, AndroidConfig, ErrorCode) and Google's OAuth 2.0
// service-account flow, plus the Android content limit of §8 of the mPaaS
// guide (a pushed Android message is at most 2 KB).
const (
	// DefaultBaseURL is the FCM API host; it serves every region. The client
	// appends "/v1/projects/{project_id}/messages:send".
	DefaultBaseURL = "https://fcm.googleapis.com"
	// DefaultTokenURI is Google's OAuth 2.0 token endpoint (the token_uri of
	// a service-account key file).
	DefaultTokenURI = "https://oauth2.googleapis.com/token"
	// Scope is the OAuth 2.0 scope that allows sending with FCM.
	Scope = "https://www.googleapis.com/auth/firebase.messaging"
	// GrantType is the JWT-bearer grant of the service-account flow.
	GrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// MaxAssertionLifetime is the longest validity Google accepts for a
	// signed assertion (exp - iat).
	MaxAssertionLifetime = time.Hour
	// MaxDataBytes is FCM's limit of a message's data (keys and values).
	MaxDataBytes = 4096
	// MaxPayloadBytes is §8's limit of a pushed Android message (2 KB),
	// applied to Message.Payload.
	MaxPayloadBytes = 2048
	// MaxTimeToLive is the longest android.ttl FCM accepts (4 weeks).
	MaxTimeToLive = 28 * 24 * time.Hour
	// MaxAnalyticsLabel is the longest fcm_options.analytics_label.
	MaxAnalyticsLabel = 50
	// MaxMaxBatch bounds Config.MaxBatch: FCM v1 takes one message a call,
	// so a batch is that many calls.
	MaxMaxBatch = 1000
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxBatch = 500
	// DefaultMaxConcurrentCalls is 100 calls for each of the
	// DefaultConnections connections (RFC 9113 recommends that a server
	// allow at least 100 concurrent streams; the client follows a lower
	// SETTINGS_MAX_CONCURRENT_STREAMS). More calls in flight let one TLS
	// read carry more answers: in the sender part of the bench a push cost
	// the sender 27–28 µs of CPU against 31–32 with 64 calls.
	DefaultMaxConcurrentCalls = 400
	// DefaultConnections is how many HTTP/2 connections the lean client
	// keeps to the FCM host, as APNs's channel does.
	DefaultConnections = 4
	// MaxConnections bounds Config.Connections.
	MaxConnections = 64
	// DefaultPriority is android.priority of messages without
	// ExtraPriority.
	DefaultPriority = "HIGH"
	// DefaultPayloadKey is the data key that carries Message.Payload.
	DefaultPayloadKey = "payload"
)

// RegionBaseURL returns the FCM API host of a pushpipe region (cn, ru, in,
// eu, sg) and whether the region is known. FCM has one global endpoint.
func RegionBaseURL(region string) (string, bool) {
	switch region {
	case "cn", "ru", "in", "eu", "sg":
		return DefaultBaseURL, true
	}
	return "", false
}

// App is the FCM service account of one pushpipe app: the fields of its
// service-account key file (see ParseServiceAccount).
type App struct {
	// ProjectID is the Firebase project id (project_id); messages are sent
	// to /v1/projects/{ProjectID}/messages:send.
	ProjectID string `json:"projectId" yaml:"projectId"`
	// ClientEmail is the service account (client_email), the issuer of the
	// signed assertion.
	ClientEmail string `json:"clientEmail" yaml:"clientEmail"`
	// PrivateKeyID is the key id (private_key_id), sent as the JWT "kid";
	// optional.
	PrivateKeyID string `json:"privateKeyId" yaml:"privateKeyId"`
	// PrivateKey is the PEM RSA private key (private_key; PKCS#8 or
	// PKCS#1) that signs the assertion.
	PrivateKey channels.Secret `json:"privateKey" yaml:"privateKey"`
	// TokenURI is the OAuth 2.0 token endpoint (token_uri); empty means
	// DefaultTokenURI. Point it at the simulator in tests.
	TokenURI string `json:"tokenUri" yaml:"tokenUri"`
}

// String prints the app without its private key.
func (a App) String() string {
	return fmt.Sprintf("{project=%s clientEmail=%s keyId=%s privateKey=%s tokenUri=%s}",
		a.ProjectID, a.ClientEmail, a.PrivateKeyID, a.PrivateKey, a.TokenURI)
}

// tokenURI returns the token endpoint the app uses.
func (a App) tokenURI() string {
	if a.TokenURI == "" {
		return DefaultTokenURI
	}
	return a.TokenURI
}

// ParseServiceAccount reads a Google service-account key file (the JSON a
// Firebase console download gives) into an App. It fails if the file is not
// a service-account key or misses a field.
func ParseServiceAccount(keyFile []byte) (App, error) {
	var f struct {
		Type         string `json:"type"`
		ProjectID    string `json:"project_id"`
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		ClientEmail  string `json:"client_email"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(keyFile, &f); err != nil {
		return App{}, fmt.Errorf("reading fcm service-account key: %w", err)
	}
	if f.Type != "service_account" {
		return App{}, fmt.Errorf("reading fcm service-account key: type is %q, want \"service_account\"", f.Type)
	}
	a := App{ProjectID: f.ProjectID, ClientEmail: f.ClientEmail, PrivateKeyID: f.PrivateKeyID,
		PrivateKey: channels.Secret(f.PrivateKey), TokenURI: f.TokenURI}
	var missing []string
	for name, v := range map[string]string{"project_id": a.ProjectID, "client_email": a.ClientEmail, "private_key": f.PrivateKey} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return App{}, fmt.Errorf("reading fcm service-account key: missing %s", strings.Join(missing, ", "))
	}
	return a, nil
}

// ParsePrivateKey parses a PEM RSA private key (PKCS#8 "PRIVATE KEY", as in
// service-account files, or PKCS#1 "RSA PRIVATE KEY"); see
// channels.ParseRSAPrivateKey.
func ParsePrivateKey(pemKey string) (*rsa.PrivateKey, error) {
	return channels.ParseRSAPrivateKey(pemKey)
}

// Limits are the content limits checked before a message is sent. Messages
// over a limit get a Permanent result and are not sent.
type Limits struct {
	// MaxTitleRunes and MaxBodyRunes bound the notification texts; FCM
	// sets no limit of its own, so 0 means none.
	MaxTitleRunes int `json:"maxTitleRunes" yaml:"maxTitleRunes"`
	MaxBodyRunes  int `json:"maxBodyRunes" yaml:"maxBodyRunes"`
	// MaxPayloadBytes bounds Message.Payload; default MaxPayloadBytes.
	MaxPayloadBytes int `json:"maxPayloadBytes" yaml:"maxPayloadBytes"`
	// MaxDataBytes bounds the data map (keys and values) sent; default and
	// maximum MaxDataBytes.
	MaxDataBytes int `json:"maxDataBytes" yaml:"maxDataBytes"`
}

// Config configures one FCM channel, which serves one region. Printing a
// Config (String, %v, %+v, %#v, JSON) never shows private keys.
type Config struct {
	// Region is the pushpipe region (cn, ru, in, eu, sg).
	Region string `json:"region" yaml:"region"`
	// BaseURL overrides the FCM host, e.g. the simulator's
	// "https://127.0.0.1:PORT/fcm/eu" (its TLS listener).
	BaseURL string `json:"baseUrl" yaml:"baseUrl"`
	// Apps maps pushpipe app ids to service accounts.
	Apps map[string]App `json:"apps" yaml:"apps"`
	// Timeout bounds one HTTP call (a send or a token request).
	Timeout time.Duration `json:"timeout" yaml:"timeout"`
	// MaxBatch is the number of messages one Send accepts; 1..MaxMaxBatch.
	// Each message is one FCM call.
	MaxBatch int `json:"maxBatch" yaml:"maxBatch"`
	// MaxConcurrentCalls bounds the FCM calls in flight at once across
	// all concurrent Sends of the channel; the channel's own HTTP client
	// keeps as many connections open between calls, so that a busy
	// channel does not open and close connections.
	MaxConcurrentCalls int `json:"maxConcurrentCalls" yaml:"maxConcurrentCalls"`
	// Connections is how many HTTP/2 connections the lean client keeps
	// to the FCM host (at least one per 100 of MaxConcurrentCalls); calls
	// take them in turn. 1..MaxConnections; default DefaultConnections.
	// net/http's client (StandardHTTP2, or an http BaseURL) manages its
	// own connections.
	Connections int `json:"connections" yaml:"connections"`
	// Priority is android.priority ("HIGH" or "NORMAL") of messages
	// without ExtraPriority.
	Priority string `json:"priority" yaml:"priority"`
	// PayloadKey is the data key that carries Message.Payload.
	PayloadKey string `json:"payloadKey" yaml:"payloadKey"`
	// Limits are the content limits; zero fields take the defaults.
	Limits Limits `json:"limits" yaml:"limits"`
	// RootCAs, if set, are the only certificate authorities the
	// channel's own clients trust for the FCM host and the token URI (a
	// test server's CertPool); nil uses the system roots plus CAFile.
	RootCAs *x509.CertPool `json:"-" yaml:"-"`
	// CAFile, if set, is a PEM file of extra certificate authorities the
	// channel's own clients trust for the FCM host and the token URI
	// (such as the vendor simulator's CA, which serves FCM over TLS),
	// read by New.
	CAFile string `json:"caFile" yaml:"caFile"`
	// StandardHTTP2 sends through net/http's client instead of the lean
	// HTTP/2 client of channels/h2, which the channel uses by default
	// for an https BaseURL (an http one, which real FCM never is, always
	// goes through net/http). Answers and results are the same with
	// either.
	StandardHTTP2 bool `json:"standardHttp2" yaml:"standardHttp2"`
}

// DefaultConfig returns the configuration of a channel for region with
// every default set and no apps.
func DefaultConfig(region string) Config {
	return Config{Region: region}.WithDefaults()
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
// The Apps map is shared with c.
func (c Config) WithDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL, _ = RegionBaseURL(c.Region)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxConcurrentCalls == 0 {
		c.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	if c.Connections == 0 {
		c.Connections = DefaultConnections
	}
	if c.Priority == "" {
		c.Priority = DefaultPriority
	}
	if c.PayloadKey == "" {
		c.PayloadKey = DefaultPayloadKey
	}
	if c.Limits.MaxPayloadBytes == 0 {
		c.Limits.MaxPayloadBytes = MaxPayloadBytes
	}
	if c.Limits.MaxDataBytes == 0 {
		c.Limits.MaxDataBytes = MaxDataBytes
	}
	return c
}

// projectIDPattern is what a Google Cloud project id looks like.
var projectIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)

// Validate reports every problem of c (after defaults) at once, joined.
// It parses the private keys but does not read CAFile.
func (c Config) Validate() error {
	chk := channels.NewConfigCheck("fcm")
	bad := chk.Bad
	_, known := RegionBaseURL(c.Region)
	chk.Region(c.Region, known)
	chk.URL("baseUrl", c.BaseURL)
	for id, a := range channels.Apps(chk, c.Apps) {
		if !projectIDPattern.MatchString(a.ProjectID) {
			bad("app %q: projectId %q is not a Firebase project id (project_id of the service-account key)", id, a.ProjectID)
		}
		if !strings.Contains(a.ClientEmail, "@") {
			bad("app %q: clientEmail %q is not a service-account email (client_email of the key file)", id, a.ClientEmail)
		}
		if a.PrivateKey == "" {
			bad("app %q: empty privateKey (private_key of the key file, PEM)", id)
		} else if _, err := ParsePrivateKey(a.PrivateKey.Reveal()); err != nil {
			bad("app %q: privateKey: %v", id, err)
		}
		if err := channels.CheckHTTPURL(a.tokenURI()); err != nil {
			bad("app %q: tokenUri: %v", id, err)
		}
	}
	chk.Timeout(c.Timeout)
	chk.MaxBatch(c.MaxBatch, MaxMaxBatch)
	chk.Concurrency(c.MaxConcurrentCalls)
	if c.Connections < 1 || c.Connections > MaxConnections {
		bad("connections must be in 1..%d, got %d", MaxConnections, c.Connections)
	}
	if _, ok := normalizePriority(c.Priority); !ok {
		bad("priority must be HIGH or NORMAL, got %q", c.Priority)
	}
	if reservedDataKey(c.PayloadKey) {
		bad("payloadKey %q is reserved by FCM (from, notification, message_type, google*, gcm*)", c.PayloadKey)
	}
	if c.PayloadKey == DeliveryIDDataKey {
		bad("payloadKey %q carries the delivery id: choose another key", c.PayloadKey)
	}
	l := c.Limits
	if l.MaxTitleRunes < 0 || l.MaxBodyRunes < 0 || l.MaxPayloadBytes < 1 || l.MaxDataBytes < 1 || l.MaxDataBytes > MaxDataBytes {
		bad("limits: title/body must not be negative, payload positive, data in 1..%d; got %+v", MaxDataBytes, l)
	}
	return chk.Err()
}

// String prints the configuration with private keys redacted, for logs.
func (c Config) String() string {
	var apps []string
	for _, id := range slices.Sorted(maps.Keys(c.Apps)) {
		apps = append(apps, id+"="+c.Apps[id].String())
	}
	return fmt.Sprintf("fcm.Config{Region:%s BaseURL:%s Apps:[%s] Timeout:%s MaxBatch:%d MaxConcurrentCalls:%d Connections:%d Priority:%s PayloadKey:%s Limits:%+v RootCAs:%t CAFile:%s StandardHTTP2:%t}",
		c.Region, c.BaseURL, strings.Join(apps, " "), c.Timeout, c.MaxBatch, c.MaxConcurrentCalls, c.Connections,
		c.Priority, c.PayloadKey, c.Limits, c.RootCAs != nil, c.CAFile, c.StandardHTTP2)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }

// normalizePriority returns the FCM spelling of an android.priority.
func normalizePriority(p string) (string, bool) {
	switch strings.ToUpper(strings.TrimSpace(p)) {
	case "HIGH":
		return "HIGH", true
	case "NORMAL":
		return "NORMAL", true
	}
	return "", false
}

// reservedDataKey reports whether FCM refuses name as a data key.
func reservedDataKey(name string) bool {
	n := strings.ToLower(name)
	return n == "" || n == "from" || n == "notification" || n == "message_type" ||
		strings.HasPrefix(n, "google") || strings.HasPrefix(n, "gcm")
}
