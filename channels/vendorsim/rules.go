package vendorsim

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"golang.org/x/time/rate"
)

// Failure is a rule that answers matching requests with an error instead
// of serving them. Exactly one trigger is set: Next (the next N matching
// requests, then the rule is removed) or Probability (each matching request
// with this probability, until cleared).
type Failure struct {
	// Vendor and Region restrict the rule; empty matches any.
	Vendor string `json:"vendor,omitempty"`
	Region string `json:"region,omitempty"`
	// Status is the HTTP status; default 503 without Code, 200 with Code.
	Status int `json:"status,omitempty"`
	// Code, if set, answers the vendor's JSON error with this code instead
	// of a bare HTTP error (e.g. MiPush 10009 "system busy").
	Code int `json:"code,omitempty"`
	// Next fails the next N matching requests.
	Next int `json:"next,omitempty"`
	// Probability fails each matching request with this probability.
	Probability float64 `json:"probability,omitempty"`
	// RetryAfter, if set, is sent as a Retry-After header (whole seconds).
	RetryAfter Duration `json:"retryAfter,omitempty"`
}

func (f *Failure) normalize() error {
	if (f.Next > 0) == (f.Probability > 0) {
		return errors.New("failure rule needs exactly one of next > 0 or 0 < probability <= 1")
	}
	if f.Next < 0 || f.Probability < 0 || f.Probability > 1 {
		return fmt.Errorf("failure rule: next %d / probability %g out of range", f.Next, f.Probability)
	}
	if f.Status == 0 {
		f.Status = http.StatusServiceUnavailable
		if f.Code != 0 {
			f.Status = http.StatusOK
		}
	}
	if f.Status < 100 || f.Status > 599 {
		return fmt.Errorf("failure rule: bad HTTP status %d", f.Status)
	}
	if f.Code == 0 && f.Status < 400 {
		return fmt.Errorf("failure rule: status %d without a code is not a failure", f.Status)
	}
	if f.RetryAfter < 0 {
		return errors.New("failure rule: negative retryAfter")
	}
	return nil
}

// Latency is a rule that delays matching requests before they are served:
// Fixed, plus a uniform random part in [0, Jitter), plus an exponentially
// distributed part with mean ExpMean. Setting a rule replaces the one with
// the same Vendor and Region; the most specific rule applies.
type Latency struct {
	// Vendor and Region restrict the rule; empty matches any.
	Vendor  string   `json:"vendor,omitempty"`
	Region  string   `json:"region,omitempty"`
	Fixed   Duration `json:"fixed,omitempty"`   // constant part
	Jitter  Duration `json:"jitter,omitempty"`  // uniform part in [0, Jitter)
	ExpMean Duration `json:"expMean,omitempty"` // exponential part with this mean
	// Next limits the rule to the next N matching requests; 0 = until
	// cleared.
	Next int `json:"next,omitempty"`
}

func (l *Latency) validate() error {
	if l.Fixed < 0 || l.Jitter < 0 || l.ExpMean < 0 || l.Next < 0 {
		return errors.New("latency rule: negative value")
	}
	return nil
}

// Quota sets the token bucket of one app of one vendor (every region) at
// run time; a rate of 0 with burst 0 throttles every call.
type Quota struct {
	Vendor    string  `json:"vendor"`    // e.g. VendorMiPush
	AppID     string  `json:"appId"`     // a configured app
	PerSecond float64 `json:"perSecond"` // refill rate, calls a second
	Burst     int     `json:"burst"`     // bucket size
}

// InjectFailures adds failure rules, checked in the order added. It fails
// without adding any rule if one is invalid.
func (s *Simulator) InjectFailures(fs ...Failure) error {
	rules := make([]*Failure, len(fs))
	for i := range fs {
		f := fs[i]
		if err := f.normalize(); err != nil {
			return fmt.Errorf("injecting failure %d: %w", i, err)
		}
		rules[i] = &f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, rules...)
	return nil
}

// ClearFailures removes every failure rule.
func (s *Simulator) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
}

// Failures returns the active failure rules (Next shows what is left).
func (s *Simulator) Failures() []Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Failure, len(s.failures))
	for i, f := range s.failures {
		out[i] = *f
	}
	return out
}

