package fcm_test

// The simulated FCM HTTP v1 API as a client nobody here wrote sees it: the
// Firebase Admin Go SDK (firebase.google.com/go/v4/messaging), with a
// service-account credential whose token_uri is the simulator's token
// endpoint and option.WithEndpoint routing messages:send to the simulator,
// encodes, authenticates and sends; the tests check the SDK's reading of
// every answer (message name, error classification) against what FCM
// documents and the recorded body against what the SDK sent.

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"google.golang.org/api/option"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

const fcmSendPath = "/fcm/" + fcmRegion + "/v1/projects/" + fcmProject + "/messages:send"

var fcmMessageName = regexp.MustCompile(`^projects/` + fcmProject + `/messages/[^/]+$`)

// fcmServiceAccountJSON is the key file of service account email of
// project, signing with key, whose token_uri is tokenURI.
func fcmServiceAccountJSON(t *testing.T, key *rsa.PrivateKey, email, project, tokenURI string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     project,
		"private_key_id": "sim-key-1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "100000000000000000001",
		"token_uri":      tokenURI,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fcmSDKClient returns a Firebase messaging client of the test project
// whose service account signs with key.
func fcmSDKClient(t *testing.T, srv *vendorsim.Server, key *rsa.PrivateKey) *messaging.Client {
	t.Helper()
	return fcmSDKClientFor(t, srv, key, fcmEmail, fcmProject)
}

// fcmSDKClientFor returns a Firebase messaging client of project (taken
// from the key file) that authenticates as service account email with key
// at srv's token endpoint and sends to srv. The SDK builds its transports
// from http.DefaultTransport (the system's roots, which do not hold the
// simulator's CA), so it reaches FCM on the simulator's plain listener,
// which answers the same paths as the TLS one.
func fcmSDKClientFor(t *testing.T, srv *vendorsim.Server, key *rsa.PrivateKey, email, project string) *messaging.Client {
	t.Helper()
	ctx := t.Context()
	base := srv.URL() + "/fcm/" + fcmRegion
	app, err := firebase.NewApp(ctx, &firebase.Config{},
		option.WithAuthCredentialsJSON(option.ServiceAccount, fcmServiceAccountJSON(t, key, email, project, base+"/token")),
		option.WithEndpoint(base+"/v1"))
	if err != nil {
		t.Fatalf("firebase.NewApp: %v", err)
	}
	c, err := app.Messaging(ctx)
	if err != nil {
		t.Fatalf("Messaging: %v", err)
	}
	return c
}

// fcmSends returns the recorded messages:send requests (not the token
// requests).
func fcmSends(srv *vendorsim.Server) []vendorsim.Request {
	var out []vendorsim.Request
	for _, r := range srv.Requests(vendorsim.VendorFCM, fcmRegion) {
		if r.Path == fcmSendPath {
			out = append(out, r)
		}
	}
	return out
}

// diffForm reports every key whose values differ between got and want.
func diffForm(t *testing.T, got, want url.Values) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("recorded %s = %q, want %q", k, got[k], want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("recorded %s = %q, not sent", k, got[k])
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestFCMSDKSend sends accepted messages with the SDK: Send returns the
// message name, SendDryRun the name of a validated message, and the
// simulator holds every field the SDK encoded, key by key.
func TestFCMSDKSend(t *testing.T) {
	srv := fcmStart(t, nil)
	c := fcmSDKClient(t, srv, fcmKeys()[0])
	eventTime := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	full := &messaging.Message{
		Token:        "tok-full",
		Notification: &messaging.Notification{Title: "Title", Body: "Body", ImageURL: "https://img.example.com/a.png"},
		Data:         map[string]string{"deliveryId": "d-1", "kind": "chat"},
		Android: &messaging.AndroidConfig{
			CollapseKey: "score", Priority: "high", TTL: ptr(90 * time.Minute), RestrictedPackageName: "com.example.app",
			DirectBootOK: true, BandwidthConstrainedOK: true, RestrictedSatelliteOK: true,
			FCMOptions: &messaging.AndroidFCMOptions{AnalyticsLabel: "android-label"},
			Notification: &messaging.AndroidNotification{
				ChannelID: "news", Tag: "score-tag", Sound: "ping", NotificationCount: ptr(7), ClickAction: "OPEN_CHAT",
				Icon: "ic_stat", Color: "#ff8800", Priority: messaging.PriorityHigh, Visibility: messaging.VisibilityPrivate,
				EventTimestamp: &eventTime, DefaultVibrateTimings: true, VibrateTimingMillis: []int64{100, 250},
				LightSettings: &messaging.LightSettings{Color: "#00ff00", LightOnDurationMillis: 500, LightOffDurationMillis: 1500},
				BodyLocKey:    "BODY_KEY", BodyLocArgs: []string{"a1"}, Sticky: true, Ticker: "tick", Proxy: messaging.ProxyDeny,
			},
		},
		APNS: &messaging.APNSConfig{
			Headers: map[string]string{"apns-priority": "10", "apns-collapse-id": "score"},
			Payload: &messaging.APNSPayload{
				Aps: &messaging.Aps{
					Alert: &messaging.ApsAlert{Title: "T", SubTitle: "S", Body: "B"}, Badge: ptr(2), Sound: "default",
					ThreadID: "chat-9", Category: "MESSAGE", MutableContent: true,
				},
				CustomData: map[string]any{"deliveryId": "d-1"},
			},
			FCMOptions: &messaging.APNSFCMOptions{AnalyticsLabel: "ios-label", ImageURL: "https://img.example.com/i.png"},
		},
		Webpush:    &messaging.WebpushConfig{Headers: map[string]string{"TTL": "60"}, Data: map[string]string{"w": "1"}},
		FCMOptions: &messaging.FCMOptions{AnalyticsLabel: "campaign_1"},
	}
	tests := []struct {
		scenario string
		msg      *messaging.Message
		dryRun   bool
		want     url.Values // the body as the simulator records it
	}{
		{
			scenario: "every field of notification, android, apns, webpush and fcm_options",
			msg:      full,
			want: url.Values{
				"message.token":                                                  {"tok-full"},
				"message.notification.title":                                     {"Title"},
				"message.notification.body":                                      {"Body"},
				"message.notification.image":                                     {"https://img.example.com/a.png"},
				"message.data.deliveryId":                                        {"d-1"},
				"message.data.kind":                                              {"chat"},
				"message.android.collapse_key":                                   {"score"},
				"message.android.priority":                                       {"high"},
				"message.android.ttl":                                            {"5400s"},
				"message.android.restricted_package_name":                        {"com.example.app"},
				"message.android.direct_boot_ok":                                 {"true"},
				"message.android.bandwidth_constrained_ok":                       {"true"},
				"message.android.restricted_satellite_ok":                        {"true"},
				"message.android.fcm_options.analytics_label":                    {"android-label"},
				"message.android.notification.channel_id":                        {"news"},
				"message.android.notification.tag":                               {"score-tag"},
				"message.android.notification.sound":                             {"ping"},
				"message.android.notification.notification_count":                {"7"},
				"message.android.notification.click_action":                      {"OPEN_CHAT"},
				"message.android.notification.icon":                              {"ic_stat"},
				"message.android.notification.color":                             {"#ff8800"},
				"message.android.notification.notification_priority":             {"PRIORITY_HIGH"},
				"message.android.notification.visibility":                        {"PRIVATE"},
				"message.android.notification.event_time":                        {"2026-03-01T12:30:00.000000000Z"},
				"message.android.notification.default_vibrate_timings":           {"true"},
				"message.android.notification.vibrate_timings":                   {"0.100000000s", "0.250000000s"},
				"message.android.notification.light_settings.color.red":          {"0"},
				"message.android.notification.light_settings.color.green":        {"1"},
				"message.android.notification.light_settings.color.blue":         {"0"},
				"message.android.notification.light_settings.color.alpha":        {"1"},
				"message.android.notification.light_settings.light_on_duration":  {"0.500000000s"},
				"message.android.notification.light_settings.light_off_duration": {"1.500000000s"},
				"message.android.notification.body_loc_key":                      {"BODY_KEY"},
				"message.android.notification.body_loc_args":                     {"a1"},
				"message.android.notification.sticky":                            {"true"},
				"message.android.notification.ticker":                            {"tick"},
				"message.android.notification.proxy":                             {"DENY"},
				"message.apns.headers.apns-priority":                             {"10"},
				"message.apns.headers.apns-collapse-id":                          {"score"},
				"message.apns.payload.aps.alert.title":                           {"T"},
				"message.apns.payload.aps.alert.subtitle":                        {"S"},
				"message.apns.payload.aps.alert.body":                            {"B"},
				"message.apns.payload.aps.badge":                                 {"2"},
				"message.apns.payload.aps.sound":                                 {"default"},
				"message.apns.payload.aps.thread-id":                             {"chat-9"},
				"message.apns.payload.aps.category":                              {"MESSAGE"},
				"message.apns.payload.aps.mutable-content":                       {"1"},
				"message.apns.payload.deliveryId":                                {"d-1"},
				"message.apns.fcm_options.analytics_label":                       {"ios-label"},
				"message.apns.fcm_options.image":                                 {"https://img.example.com/i.png"},
				"message.webpush.headers.TTL":                                    {"60"},
				"message.webpush.data.w":                                         {"1"},
				"message.fcm_options.analytics_label":                            {"campaign_1"},
			},
		},
		{
			scenario: "data-only message to an installation id, normal priority",
			msg: &messaging.Message{Fid: "fid-1", Data: map[string]string{"sync": "inbox"},
				Android: &messaging.AndroidConfig{Priority: "normal", TTL: ptr(0 * time.Second)}},
			want: url.Values{"message.fid": {"fid-1"}, "message.data.sync": {"inbox"},
				"message.android.priority": {"normal"}, "message.android.ttl": {"0s"}},
		},
		{
			scenario: "background push for iOS with fractional ttl",
			msg: &messaging.Message{Token: "tok-ios",
				Android: &messaging.AndroidConfig{TTL: ptr(1500 * time.Millisecond)},
				APNS: &messaging.APNSConfig{Headers: map[string]string{"apns-push-type": "background", "apns-priority": "5"},
					Payload: &messaging.APNSPayload{Aps: &messaging.Aps{ContentAvailable: true}}}},
			want: url.Values{"message.token": {"tok-ios"}, "message.android.ttl": {"1.500000000s"},
				"message.apns.headers.apns-push-type": {"background"}, "message.apns.headers.apns-priority": {"5"},
				"message.apns.payload.aps.content-available": {"1"}},
		},
		{
			scenario: "dry run",
			msg:      &messaging.Message{Token: "tok-dry", Notification: &messaging.Notification{Title: "Dry"}},
			dryRun:   true,
			want: url.Values{"validate_only": {"true"}, "message.token": {"tok-dry"},
				"message.notification.title": {"Dry"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			send := c.Send
			if tc.dryRun {
				send = c.SendDryRun
			}
			name, err := send(t.Context(), tc.msg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			switch {
			case tc.dryRun && name != "projects/"+fcmProject+"/messages/fake_message_id":
				t.Errorf("dry-run name %q, want FCM's fake_message_id", name)
			case !tc.dryRun && !fcmMessageName.MatchString(name):
				t.Errorf("name %q, want projects/%s/messages/{id}", name, fcmProject)
			}
			sends := fcmSends(srv)
			if len(sends) != 1 {
				t.Fatalf("%d sends recorded, want 1", len(sends))
			}
			rec := sends[0]
			if rec.Status != 200 || rec.AppID != fcmAppID || !strings.HasPrefix(rec.Auth, "Bearer ya29.sim-") {
				t.Errorf("record status %d app %q auth %q, want 200 with an access token of the simulator", rec.Status, rec.AppID, rec.Auth)
			}
			if !strings.Contains(rec.Body, name) {
				t.Errorf("recorded answer %s, want the name %s", rec.Body, name)
			}
			diffForm(t, rec.Form, tc.want)
		})
	}
}

// TestFCMSDKSendEach sends batches with SendEach and SendEachForMulticast:
// one messages:send call per message, results in message order, each error
// classified on its own.
func TestFCMSDKSendEach(t *testing.T) {
	srv := fcmStart(t, nil)
	c := fcmSDKClient(t, srv, fcmKeys()[0])
	ctx := t.Context()

	t.Run("SendEach", func(t *testing.T) {
		srv.Reset()
		msgs := []*messaging.Message{
			{Token: "tok-1", Data: map[string]string{"n": "1"}},
			{Token: "bad-tok-2", Data: map[string]string{"n": "2"}},
			{Token: "malformed-tok-3", Data: map[string]string{"n": "3"}},
			{Fid: "fid-4", Data: map[string]string{"n": "4"}},
		}
		br, err := c.SendEach(ctx, msgs)
		if err != nil {
			t.Fatalf("SendEach: %v", err)
		}
		if br.SuccessCount != 2 || br.FailureCount != 2 || len(br.Responses) != 4 {
			t.Fatalf("batch %d ok, %d failed, %d responses; want 2, 2, 4", br.SuccessCount, br.FailureCount, len(br.Responses))
		}
		for i, r := range br.Responses {
			switch i {
			case 0, 3:
				if !r.Success || !fcmMessageName.MatchString(r.MessageID) || r.Error != nil {
					t.Errorf("response %d: %+v, want a message name", i, r)
				}
			case 1:
				if r.Success || !messaging.IsUnregistered(r.Error) {
					t.Errorf("response %d: %+v, want an UNREGISTERED error", i, r)
				}
			case 2:
				if r.Success || !messaging.IsInvalidArgument(r.Error) {
					t.Errorf("response %d: %+v, want an INVALID_ARGUMENT error", i, r)
				}
			}
		}
		if n := len(fcmSends(srv)); n != 4 {
			t.Errorf("%d sends recorded, want one per message", n)
		}
	})
	t.Run("SendEachForMulticast", func(t *testing.T) {
		srv.Reset()
		tokens := []string{"tok-a", "tok-b", "tok-c"}
		br, err := c.SendEachForMulticast(ctx, &messaging.MulticastMessage{Tokens: tokens,
			Notification: &messaging.Notification{Title: "All", Body: "of you"},
			Android:      &messaging.AndroidConfig{CollapseKey: "all"}})
		if err != nil {
			t.Fatalf("SendEachForMulticast: %v", err)
		}
		if br.SuccessCount != 3 || br.FailureCount != 0 {
			t.Fatalf("batch %d ok, %d failed; want 3, 0", br.SuccessCount, br.FailureCount)
		}
		names := map[string]bool{}
		for _, r := range br.Responses {
			names[r.MessageID] = true
		}
		if len(names) != 3 {
			t.Errorf("message names %v, want 3 distinct", names)
		}
		var got []string
		for _, r := range fcmSends(srv) {
			got = append(got, r.Form.Get("message.token"))
			diffForm(t, r.Form, url.Values{"message.token": r.Form["message.token"],
				"message.notification.title": {"All"}, "message.notification.body": {"of you"},
				"message.android.collapse_key": {"all"}})
		}
		if slices.Sort(got); !slices.Equal(got, tokens) {
			t.Errorf("sent to %v, want %v", got, tokens)
		}
	})
	t.Run("SendEachForMulticastDryRun", func(t *testing.T) {
		srv.Reset()
		br, err := c.SendEachForMulticastDryRun(ctx, &messaging.MulticastMessage{Tokens: []string{"tok-x", "bad-tok-y"},
			Data: map[string]string{"k": "v"}})
		if err != nil {
			t.Fatalf("SendEachForMulticastDryRun: %v", err)
		}
		if br.SuccessCount != 1 || !messaging.IsUnregistered(br.Responses[1].Error) {
			t.Errorf("dry run %d ok, second %+v; want 1 and UNREGISTERED", br.SuccessCount, br.Responses[1])
		}
		sends := fcmSends(srv)
		if len(sends) != 2 {
			t.Errorf("%d sends recorded, want 2", len(sends))
		}
		for _, r := range sends {
			if r.Form.Get("validate_only") != "true" {
				t.Errorf("send %s without validate_only", r.Form.Get("message.token"))
			}
		}
	})
}

// TestFCMSDKErrors checks that the SDK classifies each refusal of the
// simulator as it classifies FCM's (Firebase's ErrorCode reference: HTTP
// status, Google API status and FcmError errorCode).
func TestFCMSDKErrors(t *testing.T) {
	const otherEmail = "sender@other-project.iam.gserviceaccount.com"
	srv := fcmStart(t, func(c *vendorsim.FCMConfig) {
		c.Apps = append(c.Apps, vendorsim.FCMApp{AppID: "other-app", ProjectID: "other-project",
			ClientEmail: otherEmail, PublicKey: fcmPublicPEM(fcmKeys()[1])})
		c.SenderMismatchTokenPrefixes = []string{"other-sender-"}
		c.ThirdPartyAuthTokenPrefixes = []string{"apns-refused-"}
	})
	ok := &messaging.Message{Token: "tok-1", Notification: &messaging.Notification{Title: "T"}}
	inject := func(f vendorsim.Failure) func(*testing.T, *messaging.Client) {
		return func(t *testing.T, _ *messaging.Client) {
			f.Vendor = vendorsim.VendorFCM
			if err := srv.InjectFailures(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	type classifiers map[string]func(error) bool
	// The SDK's FCM error classifiers: each one not named by a case must
	// say no.
	fcmClassifiers := classifiers{
		"IsUnregistered": messaging.IsUnregistered, "IsInvalidArgument": messaging.IsInvalidArgument,
		"IsQuotaExceeded": messaging.IsQuotaExceeded, "IsUnavailable": messaging.IsUnavailable,
		"IsInternal": messaging.IsInternal, "IsSenderIDMismatch": messaging.IsSenderIDMismatch,
		"IsThirdPartyAuthError": messaging.IsThirdPartyAuthError,
	}
	tests := []struct {
		scenario   string
		prepare    func(*testing.T, *messaging.Client)
		client     func(*testing.T) *messaging.Client // default: the test project's
		msg        *messaging.Message
		wantStatus int
		is         classifiers // every one must say yes
	}{
		{"unregistered token", nil, nil, &messaging.Message{Token: "bad-tok"}, 404,
			classifiers{"IsUnregistered": messaging.IsUnregistered, "errorutils.IsNotFound": errorutils.IsNotFound}},
		{"unregistered installation id", nil, nil, &messaging.Message{Fid: "bad-fid"}, 404,
			classifiers{"IsUnregistered": messaging.IsUnregistered, "errorutils.IsNotFound": errorutils.IsNotFound}},
		{"token of another sender", nil, nil, &messaging.Message{Token: "other-sender-tok"}, 403,
			classifiers{"IsSenderIDMismatch": messaging.IsSenderIDMismatch, "errorutils.IsPermissionDenied": errorutils.IsPermissionDenied}},
		{"APNs credentials refused", nil, nil, &messaging.Message{Token: "apns-refused-tok",
			APNS: &messaging.APNSConfig{Payload: &messaging.APNSPayload{Aps: &messaging.Aps{AlertString: "hi"}}}}, 401,
			classifiers{"IsThirdPartyAuthError": messaging.IsThirdPartyAuthError, "errorutils.IsUnauthenticated": errorutils.IsUnauthenticated}},
		{"token that is not an FCM token", nil, nil, &messaging.Message{Token: "malformed-tok"}, 400,
			classifiers{"IsInvalidArgument": messaging.IsInvalidArgument, "errorutils.IsInvalidArgument": errorutils.IsInvalidArgument}},
		{"ttl over four weeks", nil, nil, &messaging.Message{Token: "tok-1", Android: &messaging.AndroidConfig{TTL: ptr(29 * 24 * time.Hour)}}, 400,
			classifiers{"IsInvalidArgument": messaging.IsInvalidArgument, "errorutils.IsInvalidArgument": errorutils.IsInvalidArgument}},
		{"reserved data key", nil, nil, &messaging.Message{Token: "tok-1", Data: map[string]string{"from": "x"}}, 400,
			classifiers{"IsInvalidArgument": messaging.IsInvalidArgument, "errorutils.IsInvalidArgument": errorutils.IsInvalidArgument}},
		{"quota exceeded", func(t *testing.T, _ *messaging.Client) {
			if err := srv.SetQuota(vendorsim.Quota{Vendor: vendorsim.VendorFCM, AppID: fcmAppID}); err != nil {
				t.Fatal(err)
			}
		}, nil, ok, 429,
			classifiers{"IsQuotaExceeded": messaging.IsQuotaExceeded, "errorutils.IsResourceExhausted": errorutils.IsResourceExhausted}},
		// The SDK retries a 503 unless Retry-After is beyond its two-minute
		// limit; this one is, so that the first answer is the result.
		{"unavailable", inject(vendorsim.Failure{Next: 1, Status: 503, RetryAfter: vendorsim.Duration(3 * time.Minute)}), nil, ok, 503,
			classifiers{"IsUnavailable": messaging.IsUnavailable, "errorutils.IsUnavailable": errorutils.IsUnavailable}},
		{"internal error", inject(vendorsim.Failure{Next: 1, Status: 500}), nil, ok, 500,
			classifiers{"IsInternal": messaging.IsInternal, "errorutils.IsInternal": errorutils.IsInternal}},
		{"access token no longer valid", func(t *testing.T, c *messaging.Client) {
			if _, err := c.Send(t.Context(), ok); err != nil { // obtains the access token
				t.Fatalf("first Send: %v", err)
			}
			srv.ExpireFCMAccessTokens()
		}, nil, ok, 401,
			classifiers{"errorutils.IsUnauthenticated": errorutils.IsUnauthenticated}},
		{"project of another service account", nil, func(t *testing.T) *messaging.Client {
			return fcmSDKClientFor(t, srv, fcmKeys()[1], otherEmail, fcmProject)
		}, ok, 403,
			classifiers{"errorutils.IsPermissionDenied": errorutils.IsPermissionDenied}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			var c *messaging.Client
			if tc.client != nil {
				c = tc.client(t)
			} else {
				c = fcmSDKClient(t, srv, fcmKeys()[0])
			}
			if tc.prepare != nil {
				tc.prepare(t, c)
			}
			_, err := c.Send(t.Context(), tc.msg)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if resp := errorutils.HTTPResponse(err); resp == nil || resp.StatusCode != tc.wantStatus {
				t.Fatalf("Send: %v (response %v), want HTTP %d", err, resp, tc.wantStatus)
			}
			for name, is := range tc.is {
				if !is(err) {
					t.Errorf("%s(%v) = false", name, err)
				}
			}
			for name, is := range fcmClassifiers {
				if _, want := tc.is[name]; !want && is(err) {
					t.Errorf("%s(%v) = true", name, err)
				}
			}
		})
	}
}

// TestFCMSDKRetriesUnavailable: the SDK retries a 503 at once (its first
// back-off is zero) and returns the name of the second attempt.
func TestFCMSDKRetriesUnavailable(t *testing.T) {
	srv := fcmStart(t, nil)
	c := fcmSDKClient(t, srv, fcmKeys()[0])
	if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendorsim.VendorFCM, Next: 1, Status: 503}); err != nil {
		t.Fatal(err)
	}
	name, err := c.Send(t.Context(), &messaging.Message{Token: "tok-1", Data: map[string]string{"k": "v"}})
	if err != nil || !fcmMessageName.MatchString(name) {
		t.Fatalf("Send = %q, %v; want a message name after one retry", name, err)
	}
	sends := fcmSends(srv)
	if len(sends) != 2 || sends[0].Status != 503 || sends[1].Status != 200 {
		t.Fatalf("%d sends recorded, want a 503 then a 200", len(sends))
	}
	if sends[0].Form.Get("message.token") != "tok-1" || sends[1].Form.Get("message.token") != "tok-1" {
		t.Errorf("retry sent %v after %v, want the same message", sends[1].Form, sends[0].Form)
	}
}
