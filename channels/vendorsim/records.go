package vendorsim

import (
	"net/http"
	"net/url"
	"slices"
	"time"
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