// InjectLatency sets the latency rule of l.Vendor and l.Region, replacing
// the previous one.
func (s *Simulator) InjectLatency(l Latency) error {
	if err := l.validate(); err != nil {
		return fmt.Errorf("injecting latency: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencies[[2]string{l.Vendor, l.Region}] = &l
	return nil
}

// ClearLatency removes every latency rule.
func (s *Simulator) ClearLatency() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencies = map[[2]string]*Latency{}
}

// Latencies returns the active latency rules.
func (s *Simulator) Latencies() []Latency {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Latency, 0, len(s.latencies))
	for _, l := range s.latencies {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Latency) int {
		if a.Vendor != b.Vendor {
			return cmpStr(a.Vendor, b.Vendor)
		}
		return cmpStr(a.Region, b.Region)
	})
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SetQuota overrides the quota of one app of one vendor in every region
// until Reset; the app's buckets start full.
func (s *Simulator) SetQuota(q Quota) error {
	apps, ok := s.appIDs[q.Vendor]
	if !ok {
		return fmt.Errorf("setting quota: unknown vendor %q", q.Vendor)
	}
	if !apps[q.AppID] {
		return fmt.Errorf("setting quota: unknown app %q of %s", q.AppID, q.Vendor)
	}
	if q.PerSecond < 0 || q.Burst < 0 || math.IsNaN(q.PerSecond) {
		return fmt.Errorf("setting quota: negative or invalid rate %g/%d", q.PerSecond, q.Burst)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotas[q.Vendor+"/"+q.AppID] = q
	for k := range s.limiters {
		if k[0] == q.Vendor && k[2] == q.AppID {
			delete(s.limiters, k)
		}
	}
	return nil
}

// allowLocked takes n tokens from the bucket of (vendor, region, app).
// perSecond and burst are the app's configured quota; a SetQuota override
// wins. The caller holds s.mu.
func (s *Simulator) allowLocked(vendor, region, appID string, perSecond float64, burst, n int, now time.Time) bool {
	key := [3]string{vendor, region, appID}
	lim := s.limiters[key]
	if lim == nil {
		if burst == 0 {
			burst = burstFor(perSecond)
		}
		if q, ok := s.quotas[vendor+"/"+appID]; ok {
			perSecond, burst = q.PerSecond, q.Burst
		}
		lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		s.limiters[key] = lim
	}
	return lim.AllowN(now, n)
}

// Allow takes one call from the quota bucket of (vendor, region, app) and
// reports whether the call is within the quota. Vendor handlers call it
// before serving a request.
func (s *Simulator) Allow(vendor, region, appID string, perSecond float64, burst int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allowLocked(vendor, region, appID, perSecond, burst, 1, time.Now())
}

// AllowN is Allow for a call that counts n against the quota (a vendor
// whose quota counts the devices of a call rather than calls). A call of
// more than the bucket size is never within the quota.
func (s *Simulator) AllowN(vendor, region, appID string, perSecond float64, burst, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allowLocked(vendor, region, appID, perSecond, burst, n, time.Now())
}

// delay returns the latency to apply to a request of vendor in region,
// consuming one use of a Next-limited rule.
func (s *Simulator) delay(vendor, region string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range [][2]string{{vendor, region}, {vendor, ""}, {"", region}, {"", ""}} {
		l := s.latencies[k]
		if l == nil {
			continue
		}
		if l.Next > 0 {
			l.Next--
			if l.Next == 0 {
				delete(s.latencies, k)
			}
		}
		d := time.Duration(l.Fixed)
		if l.Jitter > 0 {
			d += time.Duration(s.rng.Int64N(int64(l.Jitter)))
		}
		if l.ExpMean > 0 {
			d += time.Duration(s.rng.ExpFloat64() * float64(l.ExpMean))
		}
		return d
	}
	return 0
}

// wait sleeps for d unless the client leaves or the simulator closes; it
// reports whether the full delay passed.
func (s *Simulator) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closing:
		return false
	}
}

// failure returns the failure rule that fires for a request, if any.
func (s *Simulator) failure(vendor, region string) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failures {
		if (f.Vendor != "" && f.Vendor != vendor) || (f.Region != "" && f.Region != region) {
			continue
		}
		if f.Next > 0 {
			fired := *f
			f.Next--
			if f.Next == 0 {
				s.failures = slices.Delete(s.failures, i, i+1)
			}
			return fired, true
		}
		if s.rng.Float64() < f.Probability {
			return *f, true
		}
	}
	return Failure{}, false
}
