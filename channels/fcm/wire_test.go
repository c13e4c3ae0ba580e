package fcm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"testing"
)

// The tagged structs below are the request as encoding/json encodes it:
// appendRequest must write the same bytes.

// analyticsLabelPattern is the format FCM documents for analytics labels.
var analyticsLabelPattern = regexp.MustCompile(`^[a-zA-Z0-9\-_.~%]{1,50}$`)

// Wire format of projects.messages.send (the fields the channel sets).
type (
	sendRequest struct {
		Message wireMessage `json:"message"`
	}
	wireMessage struct {
		Token        string            `json:"token"`
		Notification *wireNotification `json:"notification,omitempty"`
		Data         map[string]string `json:"data,omitempty"`
		Android      *wireAndroid      `json:"android,omitempty"`
		APNs         *wireAPNs         `json:"apns,omitempty"`
		FCMOptions   *wireFCMOptions   `json:"fcm_options,omitempty"`
	}
	wireNotification struct {
		Title string `json:"title,omitempty"`
		Body  string `json:"body,omitempty"`
		Image string `json:"image,omitempty"`
	}
	wireAndroid struct {
		CollapseKey  string                   `json:"collapse_key,omitempty"`
		Priority     string                   `json:"priority,omitempty"`
		TTL          string                   `json:"ttl,omitempty"`
		Notification *wireAndroidNotification `json:"notification,omitempty"`
	}
	wireAndroidNotification struct {
		ChannelID             string `json:"channel_id,omitempty"`
		Sound                 string `json:"sound,omitempty"`
		Tag                   string `json:"tag,omitempty"`
		ClickAction           string `json:"click_action,omitempty"`
		NotificationCount     *int   `json:"notification_count,omitempty"`
		DefaultSound          bool   `json:"default_sound,omitempty"`
		DefaultVibrateTimings bool   `json:"default_vibrate_timings,omitempty"`
		DefaultLightSettings  bool   `json:"default_light_settings,omitempty"`
	}
	wireAPNs struct {
		Payload map[string]any `json:"payload,omitempty"`
	}
	wireFCMOptions struct {
		AnalyticsLabel string `json:"analytics_label,omitempty"`
	}
)

// reference is m as the tagged structs, built the way encoding/json
// would be given it.
func (m *message) reference() sendRequest {
	w := wireMessage{Token: m.token}
	if len(m.data) > 0 {
		w.Data = map[string]string{}
		for _, f := range m.data {
			w.Data[f.key] = f.value
		}
	}
	a := &wireAndroid{CollapseKey: m.collapseKey, Priority: m.priority}
	if m.ttlSeconds > 0 {
		a.TTL = fmt.Sprintf("%ds", m.ttlSeconds)
	}
	if m.notification {
		w.Notification = &wireNotification{Title: m.title, Body: m.body, Image: m.image}
		an := &wireAndroidNotification{ChannelID: m.channelID, Sound: m.sound, Tag: m.tag, ClickAction: m.clickAction,
			DefaultSound: m.defaultSound, DefaultVibrateTimings: m.defaultVibrate, DefaultLightSettings: m.defLight}
		if m.hasBadge {
			n := m.badge
			an.NotificationCount = &n
		}
		a.Notification = an
		if m.hasBadge || m.sound != "" {
			aps := map[string]any{}
			if m.hasBadge {
				aps["badge"] = m.badge
			}
			if m.sound != "" {
				aps["sound"] = m.sound
			}
			w.APNs = &wireAPNs{Payload: map[string]any{"aps": aps}}
		}
	}
	w.Android = a
	if m.analyticsLabel != "" {
		w.FCMOptions = &wireFCMOptions{AnalyticsLabel: m.analyticsLabel}
	}
	return sendRequest{Message: w}
}

// wireStrings are values that exercise JSON's escaping: HTML characters,
// quotes, control characters, U+2028, non-ASCII and invalid UTF-8.
var wireStrings = []string{"", "a", "Hello", "dQw4w9WgXcQ:APA91b-x_y", `say "hi"\now`, "<b>&amp;</b>",
	"tab\there\nline", "\u2028\u2029", "日本語 ✓", "\xff\xfeinvalid", "\x00\x1f", "50% off ~ now."}

