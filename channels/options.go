package channels

import (
	"net/http"
	"time"
)

// Options are the settings a vendor channel's New takes besides its
// configuration. Vendor packages alias Option and build theirs with
// ApplyOptions.
type Options struct {
	// Client makes the channel's HTTP calls (sends and token requests).
	Client *http.Client
	// Now is the channel's clock (message validity, token expiry,
	// Retry-After dates).
	Now func() time.Time
}

// Option changes the Options of a channel being built.
type Option func(*Options)

// WithHTTPClient makes the channel use hc instead of a client of its own;
// nil keeps the channel's own. Timeouts still come from the channel's
// configuration (applied per call via ctx).
func WithHTTPClient(hc *http.Client) Option { return func(o *Options) { o.Client = hc } }

// WithClock makes the channel read the time from now instead of
// time.Now.
func WithClock(now func() time.Time) Option { return func(o *Options) { o.Now = now } }

// ApplyOptions returns the Options that opts, applied in order, give a
// channel: Now defaults to time.Now, and a channel left without a client
// gets NewHTTPClient(maxIdleConnsPerHost).
func ApplyOptions(maxIdleConnsPerHost int, opts ...Option) Options {
	o := Options{Now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.Client == nil {
		o.Client = NewHTTPClient(maxIdleConnsPerHost)
	}
	return o
}
