// Package vendorsim simulates the push vendors' HTTP APIs so that channels,
// tests and demos run without reaching a vendor. This package is the
// simulator's core; each vendor's API lives in a subpackage
// (channels/vendorsim/mipush, apns, fcm, hms, honor, harmonyos, oppo,
// vivo, selfchannel, sms) that speaks the vendor's wire format, checks its
// credentials and fields and answers with its own codes, and
// channels/vendorsim/allvendors lists them (allvendors.Start starts a
// simulator of every vendor). The core does not import the subpackages.
//
// The core serves every region of a vendor under one address (the base
// URL of MiPush in region R is http://ADDR/mipush/R), records every request
// exactly, counts it per vendor, region, app and token, enforces a
// per-app token-bucket quota, injects latency and 5xx storms on demand,
// remembers accepted messages for the vendors' recall APIs and posts
// receipts. Every vendor request goes through one skeleton, Endpoint,
// which the vendor's package fills in.
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
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

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
