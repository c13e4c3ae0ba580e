// Package vendorsim simulates the push vendors' HTTP APIs so that channels,
// tests and demos run without reaching a vendor. It serves MiPush's v3 API
// for every region under one address (base URL of region R:
// http://ADDR/mipush/R), checks credentials and fields and answers with the
// vendor's own codes, reports configured tokens as invalid, enforces a
// per-app token-bucket quota, injects latency and 5xx storms on demand and
// records every request exactly.
//
// Simulator is the http.Handler; Server runs one on a loopback listener.
// Both expose the same control methods (Requests, Stats, Reset,
// InjectFailures, InjectLatency, SetQuota) and the JSON admin API:
//
//	GET    /admin/requests?vendor=mipush&region=sg   every recorded request
//	GET    /admin/stats                              counters per vendor, region, app, token
//	POST   /admin/reset                              forget requests, counters, faults, quotas
//	GET    /admin/failures                           active failure rules
//	POST   /admin/failures                           add a Failure (JSON body)
//	DELETE /admin/failures                           remove every failure rule
//	GET    /admin/latency                            active latency rules
//	POST   /admin/latency                            set a Latency (JSON body)
//	DELETE /admin/latency                            remove every latency rule
//	POST   /admin/quota                              set a Quota (JSON body)
//	GET    /admin/receipts                           receipt counters (ReceiptStats)
//	POST   /admin/receipts/flush                     post queued receipts now, then their counters
//	GET    /healthz                                  "ok"
//
// With Config.Receipts naming a receipts worker per region, the simulator
// also posts delivery receipts in each vendor's format and app SDK events
// (arrival, open, ignore) for the messages it accepts; see ReceiptsConfig.
package vendorsim

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// UnknownApp is the app name of requests whose credentials matched no app.
const UnknownApp = "unknown"

// Request is one request the simulator received, with what it answered.
type Request struct {
	// Seq numbers requests from 1 in arrival order (since the last Reset).
	Seq int64 `json:"seq"`
	// Time is the arrival time.
	Time time.Time `json:"time"`
	// Vendor and Region name the simulated endpoint.
	Vendor string `json:"vendor"`
	Region string `json:"region"`
	// Method and Path are the HTTP request line.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Auth is the raw Authorization header.
	Auth string `json:"auth"`
	// AppID is the app the credentials matched, or UnknownApp.
	AppID string `json:"appId"`
	// Form is the parsed form body.
	Form url.Values `json:"form"`
	// RegIDs are the targets (MiPush registration_id split at commas).
	RegIDs []string `json:"regIds"`
	// Status is the HTTP status answered; 0 if the client left before the
	// answer.
	Status int `json:"status"`
	// Code is the vendor code answered (0 success or no vendor body).
	Code int `json:"code"`
	// Body is the answer body.
	Body string `json:"body"`
	// Injected tells that the answer came from a failure rule.
	Injected bool `json:"injected,omitempty"`
}

func (r *Request) clone() Request {
	c := *r
	c.Form = url.Values{}
	for k, v := range r.Form {
		c.Form[k] = slices.Clone(v)
	}
	c.RegIDs = slices.Clone(r.RegIDs)
	return c
}

// Stats are exact counters since the last Reset.
type Stats struct {
	// Requests counts every vendor request received.
	Requests int64 `json:"requests"`
	// DroppedRecords counts requests no longer kept for Requests
	// (Config.MaxRecordedRequests).
	DroppedRecords int64 `json:"droppedRecords"`
	// Vendors holds the counters per vendor name.
	Vendors map[string]*VendorStats `json:"vendors"`
}

// VendorStats are the counters of one vendor.
type VendorStats struct {
	Requests int64                   `json:"requests"` // requests to this vendor
	Regions  map[string]*RegionStats `json:"regions"`  // counters per region
}

