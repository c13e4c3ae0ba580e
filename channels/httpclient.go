package channels

import (
	"net/http"
	"time"
)

// DefaultMaxIdleConnsPerHost is the number of idle connections per host
// NewHTTPClient keeps for a channel that makes no more concurrent calls.
const DefaultMaxIdleConnsPerHost = 64

// NewHTTPClient returns the HTTP client a vendor channel uses when it is
// not given one: proxies from the environment, HTTP/2 when the server
// offers it, up to 256 idle connections in all and maxIdleConnsPerHost
// per host, idle connections closed after 90 seconds, TLS handshakes
// bounded by 10 seconds. It sets no overall timeout: channels bound each
// call with its context. Every call returns a new client with a transport
// of its own; the client is safe for concurrent use.
func NewHTTPClient(maxIdleConnsPerHost int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}