func checkWire(t *testing.T, name string, m message) {
	t.Helper()
	want, err := json.Marshal(m.reference())
	if err != nil {
		t.Fatal(err)
	}
	if got := appendRequest([]byte("prefix"), &m); !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("%s:\n got %s\nwant %s", name, got[len("prefix"):], want)
	}
}

func TestAppendRequestIsEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		m    message
	}{
		{"pass-through, nothing else", message{token: "tok"}},
		{"notification, title and body", message{token: "tok", notification: true, title: "T", body: "B"}},
		{"notification, every field", message{token: "tok", notification: true, title: "T", body: "B", image: "https://i/x.png",
			collapseKey: "ck", priority: "HIGH", ttlSeconds: 3600, channelID: "ch", sound: "s.wav", tag: "tg", clickAction: "OPEN",
			badge: 3, hasBadge: true, defaultSound: true, defaultVibrate: true, defLight: true, analyticsLabel: "m-1"}},
		{"badge 0 is sent", message{token: "tok", notification: true, title: "T", body: "B", hasBadge: true}},
		{"sound without badge", message{token: "tok", notification: true, title: "T", body: "B", sound: "default"}},
		{"badge of a pass-through is not sent", message{token: "tok", badge: 2, hasBadge: true, sound: "x"}},
		{"only ttl in android", message{token: "tok", ttlSeconds: 1}},
		{"data sorted", message{token: "tok", data: []dataField{{"z", "1"}, {"deliveryId", "d"}, {"a", "2"}, {"uri", "https://x"}}}},
		{"only vibrate and lights", message{token: "tok", notification: true, title: "T", body: "B", defaultVibrate: true, defLight: true}},
		{"escapes everywhere", message{token: "<t>", notification: true, title: `"q"`, body: "\u2028", image: "&",
			data: []dataField{{"k<", "v\x00"}, {"é", "\xff"}}, collapseKey: "\n", tag: "日本"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkWire(t, tt.name, tt.m) })
	}
}

// TestAppendRequestIsEncodingJSONOverCombinations draws many messages,
// each field empty or one of wireStrings, and compares.
func TestAppendRequestIsEncodingJSONOverCombinations(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 2))
	str := func() string { return wireStrings[r.IntN(len(wireStrings))] }
	for i := range 20000 {
		m := message{token: str(), notification: r.IntN(2) == 0, title: str(), body: str(), image: str(),
			collapseKey: str(), priority: str(), channelID: str(), sound: str(), tag: str(), clickAction: str(),
			hasBadge: r.IntN(2) == 0, badge: r.IntN(3) * 7, defaultSound: r.IntN(2) == 0, defaultVibrate: r.IntN(2) == 0,
			defLight: r.IntN(2) == 0, analyticsLabel: str()}
		if r.IntN(2) == 0 {
			m.ttlSeconds = r.Int64N(2419200) + 1
		}
		for range r.IntN(12) {
			m.setData(str()+str(), str())
		}
		checkWire(t, fmt.Sprintf("combination %d", i), m)
	}
}

// FuzzAppendRequest compares appendRequest with encoding/json on
// arbitrary strings.
func FuzzAppendRequest(f *testing.F) {
	f.Add("tok", "T", "B", "k", "v", "s", true, 3)
	f.Add("\xff", "<", "\u2028", "", "\x00", "", false, 0)
	f.Fuzz(func(t *testing.T, token, title, body, key, value, sound string, notification bool, badge int) {
		m := message{token: token, notification: notification, title: title, body: body, sound: sound, tag: key,
			badge: badge, hasBadge: badge >= 0, ttlSeconds: int64(len(value))}
		m.setData(key, value)
		m.setData(value, key)
		checkWire(t, "fuzz", m)
	})
}

func TestValidAnalyticsLabelIsThePattern(t *testing.T) {
	for _, s := range append(wireStrings, "m-1", "A.b~c%d_e-f", "x y", "ü", string(make([]byte, 50)),
		"01234567890123456789012345678901234567890123456789", "012345678901234567890123456789012345678901234567890") {
		if got, want := validAnalyticsLabel(s), analyticsLabelPattern.MatchString(s); got != want {
			t.Errorf("validAnalyticsLabel(%q) = %t, the pattern says %t", s, got, want)
		}
	}
}