// RegionStats are the counters of one vendor in one region.
type RegionStats struct {
	Requests int64                `json:"requests"` // requests to this vendor in this region
	Apps     map[string]*AppStats `json:"apps"`     // counters per app id (UnknownApp for failed credentials)
}

// AppStats are the counters of one app of one vendor in one region.
type AppStats struct {
	// Requests received with this app's credentials (UnknownApp: with
	// none that matched).
	Requests int64 `json:"requests"`
	// Accepted calls (vendor success answer).
	Accepted int64 `json:"accepted"`
	// Rejected calls (vendor error answer other than throttling).
	Rejected int64 `json:"rejected"`
	// Throttled calls (quota exceeded).
	Throttled int64 `json:"throttled"`
	// Injected calls answered by a failure rule.
	Injected int64 `json:"injected"`
	// Abandoned calls whose client left before the answer.
	Abandoned int64 `json:"abandoned"`
	// Messages counts targets accepted for delivery.
	Messages int64 `json:"messages"`
	// InvalidTokens counts targets reported invalid.
	InvalidTokens int64 `json:"invalidTokens"`
	// Tokens counts accepted deliveries per target token.
	Tokens map[string]int64 `json:"tokens"`
}

func (s *Stats) clone() Stats {
	c := Stats{Requests: s.Requests, DroppedRecords: s.DroppedRecords, Vendors: map[string]*VendorStats{}}
	for vn, v := range s.Vendors {
		vc := &VendorStats{Requests: v.Requests, Regions: map[string]*RegionStats{}}
		for rn, r := range v.Regions {
			rc := &RegionStats{Requests: r.Requests, Apps: map[string]*AppStats{}}
			for an, a := range r.Apps {
				ac := *a
				ac.Tokens = make(map[string]int64, len(a.Tokens))
				for t, n := range a.Tokens {
					ac.Tokens[t] = n
				}
				rc.Apps[an] = &ac
			}
			vc.Regions[rn] = rc
		}
		c.Vendors[vn] = vc
	}
	return c
}

func (s *Stats) app(vendor, region, app string) *AppStats {
	v := s.Vendors[vendor]
	if v == nil {
		v = &VendorStats{Regions: map[string]*RegionStats{}}
		s.Vendors[vendor] = v
	}
	r := v.Regions[region]
	if r == nil {
		r = &RegionStats{Apps: map[string]*AppStats{}}
		v.Regions[region] = r
	}
	a := r.Apps[app]
	if a == nil {
		a = &AppStats{Tokens: map[string]int64{}}
		r.Apps[app] = a
	}
	return a
}

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

// Simulator is the vendor simulator as an http.Handler. All methods are
// safe for concurrent use.
type Simulator struct {
	cfg Config

	closing   chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	rng       *rand.Rand
	seq       int64
	idSeq     int64
	records   []*Request // ring of at most MaxRecordedRequests, oldest at recStart
	recStart  int
	stats     Stats
	failures  []*Failure
	latencies map[[2]string]*Latency
	quotas    map[string]Quota            // vendor/app -> override
	limiters  map[[3]string]*rate.Limiter // vendor, region, app
	recalls   *recallBook                 // recallable messages and confirmed recalls
	mux       *http.ServeMux
	// vendors are the simulated vendor APIs with at least one app; appIDs
	// indexes their apps (vendor -> app id). Both are fixed after New.
	vendors []Vendor
	appIDs  map[string]map[string]bool
	// seed is the seed in use; poster posts receipts (nil without
	// Config.Receipts.URLs). Both are fixed after New.
	seed   uint64
	poster *poster
}

