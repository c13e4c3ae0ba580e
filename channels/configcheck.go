package channels

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"
)

// ConfigCheck gathers the problems of a vendor channel's configuration so
// that its Validate reports every one at once, each prefixed with
// "<vendor> config: ". The checks every HTTP vendor channel shares (region,
// URLs, apps, timeout, batch size, concurrency) are written here once, with
// the same messages for every vendor. Not safe for concurrent use.
type ConfigCheck struct {
	prefix string
	errs   []error
}

// NewConfigCheck starts the check of a configuration of the channel named
// name ("hms", "self channel", ...).
func NewConfigCheck(name string) *ConfigCheck { return &ConfigCheck{prefix: name + " config: "} }

// Bad records a problem.
func (c *ConfigCheck) Bad(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(c.prefix+format, args...))
}

// Region records an unknown pushpipe region.
func (c *ConfigCheck) Region(region string, known bool) {
	if !known {
		c.Bad("unknown region %q (want cn, ru, in, eu or sg)", region)
	}
}

// URL records a value of key (baseUrl, authUrl, callbackUrl) that is not
// an absolute http(s) URL (see CheckHTTPURL).
func (c *ConfigCheck) URL(key, u string) {
	if err := CheckHTTPURL(u); err != nil {
		c.Bad("%s: %v", key, err)
	}
}

// Apps records a configuration without apps, then yields the apps in id
// order, recording an empty id before yielding its app.
func Apps[A any](c *ConfigCheck, apps map[string]A) iter.Seq2[string, A] {
	if len(apps) == 0 {
		c.Bad("no apps configured")
	}
	return func(yield func(string, A) bool) {
		for _, id := range slices.Sorted(maps.Keys(apps)) {
			if id == "" {
				c.Bad("app with empty id")
			}
			if !yield(id, apps[id]) {
				return
			}
		}
	}
}

// Timeout records a timeout that is not positive.
func (c *ConfigCheck) Timeout(d time.Duration) {
	if d <= 0 {
		c.Bad("timeout must be positive, got %s", d)
	}
}

// MaxBatch records a batch size outside 1..most.
func (c *ConfigCheck) MaxBatch(n, most int) {
	if n < 1 || n > most {
		c.Bad("maxBatch must be in 1..%d, got %d", most, n)
	}
}

// Concurrency records a maxConcurrentCalls below 1.
func (c *ConfigCheck) Concurrency(n int) {
	if n < 1 {
		c.Bad("maxConcurrentCalls must be at least 1, got %d", n)
	}
}

// Err returns every recorded problem joined, or nil.
func (c *ConfigCheck) Err() error { return errors.Join(c.errs...) }
