package registry

import (
	"slices"
	"testing"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

func TestVendorsAreCompleteAndUnique(t *testing.T) {
	seen := map[string]bool{}
	third := map[int]string{}
	mpaas := map[string]string{}
	for _, v := range Vendors() {
		t.Run(v.Name, func(t *testing.T) {
			if v.Name == "" || seen[v.Name] {
				t.Fatalf("name %q empty or listed twice", v.Name)
			}
			seen[v.Name] = true
			if v.NewApp == nil || v.CheckApp == nil || v.Build == nil {
				t.Fatal("NewApp, CheckApp and Build must be set")
			}
			if v.ContentLimit.MaxPayloadBytes <= 0 {
				t.Fatalf("content limit %+v has no payload size", v.ContentLimit)
			}
			if err := v.CheckApp(v.NewApp()); err == nil {
				t.Fatal("an empty app section passed CheckApp")
			}
			if err := v.CheckApp(struct{}{}); err == nil {
				t.Fatal("CheckApp took credentials of a foreign type")
			}
			if v.DefaultRate != nil && (v.DefaultRate.Rate <= 0 || v.DefaultRate.Source == "" ||
				(v.DefaultRate.Unit != channels.QuotaCalls && v.DefaultRate.Unit != channels.QuotaMessages)) {
				t.Fatalf("default rate %+v needs a rate, a unit and its source", *v.DefaultRate)
			}
			if v.ThirdChannel != 0 {
				if other, dup := third[v.ThirdChannel]; dup {
					t.Fatalf("thirdChannel %d also %s", v.ThirdChannel, other)
				}
				third[v.ThirdChannel] = v.Name
			}
			if d := v.Demo; d != nil && (!slices.Contains([]string{schema.PlatformAndroid, schema.PlatformIOS, schema.PlatformHarmony}, d.Platform) || d.Model == "" || d.Token == "") {
				t.Fatalf("demo device %+v needs a platform, a model and a token", *d)
			}
			if v.MPaaSChannel != "" {
				if other, dup := mpaas[v.MPaaSChannel]; dup {
					t.Fatalf("mPaaS channel %s also %s", v.MPaaSChannel, other)
				}
				mpaas[v.MPaaSChannel] = v.Name
			}
		})
	}
	want := []string{"apns", "fcm", "hms", "honor", "harmonyos", "mipush", "oppo", "vivo", "self", schema.ChannelSMS}
	if !slices.Equal(Names(), want) {
		t.Fatalf("Names() = %v, want %v", Names(), want)
	}
}

func TestSetupAppsRefusesAnotherVendorsCredentials(t *testing.T) {
	for _, v := range Vendors() {
		t.Run(v.Name, func(t *testing.T) {
			_, err := v.Build(channels.Setup{Region: "sg", Apps: map[string]any{"A": struct{}{}}})
			if err == nil {
				t.Fatal("Build took credentials of a foreign type")
			}
		})
	}
}

func TestLookupContentLimitAndThrottleCodes(t *testing.T) {
	tests := []struct {
		channel   string
		limit     schema.ContentLimit
		throttles bool
	}{
		{"mipush", schema.ContentLimit{MaxTitle: 50, MaxBody: 128, MaxPayloadBytes: 4096}, true},
		{"vivo", schema.ContentLimit{MaxTitle: 40, MaxBody: 100, MaxPayloadBytes: 2048}, false},
		{"nonesuch", schema.ContentLimit{AllowEmpty: true, MaxPayloadBytes: 2048}, false},
	}
	for _, tt := range tests {
		t.Run(tt.channel, func(t *testing.T) {
			if got := ContentLimit(tt.channel); got != tt.limit {
				t.Fatalf("ContentLimit = %+v, want %+v", got, tt.limit)
			}
			if got := len(ThrottleCodes(tt.channel)) > 0; got != tt.throttles {
				t.Fatalf("has throttle codes = %v, want %v", got, tt.throttles)
			}
		})
	}
}

// TestLookupIsCheap checks that the look-ups fanout makes for every
// delivery it plans build no descriptors, and that a caller changing the
// slice Vendors returns changes nothing for the others.
func TestLookupIsCheap(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := Lookup("mipush"); !ok {
			t.Fatal("mipush is not registered")
		}
		_ = ContentLimit("apns")
		_ = ContentLimit("no-such-channel")
	}); n != 0 {
		t.Fatalf("Lookup and ContentLimit allocate %.0f times a call, want 0", n)
	}
	vs := Vendors()
	vs[0] = vs[1]
	if got := Vendors()[0].Name; got != "apns" {
		t.Fatalf("after a caller overwrote its slice, Vendors()[0] is %q, want apns", got)
	}
}
