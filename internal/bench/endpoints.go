package bench

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
)

// Shapes of the endpoint ceilings.
const (
	// endpointLoad is how long h2load loads each endpoint in each of its
	// shapes.
	endpointLoad = 4 * time.Second
	// endpointCaptureMessages is how many messages of one content the
	// captured call is made from: a batching vendor's call carries as
	// many tokens as the sender's (up to the channel's MaxBatch).
	endpointCaptureMessages = 1000
	endpointToolMissed      = "The vendor simulator's endpoint ceilings were not measured: h2load is not installed " +
		"(`make bench` installs Debian's nghttp2-client with scripts/bench-tools.sh when it runs as root with apt-get)."
)

// capturedCall is one vendor call as a channel made it.
type capturedCall struct {
	method, uri string
	header      http.Header
	body        []byte
	tls         bool
	// tokens is how many device tokens the call carries.
	tokens int
}

// captureTokenPrefix starts every token of the captured calls but APNs's
// (whose one token is in the path).
const captureTokenPrefix = "tok-capture-"

// endpointShapesH1 are the shapes (h2load clients, requests under way on
// each) that load an HTTP/1.1 endpoint, one request at a time a
// connection; endpointShapesH2 an HTTP/2 one over TLS (the vendors the
// simulator serves on its TLS listener, APNs and FCM: endpointTLSVendors),
// since which one the simulator answers fastest depends on the machine.
// A ceiling is the best of its shapes, so that no sender figure beats its
// ceiling for want of the shape the sender happens to use. On this
// machine the deepest shape, 4×250 (the simulator's HTTP/2 server takes
// 250 streams a connection), was the best for both APNs and FCM: h2load
// spends the least CPU a call with many streams a connection (11-15 µs
// against 15-19 at 8×100), which leaves the shared cores to the
// simulator; 16×8, which replaced it, was always the worst (18-30 µs a
// call).
var (
	endpointShapesH1 = []shape{{32, 1}, {64, 1}}
	endpointShapesH2 = []shape{{2, 100}, {8, 100}, {4, 250}}
)

// endpointMeter measures what the simulator's endpoint of a vendor of
// senderVendors takes at most, with a client pushpipe did not write: one
// real call of the vendor's channel (credentials, body and tokens as the
// sender sends them) is captured, then replayed by h2load for
// endpointLoad in each of its shapes. The ceiling is the best shape's 2xx
// answers a second times the tokens of the call, checked against the
// messages the simulator accepted. runSender measures each vendor's
// ceiling right before its sender figure, so that both see the machine
// in the same minute (its speed drifts by 10% and more from one minute to
// the next on shared cores).
type endpointMeter struct {
	env    *runEnv
	sim    *demoSim
	region string
	h2load string
	calls  map[string]capturedCall
}

// newEndpointMeter captures each vendor's call. Without h2load the report
// says so, and it returns nil.
func newEndpointMeter(ctx context.Context, env *runEnv, sim *demoSim, region string) (*endpointMeter, error) {
	h2load, err := exec.LookPath("h2load")
	if err != nil {
		env.note("%s", endpointToolMissed)
		return nil, nil
	}
	calls, err := captureVendorCalls(ctx, env.work, sim, region)
	if err != nil {
		return nil, err
	}
	return &endpointMeter{env: env, sim: sim, region: region, h2load: h2load, calls: calls}, nil
}

// ceiling returns the ceiling figures of vendor v. An endpoint whose
// channel made no call, or that refuses the replayed call in every shape,
// gets a note in the report instead of a figure.
func (m *endpointMeter) ceiling(ctx context.Context, v string) []Figure {
	c, ok := m.calls[v]
	if !ok {
		m.env.note("The %s endpoint ceiling was not measured: its channel made no call to replay.", v)
		return nil
	}
	shapes := endpointShapesH1
	if c.tls {
		shapes = endpointShapesH2
	}
	var r endpointResult
	var failed []string
	for _, sh := range shapes {
		got, err := loadEndpoint(ctx, m.h2load, m.env.work, m.sim, m.region, v, c, sh)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", shapesText([]shape{sh}), err))
			continue
		}
		if got.deliveriesPerS > r.deliveriesPerS {
			r = got
		}
	}
	if r.deliveriesPerS == 0 {
		m.env.note("The %s endpoint ceiling was not measured: %s.", v, strings.Join(failed, "; "))
		return nil
	}
	m.env.say("%s endpoint (%s, best of %s: %s): %.0f deliveries/s, %.0f calls/s of %.0f tokens, h2load's CPU %.1f µs a call",
		v, r.proto, shapesText(shapes), shapesText([]shape{r.shape}), r.deliveriesPerS, r.callsPerS, r.tokensPerCall, r.clientUSPerCall)
	return []Figure{{endpointCeiling(v), round(r.deliveriesPerS, 0), "deliveries/s"},
		{"vendorsim_" + v + "_ceiling_tokens_per_call", round(r.tokensPerCall, 1), "tokens"}}
}

