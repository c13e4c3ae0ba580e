package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pushpipe/pushpipe/channels/registry"
)

// Every vendor of the registry has its credentials section apps[].<name>
// (decoded into the type its NewApp returns) and, but SMS, its endpoint
// section vendors.<name>, read by VendorBaseURL, VendorAuthURL and
// VendorTimeout; authUrls only where the vendor takes them.
func TestEveryRegistryVendorHasItsConfigSections(t *testing.T) {
	for _, v := range registry.Vendors() {
		t.Run(v.Name, func(t *testing.T) {
			c, err := Load(write(t, "apps: [{appId: A, "+v.Name+": {}}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			a := c.Apps[0]
			if want := reflect.TypeOf(v.NewApp()); reflect.TypeOf(a.Credentials[v.Name]) != want {
				t.Fatalf("apps[].%s is %T, want %s", v.Name, a.Credentials[v.Name], want)
			}
			if got := a.VendorApps(); len(got) != 1 || got[v.Name] == nil {
				t.Fatalf("VendorApps() = %v, want only %s", got, v.Name)
			}
			if err := a.validateVendorApps(0); err == nil || !strings.HasPrefix(err.Error(), "apps[0] (A)."+v.Name) {
				t.Fatalf("an empty %s section: %v", v.Name, err)
			}

			c, err = Load(write(t, "vendors: {"+v.Name+": {baseUrls: {sg: \"https://"+v.Name+".example\"}, timeout: 7s}}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.VendorBaseURL(v.Name, "sg"); got != "https://"+v.Name+".example" {
				t.Errorf("VendorBaseURL = %q", got)
			}
			if got := c.VendorTimeout(v.Name); got != 7*time.Second {
				t.Errorf("VendorTimeout = %s", got)
			}
			_, err = Load(write(t, "vendors: {"+v.Name+": {authUrls: {sg: \"https://auth.example\"}}}\n"))
			if refused := err != nil && strings.Contains(err.Error(), "field authUrls not found"); refused == v.AuthURLs {
				t.Errorf("authUrls of %s (Vendor.AuthURLs %v): %v", v.Name, v.AuthURLs, err)
			}
		})
	}
}

// The vendor sections are read strictly, as the rest of the file: an
// unknown key in an app, in vendors or in an app's receipts, or in one
// of their vendor sections, is refused with the line it is on.
func TestVendorSectionsRefuseUnknownKeys(t *testing.T) {
	for _, tc := range []struct{ body, wantErr string }{
		{"apps:\n  - appId: a\n    mipsh: {appSecret: s}\n", "line 3: field mipsh not found in type config.AppConfig"},
		{"apps: [{appId: a, mipush: {appSecrt: s}}]\n", "field appSecrt not found in type mipush.App"},
		{"vendors: {fcmm: {}}\n", "field fcmm not found in type config.VendorsConfig"},
		{"vendors: {hms: {baseUrl: {}}}\n", "field baseUrl not found in type config.VendorEndpoint"},
		{"apps: [{appId: a, receipts: {hms: {usr: u}}}]\n", "field usr not found in type receipts.HuaweiCallback"},
		{"apps: [{appId: a, receipts: {honor: {user: u}}}]\n", "field honor not found in type config.AppReceipts"},
	} {
		t.Run(tc.wantErr, func(t *testing.T) {
			if _, err := Load(write(t, tc.body)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// A configuration written out as YAML reads back the same vendor
// sections.
func TestVendorSectionsRoundTrip(t *testing.T) {
	c, err := Load(write(t, "vendors: {hms: {baseUrls: {sg: \"https://h.example\"}, authUrls: {sg: \"https://a.example\"}}, mipush: {timeout: 3s}}\n"+
		"apps: [{appId: a, vivo: {appId: \"1\", appKey: k}, receipts: {harmonyos: {user: u}}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(write(t, string(out)))
	if err != nil {
		t.Fatalf("reading back %s: %v", out, err)
	}
	if back.VendorAuthURL("hms", "sg") != "https://a.example" || back.VendorTimeout("mipush") != 3*time.Second ||
		back.Apps[0].Credentials["vivo"] == nil || back.Apps[0].Receipts.Huawei["harmonyos"].User != "u" {
		t.Fatalf("read back %+v from %s", back, out)
	}
}

func TestVendorURLsOnTheSimulator(t *testing.T) {
	c := &Config{Vendors: VendorsConfig{Simulator: true, SimulatorAddr: "127.0.0.1:1", SimulatorTLSAddr: "127.0.0.1:2"}}
	for _, tt := range []struct{ vendor, base, auth string }{
		{"apns", "https://127.0.0.1:2/apns/sg", "https://127.0.0.1:2/apns/sg"},
		{"fcm", "https://127.0.0.1:2/fcm/sg", "https://127.0.0.1:2/fcm/sg/token"},
		{"honor", "http://127.0.0.1:1/honor/sg", "http://127.0.0.1:1/honor/sg/auth/token"},
		{"hms", "http://127.0.0.1:1/hms/sg", "http://127.0.0.1:1/hms/sg"},
		{"mipush", "http://127.0.0.1:1/mipush/sg", "http://127.0.0.1:1/mipush/sg"},
	} {
		t.Run(tt.vendor, func(t *testing.T) {
			if got := c.VendorBaseURL(tt.vendor, "sg"); got != tt.base {
				t.Errorf("VendorBaseURL = %q, want %q", got, tt.base)
			}
			if got := c.VendorAuthURL(tt.vendor, "sg"); got != tt.auth {
				t.Errorf("VendorAuthURL = %q, want %q", got, tt.auth)
			}
		})
	}
}
