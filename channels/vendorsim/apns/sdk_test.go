package apns_test

// The simulated APNs against Apple's wire format as a client nobody here
// wrote sees it: github.com/sideshow/apns2 (token auth, its payload builder
// and its own HTTP/2 transport) sends to the simulator, and the tests check
// apns2's Response against Apple's "Handling notification responses from
// APNs" and the recorded request against what apns2 built.

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/payload"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

// apnsHeaders are the request headers apns2 may set; the recorded form
// holds each one that was sent.
var apnsHeaders = []string{"apns-topic", "apns-push-type", "apns-priority", "apns-collapse-id", "apns-expiration", "apns-id"}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// apnsSDKStart starts a simulator whose test app is registered with the
// .p8 key (PKCS#8 PEM) it returns.
func apnsSDKStart(t *testing.T) (*vendorsim.Server, []byte) {
	t.Helper()
	key, keyPEM := apnsKey(t)
	srv := apnsStart(t, key, func(c *vendorsim.APNsConfig) {
		c.Apps[0].PublicKey = ""
		c.Apps[0].PrivateKey = channels.Secret(keyPEM)
	})
	return srv, []byte(keyPEM)
}

// apnsSDKClient returns an apns2 token client of the test app that posts to
// region's base URL on srv over apns2's own HTTP/2 transport, trusting the
// simulator's CA.
func apnsSDKClient(t *testing.T, srv *vendorsim.Server, keyPEM []byte, region string) *apns2.Client {
	t.Helper()
	authKey, err := token.AuthKeyFromBytes(keyPEM)
	if err != nil {
		t.Fatalf("AuthKeyFromBytes: %v", err)
	}
	c := apns2.NewTokenClient(&token.Token{AuthKey: authKey, KeyID: apnsKeyID, TeamID: apnsTeam})
	c.Host = srv.APNsBaseURL(region)
	tr, ok := c.HTTPClient.Transport.(*http2.Transport)
	if !ok {
		t.Fatalf("apns2 transport is a %T, want *http2.Transport", c.HTTPClient.Transport)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: srv.CertPool()}
	c.HTTPClient.Timeout = 10 * time.Second
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// flattenJSON maps every leaf of a JSON document to its path ("aps.alert.
// title") and its JSON text, so that two payloads compare key by key.
func flattenJSON(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("%q is not JSON: %v", doc, err)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, x := range m {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x)
			}
			return
		}
		b, _ := json.Marshal(v)
		out[prefix] = string(b)
	}
	walk("", v)
	return out
}

// diffKeys reports every key whose value differs between got and want.
func diffKeys(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: key %s missing, want %s", what, k, want[k])
		} else if g != want[k] {
			t.Errorf("%s: key %s = %s, want %s", what, k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected key %s = %s", what, k, got[k])
		}
	}
}

// lastAPNsRequest returns the one request recorded for region.
func lastAPNsRequest(t *testing.T, srv *vendorsim.Server, region string) vendorsim.Request {
	t.Helper()
	reqs := srv.Requests(vendorsim.VendorAPNs, region)
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded in %s, want 1", len(reqs), region)
	}
	return reqs[0]
}

