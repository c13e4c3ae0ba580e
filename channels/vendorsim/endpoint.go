package vendorsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Endpoint is one endpoint of a simulated vendor, filled in by the
// vendor's package; the simulator runs every request to it through the
// same skeleton (ServeHTTP):
//
//  1. a region the vendor does not serve is answered 404 and not recorded;
//  2. Read reads the request and names its app, and the request is
//     recorded and counted (Requests, Stats);
//  3. an Arrival.Refusal is answered at once;
//  4. with Injected set, the injected latency is waited out (a client
//     that leaves, or Close, drops the connection without an answer) and
//     a failure rule that fires is answered with Injected;
//  5. Authenticate's refusal is answered;
//  6. with Quota set, a call over the app's bucket gets Throttled;
//  7. Answer answers the call: decode and validation refusals, or the
//     per-token answer.
//
// The answer is then written and recorded in the request's record and
// counters, its recallable messages are remembered (accepted calls only)
// and its receipts queued. Every function but Read and Answer may be nil:
// without Injected, latency and failure rules do not apply (credential
// endpoints); without Authenticate every call goes on; without Quota no
// bucket is drawn from (recalls). ServeHTTP is safe for concurrent use
// when the vendor's functions are.
type Endpoint[Req any] struct {
	// Sim is the simulator the endpoint records in.
	Sim *Simulator
	// Vendor is the vendor name of records, stats and rules.
	Vendor string
	// Regions are the regions served (the {region} path value).
	Regions []string
	// Read reads the request of region without answering it. It may set
	// headers on w that every answer carries.
	Read func(w http.ResponseWriter, r *http.Request, region string) (Req, Arrival)
	// Injected is the answer when failure rule f fires; ServeHTTP adds
	// Retry-After when the rule asks for it and counts the call injected.
	Injected func(f Failure) Answer
	// Authenticate returns the refusal of a call whose credentials do not
	// hold (or that the vendor refuses before counting it against the
	// quota), nil for one that goes on.
	Authenticate func(r *http.Request, req Req) *Answer
	// Quota is the bucket an authenticated call draws from, Throttled the
	// answer to a call over it (both set, or neither).
	Quota     func(req Req) Bucket
	Throttled func(req Req) Answer
	// Answer answers an authenticated call within the quota.
	Answer func(r *http.Request, req Req) Answer
}

// Arrival is what the skeleton records of a request before answering it.
type Arrival struct {
	// AppID is the app the credentials name, or UnknownApp.
	AppID string
	// Form and Targets are recorded as Request.Form and Request.RegIDs.
	Form    url.Values
	Targets []string
	// Auth, when set, is recorded as Request.Auth instead of the
	// Authorization header (vendors whose credential is elsewhere).
	Auth *string
	// Refusal, when set, is answered at once, before latency and failure
	// rules (APNs refuses HTTP/1 before anything else).
	Refusal *Answer
}

// AppOf is appID when the credentials named it (ok), else UnknownApp:
// the Arrival.AppID of a request.
func AppOf(appID string, ok bool) string {
	if !ok {
		return UnknownApp
	}
	return appID
}

// Refusal returns a pointer to a, for Authenticate and Arrival.Refusal.
func Refusal(a Answer) *Answer { return &a }

// Bucket is the quota an authenticated call draws from: the app's token
// bucket of its vendor in its region (a SetQuota override wins).
type Bucket struct {
	// PerSecond and Burst are the app's configured quota (Burst 0: the
	// rate rounded up).
	PerSecond float64
	Burst     int
	// N is how much the call counts (0 counts 1): vendors whose quota
	// counts devices count the call's tokens.
	N int
}

// AppBucket is the bucket of an app of a section with the default quota
// (rate, burst): the app's own (appRate, appBurst) when appRate is
// positive.
func AppBucket(rate float64, burst int, appRate float64, appBurst int) Bucket {
	if appRate > 0 {
		return Bucket{PerSecond: appRate, Burst: appBurst}
	}
	return Bucket{PerSecond: rate, Burst: burst}
}

// Outcome is how a call counts in AppStats.
type Outcome int

// The outcomes a vendor answer reports. Injected and abandoned calls are
// counted by the skeleton.
const (
	Accepted  Outcome = iota // a vendor success answer
	Rejected                 // a vendor error answer other than throttling
	Throttled                // the quota (or another rate limit) was exceeded
	injected
	abandoned
)