// endpointTLSVendors are the vendors of senderVendors the simulator
// serves on its TLS listener over HTTP/2 (channels.Vendor.SimulatorTLS),
// whose endpoints h2load loads over HTTP/2 with TLS, as their channels
// call them.
func endpointTLSVendors() []string {
	var out []string
	for _, v := range senderVendors {
		if d, ok := registry.Lookup(v); ok && d.SimulatorTLS {
			out = append(out, v)
		}
	}
	return out
}

// endpointCeiling is the name of the ceiling figure of vendor v's
// simulator endpoint.
func endpointCeiling(v string) string { return "vendorsim_" + v + "_ceiling_deliveries_per_s" }

// captureVendorCalls sends endpointCaptureMessages messages (or the
// channel's MaxBatch) of one content through each vendor's channel,
// configured as the sender configures it, to recording servers in front
// of sim, and returns each vendor's last successful call (the one that
// carries the tokens; token requests come first).
func captureVendorCalls(ctx context.Context, work string, sim *demoSim, region string) (map[string]capturedCall, error) {
	var mu sync.Mutex
	var calls []capturedCall
	rec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		sim.Simulator.ServeHTTP(sw, r)
		if sw.status < 300 {
			mu.Lock()
			tokens := max(1, strings.Count(r.URL.RequestURI(), captureTokenPrefix)+strings.Count(string(body), captureTokenPrefix))
			calls = append(calls, capturedCall{method: r.Method, uri: r.URL.RequestURI(), header: r.Header.Clone(), body: body,
				tls: r.TLS != nil, tokens: tokens})
			mu.Unlock()
		}
	})
	plain := httptest.NewServer(rec)
	defer plain.Close()
	secure := httptest.NewUnstartedServer(rec)
	secure.EnableHTTP2 = true
	secure.StartTLS()
	defer secure.Close()
	caFile := filepath.Join(work, "capture-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}), 0o644); err != nil {
		return nil, fmt.Errorf("writing the capture server's certificate: %w", err)
	}
	cfg := &config.Config{StateDir: work, Regions: []string{region}, Apps: []config.AppConfig{sim.app}}
	cfg.Defaults()
	cfg.Apps = []config.AppConfig{sim.app}
	cfg.Vendors.Simulator = true
	cfg.Vendors.SimulatorAddr, cfg.Vendors.SimulatorTLSAddr = plain.Listener.Addr().String(), secure.Listener.Addr().String()
	cfg.Vendors.SimulatorCAFile = caFile
	chans, err := app.Channels(cfg, region)
	if err != nil {
		return nil, fmt.Errorf("building the channels whose calls the endpoint ceilings replay: %w", err)
	}
	defer func() {
		for _, ch := range chans {
			if c, ok := ch.(io.Closer); ok {
				_ = c.Close()
			}
		}
	}()
	out := map[string]capturedCall{}
	for _, v := range senderVendors {
		ch, ok := chans[v]
		if !ok {
			continue
		}
		msgs := make([]channels.Message, min(ch.MaxBatch(), endpointCaptureMessages))
		expire := time.Now().Add(time.Hour)
		for i := range msgs {
			dev := fmt.Sprintf("capture-%s-%07d", v, i)
			msgs[i] = channels.Message{DeliveryID: "capture-" + dev, MsgID: "capture-" + v, TaskID: "capture-" + v, AppID: stackApp,
				DeviceID: dev, Token: benchToken(v, dev, i), Title: "Bench", Body: "Hello", ExpireAt: expire}
		}
		mu.Lock()
		from := len(calls)
		mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		res, err := ch.Send(cctx, msgs)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("sending the %s call to replay: %w", v, err)
		}
		for i, r := range res {
			if r.Outcome != channels.Success {
				return nil, fmt.Errorf("sending the %s call to replay: message %d: %s (%d %s)", v, i, r.Outcome, r.StatusCode, r.StatusDesc)
			}
		}
		mu.Lock()
		if len(calls) > from {
			out[v] = calls[len(calls)-1]
		}
		mu.Unlock()
	}
	return out, nil
}

