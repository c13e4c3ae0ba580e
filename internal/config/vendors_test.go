package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/registry"
)

// Every vendor of the registry has its credentials section apps[].<name>
// (of the type its NewApp returns) and its endpoint section
// vendors.<name>, read by VendorBaseURL, VendorAuthURL and VendorTimeout.
func TestEveryRegistryVendorHasItsConfigSections(t *testing.T) {
	for _, v := range registry.Vendors() {
		t.Run(v.Name, func(t *testing.T) {
			f, ok := section(reflect.ValueOf(&AppConfig{}).Elem(), v.Name)
			if !ok {
				t.Fatalf("AppConfig has no field with YAML key %q", v.Name)
			}
			if want := reflect.TypeOf(v.NewApp()); f.Type() != want {
				t.Fatalf("apps[].%s is %s, want %s", v.Name, f.Type(), want)
			}
			a := AppConfig{AppID: "A"}
			f = reflect.ValueOf(&a).Elem()
			s, _ := section(f, v.Name)
			s.Set(reflect.ValueOf(v.NewApp()))
			if got := a.VendorApps(); len(got) != 1 || got[v.Name] == nil {
				t.Fatalf("VendorApps() = %v, want only %s", got, v.Name)
			}
			if err := a.validateVendorApps(0); err == nil || !strings.HasPrefix(err.Error(), "apps[0] (A)."+v.Name) {
				t.Fatalf("an empty %s section: %v", v.Name, err)
			}

			c := &Config{}
			e, ok := section(reflect.ValueOf(&c.Vendors).Elem(), v.Name)
			if !ok {
				t.Fatalf("VendorsConfig has no field with YAML key %q", v.Name)
			}
			e.FieldByName("BaseURLs").Set(reflect.ValueOf(map[string]string{"sg": "https://" + v.Name + ".example"}))
			e.FieldByName("Timeout").Set(reflect.ValueOf(7 * time.Second))
			if got := c.VendorBaseURL(v.Name, "sg"); got != "https://"+v.Name+".example" {
				t.Errorf("VendorBaseURL = %q", got)
			}
			if got := c.VendorTimeout(v.Name); got != 7*time.Second {
				t.Errorf("VendorTimeout = %s", got)
			}
		})
	}
}

func TestVendorURLsOnTheSimulator(t *testing.T) {
	c := &Config{Vendors: VendorsConfig{Simulator: true, SimulatorAddr: "127.0.0.1:1", SimulatorTLSAddr: "127.0.0.1:2"}}
	for _, tt := range []struct{ vendor, base, auth string }{
		{"apns", "https://127.0.0.1:2/apns/sg", "https://127.0.0.1:2/apns/sg"},
		{"fcm", "http://127.0.0.1:1/fcm/sg", "http://127.0.0.1:1/fcm/sg/token"},
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