// Answer is a vendor's answer to one call and how the call counts.
type Answer struct {
	// Status is the HTTP status.
	Status int
	// Header holds headers to send besides Content-Type.
	Header http.Header
	// ContentType is sent when not empty.
	ContentType string
	// Body is the answer body, recorded as Request.Body.
	Body string
	// Code is the vendor code recorded as Request.Code (0 for success or
	// an answer without a vendor code).
	Code int
	// Outcome is how the call counts; the zero value is Accepted, so a
	// refusal must set it.
	Outcome Outcome
	// Accepted are the targets accepted for delivery, Invalid those
	// reported invalid (AppStats.Messages, Tokens, InvalidTokens).
	Accepted, Invalid []string
	// Recallable are the messages of an accepted call that a recall can
	// name (see Simulator.Recall).
	Recallable []Recallable
	// Receipts are queued once the answer is recorded (when the region
	// gets receipts).
	Receipts []Sent
}

// JSON is an answer of status with v encoded as its JSON body
// ("application/json;charset=UTF-8"); a v that does not encode is
// answered 500 with {"error":"encoding answer"}.
func JSON(status int, v any) Answer {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"encoding answer"}`)
	}
	return Answer{Status: status, ContentType: "application/json;charset=UTF-8", Body: string(b)}
}

// With returns a with header k set to v.
func (a Answer) With(k, v string) Answer {
	h := a.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(k, v)
	a.Header = h
	return a
}

// InjectedAnswer is the answer of failure rule f at a vendor behind a
// gateway that answers bare errors: the vendor's JSON error (vendorJSON)
// when the rule has a code, else an HTML page of the rule's status. Both
// record the rule's status and code.
func InjectedAnswer(f Failure, vendorJSON func(Failure) Answer) Answer {
	var a Answer
	if f.Code != 0 {
		a = vendorJSON(f)
	} else {
		a = Answer{ContentType: "text/html",
			Body: fmt.Sprintf("<html><body><h1>%d %s</h1></body></html>", f.Status, http.StatusText(f.Status))}
	}
	a.Status, a.Code = f.Status, f.Code
	return a
}

// ServesRegion answers 404 and reports false when region (the {region}
// path value of r) is not one of regions.
func ServesRegion(w http.ResponseWriter, r *http.Request, regions []string) bool {
	if !slices.Contains(regions, r.PathValue("region")) {
		http.NotFound(w, r)
		return false
	}
	return true
}

// ServeHTTP runs the skeleton (see Endpoint) for one request.
func (e Endpoint[Req]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := e.Sim
	region := r.PathValue("region")
	if !ServesRegion(w, r, e.Regions) {
		return
	}
	req, arr := e.Read(w, r, region)
	rec := s.begin(e.Vendor, region, arr.AppID, r, arr.Form, arr.Targets)
	if arr.Auth != nil {
		s.setAuth(rec, *arr.Auth)
	}
	if arr.Refusal != nil {
		s.respond(w, rec, *arr.Refusal)
		return
	}
	if e.Injected != nil {
		if !s.wait(r, s.delay(e.Vendor, region)) {
			s.finish(rec, Answer{Outcome: abandoned})
			panic(http.ErrAbortHandler) // drop the connection without an answer
		}
		if f, ok := s.failure(e.Vendor, region); ok {
			a := e.Injected(f)
			a.Outcome = injected
			if f.RetryAfter > 0 {
				a = a.With("Retry-After", strconv.FormatInt(max(int64(time.Duration(f.RetryAfter)/time.Second), 1), 10))
			}
			s.respond(w, rec, a)
			return
		}
	}
	if e.Authenticate != nil {
		if a := e.Authenticate(r, req); a != nil {
			s.respond(w, rec, *a)
			return
		}
	}
	if e.Quota != nil {
		b := e.Quota(req)
		if !s.AllowN(e.Vendor, region, arr.AppID, b.PerSecond, b.Burst, max(b.N, 1)) {
			s.respond(w, rec, e.Throttled(req))
			return
		}
	}
	s.respond(w, rec, e.Answer(r, req))
}

// Write writes the answer to w without recording it (for paths a vendor
// does not serve).
func (a Answer) Write(w http.ResponseWriter) {
	for k, v := range a.Header {
		w.Header()[k] = v
	}
	if a.ContentType != "" {
		w.Header().Set("Content-Type", a.ContentType)
	}
	w.WriteHeader(a.Status)
	if a.Body != "" {
		_, _ = io.WriteString(w, a.Body)
	}
}

// respond writes a, records it and queues its receipts.
func (s *Simulator) respond(w http.ResponseWriter, rec *Request, a Answer) {
	a.Write(w)
	s.finish(rec, a)
	if len(a.Receipts) > 0 {
		s.queueReceipts(rec.Vendor, rec.Region, rec.AppID, a.Receipts)
	}
}