// New returns a simulator for cfg (defaults applied) serving the vendors
// made by vendors (see package allvendors for every vendor) that have at
// least one app in cfg, or the joined configuration problems.
func New(cfg Config, vendors []NewVendor) (*Simulator, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating vendor simulator: %w", err)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Simulator{
		cfg:     cfg,
		closing: make(chan struct{}),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		seed:    seed,
	}
	s.resetLocked()
	s.mux = http.NewServeMux()
	s.vendors = s.configuredVendors(vendors)
	s.appIDs = map[string]map[string]bool{}
	for _, v := range s.vendors {
		ids := map[string]bool{}
		for _, id := range cfg.appIDs(v.Name()) {
			ids[id] = true
		}
		s.appIDs[v.Name()] = ids
	}
	s.routes()
	if len(cfg.Receipts.URLs) > 0 {
		s.poster = newPoster(cfg.Receipts, seed)
	}
	return s, nil
}

// Config returns a copy of the simulator's configuration (defaults
// applied).
func (s *Simulator) Config() Config { return s.cfg.WithDefaults() }

// ServeHTTP serves the vendor endpoints and the admin API.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close makes requests that are waiting out an injected latency give up at
// once (their clients get no answer), then posts the receipts still
// queued (for at most ReceiptsConfig.CloseTimeout; what is left is
// dropped and counted) and waits for the receipt poster's goroutines. The
// handler keeps serving new requests without latency; their receipts are
// dropped. Idempotent: later calls wait for the first to finish.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		if s.poster != nil {
			s.poster.close()
		}
	})
}

func (s *Simulator) routes() {
	for _, v := range s.vendors {
		v.Register(s.mux)
	}
	s.mux.HandleFunc("GET /admin/requests", s.handleRequests)
	s.mux.HandleFunc("GET /admin/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	s.mux.HandleFunc("POST /admin/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]string{"status": "reset"})
	})
	s.mux.HandleFunc("GET /admin/failures", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Failures()) })
	s.mux.HandleFunc("POST /admin/failures", func(w http.ResponseWriter, r *http.Request) {
		var f Failure
		if !readJSON(w, r, &f) {
			return
		}
		if err := s.InjectFailures(f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s.Failures())
	})
	s.mux.HandleFunc("DELETE /admin/failures", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFailures()
		writeJSON(w, http.StatusOK, s.Failures())
	})
	s.mux.HandleFunc("GET /admin/latency", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Latencies()) })
	s.mux.HandleFunc("POST /admin/latency", func(w http.ResponseWriter, r *http.Request) {
		var l Latency
		if !readJSON(w, r, &l) {
			return
		}
		if err := s.InjectLatency(l); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s.Latencies())
	})
	s.mux.HandleFunc("DELETE /admin/latency", func(w http.ResponseWriter, r *http.Request) {
		s.ClearLatency()
		writeJSON(w, http.StatusOK, s.Latencies())
	})
	s.mux.HandleFunc("POST /admin/quota", func(w http.ResponseWriter, r *http.Request) {
		var q Quota
		if !readJSON(w, r, &q) {
			return
		}
		if err := s.SetQuota(q); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, q)
	})
	s.mux.HandleFunc("GET /admin/receipts", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.ReceiptStats()) })
	s.mux.HandleFunc("POST /admin/receipts/flush", func(w http.ResponseWriter, r *http.Request) {
		if err := s.FlushReceipts(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s.ReceiptStats())
	})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

func (s *Simulator) handleRequests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reqs := s.Requests(q.Get("vendor"), q.Get("region"))
	s.mu.Lock()
	dropped := s.stats.DroppedRecords
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Requests       []Request `json:"requests"`
		DroppedRecords int64     `json:"droppedRecords"`
	}{reqs, dropped})
}

// Requests returns copies of the recorded requests of vendor in region, in
// arrival order; an empty vendor or region matches any.
func (s *Simulator) Requests(vendor, region string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Request{}
	for i := range s.records {
		r := s.records[(s.recStart+i)%len(s.records)]
		if (vendor == "" || r.Vendor == vendor) && (region == "" || r.Region == region) {
			out = append(out, r.clone())
		}
	}
	return out
}

// Stats returns a copy of the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.clone()
}

