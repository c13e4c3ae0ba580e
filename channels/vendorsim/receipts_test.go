package vendorsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/channels/harmonyos"
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/honor"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/oppo"
	"github.com/pushpipe/pushpipe/channels/selfchannel"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	honorsim "github.com/pushpipe/pushpipe/channels/vendorsim/honor"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
	"github.com/pushpipe/pushpipe/channels/vivo"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/receipts"
)

const (
	rcptApp    = "rcpt-app"
	rcptRegion = "sg"
	rcptSeed   = 42
)

// receiver stands in for a region's receipts worker: it parses every body
// with the worker's own parsers and keeps what a 2xx answer accepted.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	answer   func(n int) int // HTTP status of the n-th request (from 1); nil: 200
	requests int
	got      []gotReceipt
	problems []string
}

// gotReceipt is one receipt a receiver accepted, with its endpoint.
type gotReceipt struct {
	endpoint string
	r        receipts.Receipt
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	endpoint, ok := strings.CutPrefix(r.URL.Path, "/receipts/")
	body, err := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if rc.answer != nil {
		if status := rc.answer(rc.requests); status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
	}
	parse := map[string]func([]byte) (receipts.Parsed, error){
		"hms": receipts.ParseHMS, "honor": receipts.ParseHonor, "harmonyos": receipts.ParseHarmonyOS, "mipush": receipts.ParseMiPush,
		"oppo": receipts.ParseOPPO, "vivo": receipts.ParseVivo,
		"client": func(b []byte) (receipts.Parsed, error) {
			return receipts.ParseClient(b, receipts.DefaultMaxClientEvents)
		},
	}[endpoint]
	if !ok || r.Method != http.MethodPost || err != nil || parse == nil {
		rc.problems = append(rc.problems, fmt.Sprintf("%s %s: not a receipt endpoint (%v)", r.Method, r.URL.Path, err))
		w.WriteHeader(http.StatusNotFound)
		return
	}
	p, err := parse(body)
	if err != nil || len(p.Skipped) > 0 {
		rc.problems = append(rc.problems, fmt.Sprintf("%s: %v, skipped %v, body %s", endpoint, err, p.Skipped, body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, rec := range p.Receipts {
		rc.got = append(rc.got, gotReceipt{endpoint: endpoint, r: rec})
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) snapshot() (requests int, got []gotReceipt, problems []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.requests, slices.Clone(rc.got), slices.Clone(rc.problems)
}

// vendorCase is one simulated vendor with the real channel client for it.
type vendorCase struct {
	vendor string
	// endpoint receives the vendor's arrivals.
	endpoint string
	// batches tells that the channel sends messages sharing a content in
	// one call, whose correlation value is then the common MsgID.
	batches bool
	token   func(i int) string
	app     func(c *vendorsim.Config)
	// channel is the vendor's channel; signer, if set, tags the callback
	// parameters of MiPush, OPPO and vivo.
	channel func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel
}

// must returns the channel a constructor returned, failing the test on
// its error: must(mipush.New(cfg))(t).
func must[C any](c C, err error) func(t *testing.T) C {
	return func(t *testing.T) C {
		t.Helper()
		if err != nil {
			t.Fatalf("creating channel: %v", err)
		}
		return c
	}
}

func vendorCases() []vendorCase {
	plain := func(prefix string) func(int) string {
		return func(i int) string { return fmt.Sprintf("%s-%04d", prefix, i) }
	}
	return []vendorCase{
		{vendor: vendorsim.VendorMiPush, endpoint: "mipush", batches: true, token: plain("regid"),
			app: func(c *vendorsim.Config) {
				c.MiPush.Apps = []vendorsim.MiPushApp{{AppID: rcptApp, Secret: "mi-secret", PackageName: "com.example.rcpt"}}
			},
			channel: func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel {
				return must(mipush.New(mipush.Config{Endpoint: mipush.Endpoint{Region: rcptRegion, BaseURL: srv.MiPushBaseURL(rcptRegion),
					Apps: map[string]mipush.App{rcptApp: {AppSecret: "mi-secret", PackageName: "com.example.rcpt"}}}, ReceiptSigner: signer}))(t)
			}},
		{vendor: vendorsim.VendorHMS, endpoint: "hms", batches: true, token: plain("IQAAAAACy0f7"),
			app: func(c *vendorsim.Config) {
				c.HMS.Apps = []vendorsim.HMSApp{{AppID: rcptApp, ClientID: "104000001", ClientSecret: "hms-secret"}}
			},
			channel: func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel {
				return must(hms.New(hms.Config{Endpoint: hms.Endpoint{Region: rcptRegion, BaseURL: srv.HMSBaseURL(rcptRegion),
					Apps: map[string]hms.App{rcptApp: {AppID: "104000001", AppSecret: "hms-secret"}}}, AuthURL: srv.HMSAuthURL(rcptRegion)}))(t)
			}},
		{vendor: vendorsim.VendorHonor, endpoint: "honor", batches: true, token: plain("BAEAAAAAB"),
			app: func(c *vendorsim.Config) {
				c.Honor.Apps = []vendorsim.HonorApp{{AppID: rcptApp, HonorAppID: "104000002", ClientID: "honor-client", ClientSecret: "honor-secret"}}
			},
			channel: func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel {
				return must(honor.New(honor.Config{Endpoint: honor.Endpoint{Region: rcptRegion, BaseURL: srv.HonorBaseURL(rcptRegion),
					Apps: map[string]honor.App{rcptApp: {AppID: "104000002", ClientID: "honor-client", ClientSecret: "honor-secret"}}},
					AuthURL: srv.HonorBaseURL(rcptRegion) + honorsim.AuthPath}))(t)
			}},
		{vendor: vendorsim.VendorHarmonyOS, endpoint: "harmonyos", batches: true, token: plain("MAAALgE4G98"),
			app: func(c *vendorsim.Config) {
				_, key := simtest.Keys()
				c.HarmonyOS.Apps = []vendorsim.HarmonyOSApp{{AppID: rcptApp, ProjectID: "101653523863785276", ClientID: "6917562345678901234",
					KeyID: "rcpt-kid", SubAccount: "107783917", PrivateKey: channels.Secret(key)}}
			},
			channel: func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel {
				_, key := simtest.Keys()
				return must(harmonyos.New(harmonyos.Config{Endpoint: harmonyos.Endpoint{Region: rcptRegion, BaseURL: srv.HarmonyOSBaseURL(rcptRegion),
					Apps: map[string]harmonyos.App{rcptApp: {ProjectID: "101653523863785276", ClientID: "6917562345678901234",
						KeyID: "rcpt-kid", SubAccount: "107783917", PrivateKey: channels.Secret(key)}}}}))(t)
			}},
		{vendor: vendorsim.VendorOPPO, endpoint: "oppo", token: plain("OPPO_SG"),
			app: func(c *vendorsim.Config) {
				c.OPPO.Apps = []vendorsim.OPPOApp{{AppID: rcptApp, AppKey: "oppo-key", MasterSecret: "oppo-master"}}
			},
			channel: func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel {
				return must(oppo.New(oppo.Config{Endpoint: oppo.Endpoint{Region: rcptRegion, BaseURL: srv.OPPOBaseURL(rcptRegion),
					Apps: map[string]oppo.App{rcptApp: {AppKey: "oppo-key", MasterSecret: "oppo-master"}}}, ReceiptSigner: signer}))(t)
			}},
		{vendor: vendorsim.VendorVivo, endpoint: "vivo", batches: true, token: plain("v2-regid"),
			app: func(c *vendorsim.Config) {
				c.Vivo.Apps = []vendorsim.VivoApp{{AppID: rcptApp, VivoAppID: "104000003", AppKey: "vivo-key", AppSecret: "vivo-secret"}}
			},
			channel: func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel {
				return must(vivo.New(vivo.Config{Endpoint: vivo.Endpoint{Region: rcptRegion, BaseURL: srv.VivoBaseURL(rcptRegion),
					Apps: map[string]vivo.App{rcptApp: {AppID: "104000003", AppKey: "vivo-key", AppSecret: "vivo-secret"}}}, ReceiptSigner: signer}))(t)
			}},
		{vendor: vendorsim.VendorAPNs, endpoint: "client", token: func(i int) string { return fmt.Sprintf("%064x", i+1) },
			app: func(c *vendorsim.Config) {
				key, _ := simtest.Keys()
				c.APNs.Apps = []vendorsim.APNsApp{{AppID: rcptApp, TeamID: "TEAM000001", KeyID: "KEY0000001",
					BundleID: "com.example.rcpt", PrivateKey: channels.Secret(key)}}
			},
			channel: func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel {
				key, _ := simtest.Keys()
				ch := must(apns.New(apns.Config{Region: rcptRegion, BaseURL: srv.APNsBaseURL(rcptRegion), RootCAs: srv.CertPool(),
					Apps: map[string]apns.App{rcptApp: {TeamID: "TEAM000001", KeyID: "KEY0000001", BundleID: "com.example.rcpt",
						PrivateKey: channels.Secret(key)}}}))(t)
				t.Cleanup(func() { _ = ch.Close() })
				return ch
			}},
		{vendor: vendorsim.VendorFCM, endpoint: "client", token: plain("fcm-token"),
			app: func(c *vendorsim.Config) {
				_, key := simtest.Keys()
				c.FCM.Apps = []vendorsim.FCMApp{{AppID: rcptApp, ProjectID: "rcpt-project",
					ClientEmail: "rcpt@rcpt-project.iam.gserviceaccount.com", PrivateKey: channels.Secret(key)}}
			},
			channel: func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel {
				_, key := simtest.Keys()
				return must(fcm.New(fcm.Config{Region: rcptRegion, BaseURL: srv.FCMBaseURL(rcptRegion), RootCAs: srv.CertPool(),
					Apps: map[string]fcm.App{rcptApp: {ProjectID: "rcpt-project", ClientEmail: "rcpt@rcpt-project.iam.gserviceaccount.com",
						PrivateKey: channels.Secret(key), TokenURI: srv.FCMTokenURL(rcptRegion)}}}))(t)
			}},
		{vendor: vendorsim.VendorSelf, endpoint: "client", token: plain("self-token"),
			app: func(c *vendorsim.Config) {
				c.Self.Apps = []vendorsim.SelfApp{{AppID: rcptApp, AppKey: "self-key"}}
			},
			channel: func(t *testing.T, srv *vendorsim.Server, signer channels.ReceiptSigner) channels.Channel {
				return must(selfchannel.New(selfchannel.Config{Region: rcptRegion, BaseURL: srv.SelfBaseURL(rcptRegion),
					Apps: map[string]selfchannel.App{rcptApp: {AppKey: "self-key"}}}))(t)
			}},
	}
}

// startReceiptSim starts a simulator serving vc's vendor whose receipts
// of rcptRegion go to rc.
func startReceiptSim(t *testing.T, vc vendorCase, rc *receiver, rcfg vendorsim.ReceiptsConfig) *vendorsim.Server {
	t.Helper()
	if rcfg.URLs == nil {
		rcfg.URLs = map[string]string{rcptRegion: rc.srv.URL}
	}
	return start(t, func(c *vendorsim.Config) {
		c.Seed, c.Receipts = rcptSeed, rcfg
		vc.app(c)
	})
}

// sentMessages are the messages a test sent, by token: the correlation
// value each call carried, and the token of each delivery id.
type sentMessages struct {
	correlation map[string]string // token -> biTag / callback parameter / deliveryId
	byDelivery  map[string]string // delivery id -> token
}

// sendMessages sends, through the vendor's real channel, one message to
// multi tokens (one call carrying the msg id, for vendors that batch) and
// singles messages of their own (each call carrying its delivery id), plus
// one message to an invalid token, which gets no receipts.
func sendMessages(t *testing.T, vc vendorCase, ch channels.Channel, multi, singles int) sentMessages {
	t.Helper()
	sm := sentMessages{correlation: map[string]string{}, byDelivery: map[string]string{}}
	msg := func(msgID, device, token string) channels.Message {
		return channels.Message{DeliveryID: testinfra.IDKey().DeliveryID(rcptApp, msgID, device), MsgID: msgID, TaskID: "task-" + msgID,
			AppID: rcptApp, DeviceID: device, Token: token, Title: "Order shipped", Body: "Your order is on its way"}
	}
	var calls [][]channels.Message
	var shared []channels.Message
	for i := range multi {
		shared = append(shared, msg("msg-shared", fmt.Sprintf("dev-%d", i), vc.token(i)))
	}
	calls = append(calls, shared)
	for i := multi; i < multi+singles; i++ {
		calls = append(calls, []channels.Message{msg(fmt.Sprintf("msg-single-%d", i), fmt.Sprintf("dev-%d", i), vc.token(i))})
	}
	for _, call := range calls {
		res, err := ch.Send(t.Context(), call)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		for i, m := range call {
			if res[i].Outcome != channels.Success {
				t.Fatalf("result of %s: %+v, want success", m.Token, res[i])
			}
			sm.correlation[m.Token], sm.byDelivery[m.DeliveryID] = m.DeliveryID, m.Token
			if vc.batches && len(call) > 1 {
				sm.correlation[m.Token] = m.MsgID
			}
		}
	}
	bad := msg("msg-bad", "dev-bad", "bad-"+vc.token(0))
	if res, err := ch.Send(t.Context(), []channels.Message{bad}); err == nil && res[0].Outcome == channels.Success {
		t.Fatalf("invalid token accepted: %+v", res[0])
	}
	return sm
}

// tally counts, per token, the receipts of each kind a receiver accepted,
// checking that each names a token that was sent, carries the correlation
// value its call carried and came to the endpoint of its kind.
func tally(t *testing.T, vc vendorCase, sm sentMessages, got []gotReceipt) map[string]vendorsim.ReceiptFate {
	t.Helper()
	counts := map[string]map[schema.EventType]int{}
	for _, g := range got {
		wantEndpoint := "client"
		if g.r.Event == schema.EventArrived {
			wantEndpoint = vc.endpoint
		}
		if g.endpoint != wantEndpoint {
			t.Errorf("%s receipt posted to /receipts/%s, want /receipts/%s", g.r.Event, g.endpoint, wantEndpoint)
		}
		var tokens []string
		correlation := g.r.MsgID
		if g.r.DeliveryID != "" {
			correlation = g.r.DeliveryID
			tok, ok := sm.byDelivery[g.r.DeliveryID]
			if !ok || (len(g.r.Tokens) > 0 && !slices.Equal(g.r.Tokens, []string{tok})) {
				t.Errorf("receipt %+v names no delivery that was sent", g.r)
				continue
			}
			tokens = []string{tok}
		} else {
			tokens = g.r.Tokens
		}
		for _, tok := range tokens {
			want, ok := sm.correlation[tok]
			if !ok {
				t.Errorf("receipt %+v for token %s, which was not accepted", g.r, tok)
				continue
			}
			if correlation != want {
				t.Errorf("receipt of %s carries %q, want the call's %q", tok, correlation, want)
			}
			if counts[tok] == nil {
				counts[tok] = map[schema.EventType]int{}
			}
			counts[tok][g.r.Event]++
		}
	}
	out := map[string]vendorsim.ReceiptFate{}
	for tok, c := range counts {
		for ev, n := range c {
			if n != 1 {
				t.Errorf("token %s got %d %s receipts, want at most 1", tok, n, ev)
			}
		}
		out[tok] = vendorsim.ReceiptFate{Arrived: c[schema.EventArrived] > 0, Opened: c[schema.EventOpened] > 0, Ignored: c[schema.EventIgnored] > 0}
	}
	return out
}

func TestReceiptsPerVendor(t *testing.T) {
	rates := []struct {
		scenario                     string
		arrival, open, ignore        float64
		wantSomeArrive, wantSomeMiss bool
	}{
		{scenario: "nothing arrives", arrival: 0, open: 1, ignore: 1, wantSomeMiss: true},
		{scenario: "everything arrives and is opened", arrival: 1, open: 1, ignore: 1, wantSomeArrive: true},
		{scenario: "every arrival is ignored", arrival: 1, open: 0, ignore: 1, wantSomeArrive: true},
		{scenario: "fractional rates", arrival: 0.6, open: 0.4, ignore: 0.5, wantSomeArrive: true, wantSomeMiss: true},
	}
	for _, vc := range vendorCases() {
		for _, rt := range rates {
			t.Run(vc.vendor+"/"+rt.scenario, func(t *testing.T) {
				rc := newReceiver(t, nil)
				rcfg := vendorsim.ReceiptsConfig{ArrivalRate: rt.arrival, OpenRate: rt.open, IgnoreRate: rt.ignore,
					Delay: vendorsim.Duration(time.Millisecond), MaxBatch: 7}
				srv := startReceiptSim(t, vc, rc, rcfg)
				if srv.Seed() != rcptSeed {
					t.Fatalf("Seed() = %d, want the configured %d", srv.Seed(), rcptSeed)
				}
				sm := sendMessages(t, vc, vc.channel(t, srv, nil), 12, 8)
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				if err := srv.FlushReceipts(ctx); err != nil {
					t.Fatalf("FlushReceipts: %v", err)
				}
				_, got, problems := rc.snapshot()
				for _, p := range problems {
					t.Errorf("receiver: %s", p)
				}
				seen := tally(t, vc, sm, got)

				var want vendorsim.ReceiptCounters
				arrived, missed := 0, 0
				for tok, corr := range sm.correlation {
					f := rcfg.Fate(rcptSeed, corr, tok)
					if seen[tok] != f {
						t.Errorf("token %s (correlation %s): receipts %+v, want %+v", tok, corr, seen[tok], f)
					}
					for _, k := range []struct {
						n   *vendorsim.ReceiptEventCounts
						yes bool
					}{{&want.Arrivals, f.Arrived}, {&want.Opens, f.Opened}, {&want.Ignores, f.Ignored}} {
						if k.yes {
							k.n.Decided++
							k.n.Posted++
							k.n.Acked++
						}
					}
					if f.Arrived {
						arrived++
					} else {
						missed++
					}
				}
				if (arrived > 0) != rt.wantSomeArrive || (missed > 0) != rt.wantSomeMiss {
					t.Errorf("%d of %d tokens arrived with rate %g", arrived, arrived+missed, rt.arrival)
				}
				st := srv.ReceiptStats().App(vc.vendor, rcptRegion, rcptApp)
				if st.Arrivals != want.Arrivals || st.Opens != want.Opens || st.Ignores != want.Ignores {
					t.Errorf("receipt stats\n got arrivals %+v opens %+v ignores %+v\nwant arrivals %+v opens %+v ignores %+v",
						st.Arrivals, st.Opens, st.Ignores, want.Arrivals, want.Opens, want.Ignores)
				}
				if st.FailedPosts != 0 || st.Retries != 0 {
					t.Errorf("failed posts %d, retries %d, want none", st.FailedPosts, st.Retries)
				}
			})
		}
	}
}

// fixedSend sends five messages through MiPush in one call (msg id
// correlation) and returns the simulator and the receiver.
func fixedSend(t *testing.T, answer func(n int) int, rcfg vendorsim.ReceiptsConfig) (*vendorsim.Server, *receiver) {
	t.Helper()
	vc := vendorCases()[0]
	rc := newReceiver(t, answer)
	srv := startReceiptSim(t, vc, rc, rcfg)
	sendMessages(t, vc, vc.channel(t, srv, nil), 5, 0)
	return srv, rc
}

func TestReceiptPostRetries(t *testing.T) {
	closedURL := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u := "http://" + ln.Addr().String()
		_ = ln.Close()
		return u
	}
	tests := []struct {
		scenario string
		answer   func(n int) int
		closed   bool // post to a port nothing listens on
		// want: POST attempts, of them failed, arrivals acked and failed.
		wantPosts, wantFailedPosts, wantAcked, wantFailed int64
	}{
		{scenario: "two 503 answers, then success", answer: func(n int) int { return map[bool]int{true: 503, false: 200}[n <= 2] },
			wantPosts: 3, wantFailedPosts: 2, wantAcked: 5},
		{scenario: "500 until the attempts run out", answer: func(int) int { return 500 },
			wantPosts: 4, wantFailedPosts: 4, wantFailed: 5},
		{scenario: "a 400 answer is not retried", answer: func(int) int { return 400 },
			wantPosts: 1, wantFailedPosts: 1, wantFailed: 5},
		{scenario: "a 429 answer is not retried", answer: func(int) int { return 429 },
			wantPosts: 1, wantFailedPosts: 1, wantFailed: 5},
		{scenario: "connection refused is retried", closed: true,
			wantPosts: 4, wantFailedPosts: 4, wantFailed: 5},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			rcfg := vendorsim.ReceiptsConfig{ArrivalRate: 1, MaxAttempts: 4, RetryBackoff: vendorsim.Duration(time.Millisecond)}
			if tc.closed {
				rcfg.URLs = map[string]string{rcptRegion: closedURL(t)}
			}
			srv, rc := fixedSend(t, tc.answer, rcfg)
			if err := srv.FlushReceipts(t.Context()); err != nil {
				t.Fatalf("FlushReceipts: %v", err)
			}
			st := srv.ReceiptStats().App(vendorsim.VendorMiPush, rcptRegion, rcptApp)
			if st.Posts != tc.wantPosts || st.FailedPosts != tc.wantFailedPosts || st.Retries != tc.wantPosts-1 {
				t.Errorf("posts %d failed %d retries %d, want %d, %d, %d", st.Posts, st.FailedPosts, st.Retries,
					tc.wantPosts, tc.wantFailedPosts, tc.wantPosts-1)
			}
			want := vendorsim.ReceiptEventCounts{Decided: 5, Posted: 5, Acked: tc.wantAcked, Failed: tc.wantFailed}
			if st.Arrivals != want {
				t.Errorf("arrivals %+v, want %+v", st.Arrivals, want)
			}
			requests, got, _ := rc.snapshot()
			if !tc.closed && int64(requests) != tc.wantPosts {
				t.Errorf("receiver got %d requests, want %d", requests, tc.wantPosts)
			}
			if int64(len(got)) != min(tc.wantAcked, 1) {
				t.Errorf("receiver accepted %d receipt items, want %d (one per MiPush message)", len(got), min(tc.wantAcked, 1))
			}
		})
	}
}

func TestReceiptQueueBoundAndClose(t *testing.T) {
	t.Run("a full queue drops and counts", func(t *testing.T) {
		srv, rc := fixedSend(t, nil, vendorsim.ReceiptsConfig{ArrivalRate: 1, QueueSize: 3, Delay: vendorsim.Duration(time.Hour)})
		if err := srv.FlushReceipts(t.Context()); err != nil {
			t.Fatalf("FlushReceipts: %v", err)
		}
		st := srv.ReceiptStats().App(vendorsim.VendorMiPush, rcptRegion, rcptApp)
		if want := (vendorsim.ReceiptEventCounts{Decided: 5, Posted: 3, Acked: 3, Dropped: 2}); st.Arrivals != want {
			t.Errorf("arrivals %+v, want %+v", st.Arrivals, want)
		}
		if _, got, _ := rc.snapshot(); len(got) != 1 || len(got[0].r.Tokens) != 3 {
			t.Errorf("receiver got %+v, want one receipt naming 3 tokens", got)
		}
	})
	t.Run("Close posts what waits for its delay", func(t *testing.T) {
		srv, rc := fixedSend(t, nil, vendorsim.ReceiptsConfig{ArrivalRate: 1, OpenRate: 1, Delay: vendorsim.Duration(time.Hour)})
		if _, got, _ := rc.snapshot(); len(got) != 0 {
			t.Fatalf("receipts posted before their delay: %+v", got)
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		st := srv.ReceiptStats().App(vendorsim.VendorMiPush, rcptRegion, rcptApp)
		if st.Arrivals.Acked != 5 || st.Opens.Acked != 5 {
			t.Errorf("after Close: arrivals %+v opens %+v, want 5 acked each", st.Arrivals, st.Opens)
		}
		if err := srv.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("Close gives up on a receiver that does not answer", func(t *testing.T) {
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		t.Cleanup(hang.Close)
		t.Cleanup(func() { close(release) })
		vc := vendorCases()[0]
		srv := startReceiptSim(t, vc, nil, vendorsim.ReceiptsConfig{ArrivalRate: 1, URLs: map[string]string{rcptRegion: hang.URL},
			Delay: vendorsim.Duration(time.Millisecond), CloseTimeout: vendorsim.Duration(50 * time.Millisecond)})
		sendMessages(t, vc, vc.channel(t, srv, nil), 5, 0)
		if err := srv.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		st := srv.ReceiptStats().App(vendorsim.VendorMiPush, rcptRegion, rcptApp)
		if a := st.Arrivals; a.Decided != 5 || a.Acked != 0 || a.Failed+a.Dropped != 5 {
			t.Errorf("arrivals %+v, want 5 decided, none acked, all failed or dropped", a)
		}
	})
}

func TestReceiptsGoToTheirRegion(t *testing.T) {
	sg, eu := newReceiver(t, nil), newReceiver(t, nil)
	vc := vendorCases()[0]
	srv := startReceiptSim(t, vc, nil, vendorsim.ReceiptsConfig{ArrivalRate: 1,
		URLs: map[string]string{"sg": sg.srv.URL, "eu": eu.srv.URL + "/"}})
	for _, region := range []string{"sg", "eu", "in"} {
		ch := must(mipush.New(mipush.Config{Endpoint: mipush.Endpoint{Region: region, BaseURL: srv.MiPushBaseURL(region),
			Apps: map[string]mipush.App{rcptApp: {AppSecret: "mi-secret", PackageName: "com.example.rcpt"}}}}))(t)
		m := channels.Message{DeliveryID: testinfra.IDKey().DeliveryID(rcptApp, "m-"+region, "dev"), MsgID: "m-" + region, AppID: rcptApp,
			DeviceID: "dev", Token: "regid-" + region, Title: "T", Body: "B"}
		if res, err := ch.Send(t.Context(), []channels.Message{m}); err != nil || res[0].Outcome != channels.Success {
			t.Fatalf("Send in %s: %v %+v", region, err, res)
		}
	}
	if err := srv.FlushReceipts(t.Context()); err != nil {
		t.Fatalf("FlushReceipts: %v", err)
	}
	for _, tc := range []struct {
		scenario string
		rc       *receiver
		want     string
	}{{"sg receipts to the sg worker", sg, testinfra.IDKey().DeliveryID(rcptApp, "m-sg", "dev")}, {"eu receipts to the eu worker", eu, testinfra.IDKey().DeliveryID(rcptApp, "m-eu", "dev")}} {
		_, got, problems := tc.rc.snapshot()
		if len(problems) > 0 || len(got) != 1 || got[0].r.DeliveryID != tc.want {
			t.Errorf("%s: got %+v (problems %v), want one arrival of %s", tc.scenario, got, problems, tc.want)
		}
	}
	if st := srv.ReceiptStats().App(vendorsim.VendorMiPush, "in", rcptApp); st != (vendorsim.ReceiptCounters{}) {
		t.Errorf("region without a URL has receipt counters %+v", st)
	}
}

func TestReceiptsAdminAPIAndReset(t *testing.T) {
	srv, _ := fixedSend(t, nil, vendorsim.ReceiptsConfig{ArrivalRate: 1, Delay: vendorsim.Duration(time.Hour)})
	resp, err := http.Post(srv.URL()+"/admin/receipts/flush", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var flushed vendorsim.ReceiptStats
	err = json.NewDecoder(resp.Body).Decode(&flushed)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("flush answer %d: %v", resp.StatusCode, err)
	}
	if a := flushed.App(vendorsim.VendorMiPush, rcptRegion, rcptApp).Arrivals; a.Acked != 5 {
		t.Errorf("flush answer arrivals %+v, want 5 acked", a)
	}
	resp, err = http.Get(srv.URL() + "/admin/receipts")
	if err != nil {
		t.Fatal(err)
	}
	var got vendorsim.ReceiptStats
	err = json.NewDecoder(resp.Body).Decode(&got)
	_ = resp.Body.Close()
	if err != nil || got.Total() != srv.ReceiptStats().Total() || got.Total().Arrivals.Acked != 5 {
		t.Errorf("GET /admin/receipts total %+v (%v), want %+v", got.Total(), err, srv.ReceiptStats().Total())
	}
	srv.Reset()
	if tot := srv.ReceiptStats().Total(); tot != (vendorsim.ReceiptCounters{}) {
		t.Errorf("after Reset: %+v, want zero counters", tot)
	}
}

func TestReceiptsConfigValidation(t *testing.T) {
	base := func() vendorsim.Config {
		return vendorsim.Config{MiPush: vendorsim.MiPushConfig{Apps: []vendorsim.MiPushApp{{AppID: "a", Secret: "s", PackageName: "p"}}}}
	}
	tests := []struct {
		scenario string
		rcfg     vendorsim.ReceiptsConfig
		wantErr  string // "" = valid
	}{
		{"off by default", vendorsim.ReceiptsConfig{}, ""},
		{"demo rates", vendorsim.ReceiptsConfig{URLs: map[string]string{"sg": "http://127.0.0.1:18100"}, ArrivalRate: 0.9, OpenRate: 0.3, IgnoreRate: 0.5}, ""},
		{"unknown region", vendorsim.ReceiptsConfig{URLs: map[string]string{"us": "http://127.0.0.1:1"}}, `unknown region "us"`},
		{"not a URL", vendorsim.ReceiptsConfig{URLs: map[string]string{"sg": "127.0.0.1:18100"}}, "not an http(s) base URL"},
		{"arrival rate over 1", vendorsim.ReceiptsConfig{ArrivalRate: 1.5}, "arrivalRate must be a fraction within 0..1"},
		{"negative open rate", vendorsim.ReceiptsConfig{OpenRate: -0.1}, "openRate"},
		{"ignore rate NaN", vendorsim.ReceiptsConfig{IgnoreRate: math.NaN()}, "ignoreRate"},
		{"negative delay", vendorsim.ReceiptsConfig{Delay: vendorsim.Duration(-time.Second)}, "delay must not be negative"},
		{"batch over the client limit", vendorsim.ReceiptsConfig{MaxBatch: 501}, "maxBatch must be within 1..500"},
		{"negative attempts", vendorsim.ReceiptsConfig{MaxAttempts: -1}, "maxAttempts"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			cfg := base()
			cfg.Receipts = tc.rcfg
			sim, err := allvendors.New(cfg)
			if sim != nil {
				sim.Close()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// collector keeps what the receipts worker publishes.
type collector struct {
	mu   sync.Mutex
	outs []pipeline.Output
}

func (c *collector) Produce(_ context.Context, outs []pipeline.Output) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outs = append(c.outs, outs...)
	return nil
}

// TestSimulatedReceiptsPassTheReceiptsWorker posts every vendor's
// simulated receipts, signed with the app's credentials (or echoing the
// tagged parameters of the calls), to a real receipts worker that checks
// them: every receipt is taken, and every event names the app and a
// delivery that was sent. Without credentials, the same receipts are all
// refused.
func TestSimulatedReceiptsPassTheReceiptsWorker(t *testing.T) {
	key := testinfra.IDKey()
	creds := vendorsim.ReceiptCredentials{HMSUser: "hms-user", HMSKey: "hms-callback-key", HarmonyOSUser: "hos-user",
		HarmonyOSKey: "hos-callback-key", HonorToken: "honor-token-0123456", ClientKey: "client-key-0123456"}
	workerCreds := receipts.AppCredentials{Huawei: map[string]receipts.HuaweiCallback{
		"hms":       {User: creds.HMSUser, Key: creds.HMSKey},
		"harmonyos": {User: creds.HarmonyOSUser, Key: creds.HarmonyOSKey},
	}, HonorToken: creds.HonorToken, ClientKey: creds.ClientKey}
	for _, vc := range vendorCases() {
		for _, signed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/signed %t", vc.vendor, signed), func(t *testing.T) {
				prod := &collector{}
				w, err := receipts.New(receipts.Config{Region: rcptRegion, Producer: prod, IDKey: key,
					Apps: map[string]receipts.AppCredentials{rcptApp: workerCreds}})
				if err != nil {
					t.Fatal(err)
				}
				hs := httptest.NewServer(w.Handler())
				t.Cleanup(hs.Close)
				rcfg := vendorsim.ReceiptsConfig{ArrivalRate: 1, OpenRate: 0.5, IgnoreRate: 1, Delay: vendorsim.Duration(time.Millisecond),
					URLs: map[string]string{rcptRegion: hs.URL}, MaxAttempts: 1}
				var signer channels.ReceiptSigner
				if signed {
					rcfg.Credentials = map[string]vendorsim.ReceiptCredentials{rcptApp: creds}
					signer = key
				}
				srv := startReceiptSim(t, vc, nil, rcfg)
				sm := sendMessages(t, vc, vc.channel(t, srv, signer), 6, 4)
				if err := srv.FlushReceipts(t.Context()); err != nil {
					t.Fatal(err)
				}
				st := srv.ReceiptStats().App(vc.vendor, rcptRegion, rcptApp)
				if !signed {
					if st.Arrivals.Decided == 0 || st.Arrivals.Acked != 0 || st.Opens.Acked != 0 || st.Ignores.Acked != 0 || len(prod.outs) != 0 {
						t.Fatalf("unsigned receipts: %+v, %d events published; want every one refused", st, len(prod.outs))
					}
					return
				}
				for _, k := range []vendorsim.ReceiptEventCounts{st.Arrivals, st.Opens, st.Ignores} {
					if k.Decided == 0 || k.Acked != k.Decided || k.Failed != 0 {
						t.Fatalf("receipt counters %+v: want every decided receipt taken", st)
					}
				}
				for _, o := range prod.outs {
					var e schema.Event
					if err := json.Unmarshal(o.Value, &e); err != nil {
						t.Fatal(err)
					}
					_, ofDelivery := sm.byDelivery[e.DeliveryID]
					_, ofToken := sm.correlation[e.Token]
					if e.ReceiptAppID != rcptApp || !strings.HasPrefix(string(o.Key), rcptApp+"/") || !(ofDelivery || (e.MsgID != "" && ofToken)) {
						t.Fatalf("event %+v keyed %s names no delivery that was sent", e, o.Key)
					}
				}
			})
		}
	}
}