// benchToken is the vendor token of bench device dev (number i): 64 hex
// digits for APNs, tok-<dev> elsewhere (so the capture's tokens start with
// captureTokenPrefix).
func benchToken(v, dev string, i int) string {
	if v == "apns" {
		return fmt.Sprintf("%064x", i+1)
	}
	return "tok-" + dev
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// endpointResult is what h2load reached on one endpoint.
type endpointResult struct {
	proto string
	shape shape
	// clientUSPerCall is h2load's CPU time (user+system) per call.
	clientUSPerCall                          float64
	deliveriesPerS, callsPerS, tokensPerCall float64
}

// loadEndpoint replays c against sim with h2load in shape for
// endpointLoad and returns the deliveries a second it made: 2xx answers
// times the call's tokens. It fails if h2load fails, if the simulator
// answered fewer than 99% of the calls with a 2xx, or accepted fewer
// messages than that.
func loadEndpoint(ctx context.Context, h2load, work string, sim *demoSim, region, v string, c capturedCall, sh shape) (endpointResult, error) {
	args := []string{"-D", strconv.Itoa(int(endpointLoad.Seconds())), "-t", "1", "-c", strconv.Itoa(sh.clients), "-m", strconv.Itoa(sh.size)}
	url, proto := sim.URL()+c.uri, "HTTP/1.1"
	if c.tls {
		url, proto = sim.TLSURL()+c.uri, "HTTP/2 over TLS"
	} else {
		args = append(args, "--h1")
	}
	for name, vals := range c.header {
		switch strings.ToLower(name) {
		case "content-length", "host", "user-agent", "accept-encoding", "connection":
			continue
		}
		for _, val := range vals {
			args = append(args, "-H", strings.ToLower(name)+": "+val)
		}
	}
	if len(c.body) > 0 {
		bodyFile := filepath.Join(work, "endpoint-"+v+".body")
		if err := os.WriteFile(bodyFile, c.body, 0o600); err != nil {
			return endpointResult{}, fmt.Errorf("writing the %s body: %w", v, err)
		}
		args = append(args, "-d", bodyFile)
	}
	if c.method != http.MethodPost && c.method != http.MethodGet {
		args = append(args, "-H", ":method: "+c.method)
	}
	args = append(args, url)
	before, _ := sim.AppCounts(v, region, stackApp)
	cctx, cancel := context.WithTimeout(ctx, endpointLoad+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, h2load, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return endpointResult{}, fmt.Errorf("h2load failed: %w: %s", err, lastLines(out, 5))
	}
	after, _ := sim.AppCounts(v, region, stackApp)
	r, err := parseH2load(out)
	if err != nil {
		return endpointResult{}, err
	}
	// The simulator also counts the calls still under way when h2load
	// stopped counting, so it accepted at least the tokens of every 2xx.
	accepted, want := after.Messages-before.Messages, r.ok2xx*int64(c.tokens)
	if r.ok2xx == 0 || float64(r.ok2xx) < 0.99*float64(r.done) || accepted < want {
		return endpointResult{}, fmt.Errorf("the simulator refused the replayed call (%d of %d calls answered 2xx, %d messages accepted of %d): %s",
			r.ok2xx, r.done, accepted, want, lastLines(out, 8))
	}
	calls := float64(r.ok2xx) / r.elapsed.Seconds()
	// h2load's own CPU time a call (its connections' set-up included):
	// the client shares the machine with the simulator, as the sender does.
	clientUS := float64((cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Microseconds()) / float64(max(r.done, 1))
	return endpointResult{proto: proto, shape: sh, deliveriesPerS: calls * float64(c.tokens), callsPerS: calls, tokensPerCall: float64(c.tokens),
		clientUSPerCall: clientUS}, nil
}

// h2loadResult is what parseH2load reads of h2load's summary.
type h2loadResult struct {
	elapsed     time.Duration
	done, ok2xx int64
}

var (
	h2loadFinished = regexp.MustCompile(`finished in ([0-9.]+)(ms|s),`)
	h2loadRequests = regexp.MustCompile(`requests: \d+ total, \d+ started, (\d+) done`)
	h2loadStatus   = regexp.MustCompile(`status codes: (\d+) 2xx`)
)

// parseH2load reads the elapsed time, the requests done and the 2xx
// answers of h2load's summary.
func parseH2load(out []byte) (h2loadResult, error) {
	var r h2loadResult
	m := h2loadFinished.FindSubmatch(out)
	rq := h2loadRequests.FindSubmatch(out)
	st := h2loadStatus.FindSubmatch(out)
	if m == nil || rq == nil || st == nil {
		return r, fmt.Errorf("reading h2load's summary: %s", lastLines(out, 8))
	}
	secs, _ := strconv.ParseFloat(string(m[1]), 64)
	if string(m[2]) == "ms" {
		secs /= 1000
	}
	r.elapsed = time.Duration(secs * float64(time.Second))
	r.done, _ = strconv.ParseInt(string(rq[1]), 10, 64)
	r.ok2xx, _ = strconv.ParseInt(string(st[1]), 10, 64)
	if r.elapsed <= 0 {
		return r, errors.New("reading h2load's summary: no elapsed time")
	}
	return r, nil
}

// lastLines returns the last n lines of out, joined by " | ".
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