// Reset forgets recorded requests, counters, failure and latency rules and
// quota overrides (and the SMS flow-control windows), and refills every
// quota bucket. It also forgets the
// receipts not yet posted and zeroes the receipt counters; POSTs already
// under way finish without being counted.
func (s *Simulator) Reset() {
	s.mu.Lock()
	s.resetLocked()
	s.mu.Unlock()
	for _, v := range s.vendors {
		if r, ok := v.(Resetter); ok {
			r.Reset()
		}
	}
	if s.poster != nil {
		s.poster.reset()
	}
}

func (s *Simulator) resetLocked() {
	s.seq = 0
	s.records = nil
	s.recStart = 0
	s.stats = Stats{Vendors: map[string]*VendorStats{}}
	s.failures = nil
	s.latencies = map[[2]string]*Latency{}
	s.quotas = map[string]Quota{}
	s.limiters = map[[3]string]*rate.Limiter{}
	s.recalls = newRecallBook()
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

// begin records the arrival of a request and counts it.
func (s *Simulator) begin(vendor, region, appID string, r *http.Request, form url.Values, regIDs []string) *Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	rec := &Request{
		Seq: s.seq, Time: time.Now(), Vendor: vendor, Region: region, Method: r.Method,
		Path: r.URL.Path, Auth: r.Header.Get("Authorization"), AppID: appID, Form: form, RegIDs: regIDs,
	}
	if len(s.records) < s.cfg.MaxRecordedRequests {
		s.records = append(s.records, rec)
	} else if len(s.records) > 0 {
		s.records[s.recStart] = rec
		s.recStart = (s.recStart + 1) % len(s.records)
		s.stats.DroppedRecords++
	} else {
		s.stats.DroppedRecords++
	}
	s.stats.Requests++
	s.stats.app(vendor, region, appID).Requests++
	s.stats.Vendors[vendor].Requests++
	s.stats.Vendors[vendor].Regions[region].Requests++
	return rec
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

// finish stores the answer in the record, updates the counters and
// remembers the recallable messages of an accepted call.
func (s *Simulator) finish(rec *Request, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Status, rec.Code, rec.Body = a.Status, a.Code, a.Body
	rec.Injected = a.Outcome == injected
	st := s.stats.app(rec.Vendor, rec.Region, rec.AppID)
	switch a.Outcome {
	case Accepted:
		st.Accepted++
	case Rejected:
		st.Rejected++
	case Throttled:
		st.Throttled++
	case injected:
		st.Injected++
	case abandoned:
		st.Abandoned++
	}
	st.Messages += int64(len(a.Accepted))
	st.InvalidTokens += int64(len(a.Invalid))
	for _, t := range a.Accepted {
		st.Tokens[t]++
	}
	if a.Outcome == Accepted && len(a.Accepted) > 0 {
		for _, p := range a.Recallable {
			s.recalls.add(recallKey{rec.Vendor, rec.Region, rec.AppID, p.ID}, p.Token)
		}
	}
}

// setAuth stores the credential a request presented in its record (for
// vendors that do not use the Authorization header).
func (s *Simulator) setAuth(rec *Request, auth string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Auth = auth
}

// NextID returns a fresh number (from 1, never reset) and two random
// letters, for vendor message, request and trace ids.
func (s *Simulator) NextID() (int64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idSeq++
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	return s.idSeq, string([]byte{letters[s.rng.IntN(len(letters))], letters[s.rng.IntN(len(letters))]})
}

// RandomHex returns n random bytes in hex from the simulator's generator
// (seeded by Config.Seed).
func (s *Simulator) RandomHex(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.IntN(256))
	}
	return hex.EncodeToString(b)
}

// writeJSON writes an admin API answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	a := JSON(status, v)
	w.Header().Set("Content-Type", a.ContentType)
	w.WriteHeader(a.Status)
	_, _ = w.Write([]byte(a.Body))
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reading JSON body: " + err.Error()})
		return false
	}
	return true
}