// checkAPNsRecord checks that the simulator recorded the device token, the
// headers and the payload apns2 sent for n.
func checkAPNsRecord(t *testing.T, rec vendorsim.Request, n *apns2.Notification, wantHeaders map[string]string) {
	t.Helper()
	if got := rec.Form.Get("token"); got != n.DeviceToken {
		t.Errorf("recorded token %q, want %q", got, n.DeviceToken)
	}
	for _, h := range apnsHeaders {
		got, sent := rec.Form[h]
		want, ok := wantHeaders[h]
		switch {
		case !ok && sent:
			t.Errorf("header %s = %q sent, want none", h, got)
		case ok && (len(got) != 1 || got[0] != want):
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	built, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Form.Get("payload"); got != string(built) {
		t.Errorf("recorded payload %s, want the body apns2 built %s", got, built)
	}
}

// TestAPNsSDKDeliveries sends accepted notifications with apns2 and its
// payload builder: the answer is 200 with the apns-id (the request's, or a
// UUID APNs makes up), and the simulator holds every header and payload
// key apns2 put on the wire.
func TestAPNsSDKDeliveries(t *testing.T) {
	srv, keyPEM := apnsSDKStart(t)
	expiration := time.Now().Add(6 * time.Hour).Truncate(time.Second)
	const id = "3f1a0b2c-5d6e-4f70-8a91-b2c3d4e5f607"
	tests := []struct {
		scenario    string
		region      string
		n           *apns2.Notification
		wantHeaders map[string]string
		wantPayload string // the documented keys, as JSON
	}{
		{
			scenario: "alert with every aps key",
			region:   "sg",
			n: &apns2.Notification{
				DeviceToken: apnsToken, Topic: apnsBundle, ApnsID: id, CollapseID: "score-42",
				Expiration: expiration, Priority: apns2.PriorityHigh, PushType: apns2.PushTypeAlert,
				Payload: payload.NewPayload().AlertTitle("Title").AlertSubtitle("Subtitle").AlertBody("Body").
					Badge(3).Sound("chime.caf").Category("MESSAGE").MutableContent().ThreadID("chat-42").
					InterruptionLevel(payload.InterruptionLevelTimeSensitive).
					Custom("deliveryId", "d-1").Custom("chat", map[string]any{"id": 42}),
			},
			wantHeaders: map[string]string{"apns-topic": apnsBundle, "apns-push-type": "alert", "apns-priority": "10",
				"apns-collapse-id": "score-42", "apns-expiration": strconv.FormatInt(expiration.Unix(), 10), "apns-id": id},
			wantPayload: `{"aps":{"alert":{"title":"Title","subtitle":"Subtitle","body":"Body"},"badge":3,"sound":"chime.caf",
				"category":"MESSAGE","mutable-content":1,"thread-id":"chat-42","interruption-level":"time-sensitive"},
				"deliveryId":"d-1","chat":{"id":42}}`,
		},
		{
			scenario: "background push with priority 5",
			region:   "sg",
			n: &apns2.Notification{
				DeviceToken: apnsToken, Topic: apnsBundle, Priority: apns2.PriorityLow, PushType: apns2.PushTypeBackground,
				Payload: payload.NewPayload().ContentAvailable().Custom("sync", "inbox"),
			},
			wantHeaders: map[string]string{"apns-topic": apnsBundle, "apns-push-type": "background", "apns-priority": "5"},
			wantPayload: `{"aps":{"content-available":1},"sync":"inbox"}`,
		},
		{
			// apns2 sends apns-push-type alert when none is set.
			scenario:    "plain alert string with a zero badge in another region",
			region:      "eu",
			n:           &apns2.Notification{DeviceToken: apnsToken, Topic: apnsBundle, Payload: payload.NewPayload().Alert("Hello").ZeroBadge()},
			wantHeaders: map[string]string{"apns-topic": apnsBundle, "apns-push-type": "alert"},
			wantPayload: `{"aps":{"alert":"Hello","badge":0}}`,
		},
		{
			// apns2's sound dictionary is the one of critical alerts.
			scenario: "localized critical alert with a sound dictionary",
			region:   "sg",
			n: &apns2.Notification{
				DeviceToken: apnsToken, Topic: apnsBundle, PushType: apns2.PushTypeAlert, Priority: 1,
				Payload: payload.NewPayload().AlertTitleLocKey("GAME_TITLE").AlertLocKey("GAME_PLAY").
					AlertLocArgs([]string{"Jenna", "Frank"}).SoundName("bingbong.aiff").SoundVolume(0.5).
					InterruptionLevel(payload.InterruptionLevelCritical).RelevanceScore(0.25),
			},
			wantHeaders: map[string]string{"apns-topic": apnsBundle, "apns-push-type": "alert", "apns-priority": "1"},
			wantPayload: `{"aps":{"alert":{"title-loc-key":"GAME_TITLE","loc-key":"GAME_PLAY","loc-args":["Jenna","Frank"]},
				"sound":{"critical":1,"name":"bingbong.aiff","volume":0.5},"interruption-level":"critical","relevance-score":0.25}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			res, err := apnsSDKClient(t, srv, keyPEM, tc.region).Push(tc.n)
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if !res.Sent() || res.StatusCode != 200 || res.Reason != "" || !res.Timestamp.IsZero() {
				t.Fatalf("response %+v, want 200 without reason or timestamp", res)
			}
			switch {
			case tc.n.ApnsID != "" && res.ApnsID != tc.n.ApnsID:
				t.Errorf("ApnsID %q, want the request's %q", res.ApnsID, tc.n.ApnsID)
			case tc.n.ApnsID == "" && !uuidPattern.MatchString(res.ApnsID):
				t.Errorf("ApnsID %q, want a UUID made up by APNs", res.ApnsID)
			}
			rec := lastAPNsRequest(t, srv, tc.region)
			if rec.Status != 200 || rec.AppID != apnsApp || rec.Path != "/apns/"+tc.region+"/3/device/"+apnsToken {
				t.Errorf("record status %d app %q path %q", rec.Status, rec.AppID, rec.Path)
			}
			checkAPNsRecord(t, rec, tc.n, tc.wantHeaders)
			diffKeys(t, "payload", flattenJSON(t, []byte(rec.Form.Get("payload"))), flattenJSON(t, []byte(tc.wantPayload)))
		})
	}
}

// TestAPNsSDKRefusals sends what APNs refuses with apns2: its Response
// carries the status and reason Apple documents, the apns-id of the
// request, and the timestamp only with 410.
func TestAPNsSDKRefusals(t *testing.T) {
	srv, keyPEM := apnsSDKStart(t)
	key, err := token.AuthKeyFromBytes(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	const id = "0c4a7e52-1b2d-4c3e-9f40-5a6b7c8d9e0f"
	alert := func() *apns2.Notification {
		return &apns2.Notification{DeviceToken: apnsToken, Topic: apnsBundle, ApnsID: id, PushType: apns2.PushTypeAlert,
			Priority: apns2.PriorityHigh, Payload: payload.NewPayload().AlertTitle("Title").AlertBody("Body")}
	}
	tests := []struct {
		scenario   string
		prepare    func(c *apns2.Client, n *apns2.Notification)
		wantStatus int
		wantReason string
	}{
		{"device token the simulator calls bad", func(_ *apns2.Client, n *apns2.Notification) { n.DeviceToken = "bad-" + apnsToken },
			400, apns2.ReasonBadDeviceToken},
		{"device token no longer active", func(_ *apns2.Client, n *apns2.Notification) { n.DeviceToken = "gone-" + apnsToken },
			410, apns2.ReasonUnregistered},
		{"no device token", func(_ *apns2.Client, n *apns2.Notification) { n.DeviceToken = "" },
			400, apns2.ReasonMissingDeviceToken},
		{"provider token older than an hour", func(c *apns2.Client, _ *apns2.Notification) {
			// apns2 renews its token after 50 minutes; a client that kept
			// one longer sends a stale iat.
			c.Token.Bearer = apnsJWT(t, key, "ES256", apnsKeyID, apnsTeam, time.Now().Add(-61*time.Minute))
			c.Token.IssuedAt = time.Now().Unix()
		}, 403, apns2.ReasonExpiredProviderToken},
		{"provider token of an unknown key", func(c *apns2.Client, _ *apns2.Notification) { c.Token.KeyID = "NOKEY00000" },
			403, apns2.ReasonInvalidProviderToken},
		{"no provider token", func(c *apns2.Client, _ *apns2.Notification) { c.Token = nil },
			403, apns2.ReasonMissingProviderToken},
		{"no topic", func(_ *apns2.Client, n *apns2.Notification) { n.Topic = "" },
			400, apns2.ReasonMissingTopic},
		{"topic that is not a bundle id", func(_ *apns2.Client, n *apns2.Notification) { n.Topic = "com.example ios" },
			400, apns2.ReasonBadTopic},
		{"topic of no app of the team", func(_ *apns2.Client, n *apns2.Notification) { n.Topic = "com.other.app" },
			400, apns2.ReasonTopicDisallowed},
		{"payload over 4096 bytes", func(_ *apns2.Client, n *apns2.Notification) {
			n.Payload = payload.NewPayload().AlertBody("Body").Custom("blob", strings.Repeat("x", 4096))
		}, 413, apns2.ReasonPayloadTooLarge},
		{"unknown push type", func(_ *apns2.Client, n *apns2.Notification) { n.PushType = "banner" },
			400, apns2.ReasonInvalidPushType},
		{"priority 7", func(_ *apns2.Client, n *apns2.Notification) { n.Priority = 7 },
			400, apns2.ReasonBadPriority},
		{"collapse id over 64 bytes", func(_ *apns2.Client, n *apns2.Notification) { n.CollapseID = strings.Repeat("c", 65) },
			400, apns2.ReasonBadCollapseID},
		{"apns-id that is not a UUID", func(_ *apns2.Client, n *apns2.Notification) { n.ApnsID = "d-123" },
			400, apns2.ReasonBadMessageID},
		{"server unavailable", func(*apns2.Client, *apns2.Notification) {
			if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendorsim.VendorAPNs, Next: 1, Status: 503}); err != nil {
				t.Fatal(err)
			}
		}, 503, apns2.ReasonServiceUnavailable},
		{"internal server error", func(*apns2.Client, *apns2.Notification) {
			if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendorsim.VendorAPNs, Next: 1, Status: 500}); err != nil {
				t.Fatal(err)
			}
		}, 500, apns2.ReasonInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			c := apnsSDKClient(t, srv, keyPEM, "sg")
			n := alert()
			tc.prepare(c, n)
			before := time.Now().Truncate(time.Second)
			res, err := c.Push(n)
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if res.Sent() || res.StatusCode != tc.wantStatus || res.Reason != tc.wantReason {
				t.Fatalf("response %d %q, want %d %q", res.StatusCode, res.Reason, tc.wantStatus, tc.wantReason)
			}
			if tc.wantReason == apns2.ReasonBadMessageID {
				if res.ApnsID == n.ApnsID || !uuidPattern.MatchString(res.ApnsID) {
					t.Errorf("ApnsID %q, want a UUID made up by APNs", res.ApnsID)
				}
			} else if res.ApnsID != id {
				t.Errorf("ApnsID %q, want the request's %q", res.ApnsID, id)
			}
			if tc.wantStatus == 410 {
				// Milliseconds since the epoch, which apns2 reads to the second.
				if res.Timestamp.Before(before) || res.Timestamp.After(time.Now()) {
					t.Errorf("Timestamp %v, want the time of the answer", res.Timestamp)
				}
			} else if !res.Timestamp.IsZero() {
				t.Errorf("Timestamp %v on a %d answer, want none", res.Timestamp, tc.wantStatus)
			}
			if n.DeviceToken == "" {
				// Not a notification request: nothing is recorded.
				if reqs := srv.Requests(vendorsim.VendorAPNs, "sg"); len(reqs) != 0 {
					t.Errorf("%d requests recorded, want none", len(reqs))
				}
				return
			}
			rec := lastAPNsRequest(t, srv, "sg")
			if rec.Status != tc.wantStatus || rec.Path != "/apns/sg/3/device/"+n.DeviceToken {
				t.Errorf("recorded status %d path %q, want %d to the device token", rec.Status, rec.Path, tc.wantStatus)
			}
			headers := map[string]string{"apns-push-type": string(n.PushType), "apns-priority": strconv.Itoa(n.Priority)}
			for h, v := range map[string]string{"apns-topic": n.Topic, "apns-id": n.ApnsID, "apns-collapse-id": n.CollapseID} {
				if v != "" {
					headers[h] = v
				}
			}
			checkAPNsRecord(t, rec, n, headers)
		})
	}
}

// TestAPNsSDKTokenReuse: apns2 signs one provider token and reuses it on
// its connection, which the simulator accepts as often as it is sent.
func TestAPNsSDKTokenReuse(t *testing.T) {
	srv, keyPEM := apnsSDKStart(t)
	c := apnsSDKClient(t, srv, keyPEM, "in")
	for i := range 3 {
		n := &apns2.Notification{DeviceToken: apnsToken, Topic: apnsBundle,
			Payload: payload.NewPayload().AlertBody(fmt.Sprintf("message %d", i))}
		res, err := c.Push(n)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("push %d: %+v %v, want 200", i, res, err)
		}
	}
	reqs := srv.Requests(vendorsim.VendorAPNs, "in")
	if len(reqs) != 3 {
		t.Fatalf("%d requests recorded, want 3", len(reqs))
	}
	for _, r := range reqs[1:] {
		if r.Auth != reqs[0].Auth || !strings.HasPrefix(r.Auth, "bearer ") {
			t.Errorf("authorization %q, want apns2's one bearer token %q", r.Auth, reqs[0].Auth)
		}
	}
}
