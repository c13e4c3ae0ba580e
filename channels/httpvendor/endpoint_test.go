package httpvendor_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
)

// app is a vendor's credentials: its String hides the secret.
type app struct {
	Key    string          `json:"key" yaml:"key"`
	Secret channels.Secret `json:"secret" yaml:"secret"`
}

func (a app) String() string { return fmt.Sprintf("{key=%s secret=%s}", a.Key, a.Secret) }

// config is a vendor's Config as the vendors embed an Endpoint.
type config struct {
	httpvendor.Endpoint[app] `yaml:",inline"`
	Extra                    string `json:"extra" yaml:"extra"`
}

// defaults publish a host in cn only, as vivo does.
func defaults() httpvendor.Defaults {
	return httpvendor.Defaults{Vendor: "acme", Timeout: 5 * time.Second, MaxBatch: 500,
		RegionBaseURL: func(region string) (string, bool) {
			if region == "cn" {
				return "https://push.acme.example", true
			}
			return "", false
		}}
}

func TestWithDefaultsFillsOnlyZeroFields(t *testing.T) {
	tests := []struct {
		scenario string
		in, want httpvendor.Endpoint[app]
	}{
		{"zero fields take the region's host and the vendor's defaults",
			httpvendor.Endpoint[app]{Region: "cn"},
			httpvendor.Endpoint[app]{Region: "cn", BaseURL: "https://push.acme.example", Timeout: 5 * time.Second, MaxBatch: 500}},
		{"a region without a published host keeps BaseURL empty",
			httpvendor.Endpoint[app]{Region: "sg"},
			httpvendor.Endpoint[app]{Region: "sg", Timeout: 5 * time.Second, MaxBatch: 500}},
		{"set fields are kept",
			httpvendor.Endpoint[app]{Region: "cn", BaseURL: "http://127.0.0.1:9/acme/cn", Timeout: time.Second, MaxBatch: 7},
			httpvendor.Endpoint[app]{Region: "cn", BaseURL: "http://127.0.0.1:9/acme/cn", Timeout: time.Second, MaxBatch: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if got := tt.in.WithDefaults(defaults()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("WithDefaults = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckReportsEveryProblemInOrder(t *testing.T) {
	good := map[string]app{"A": {Key: "k", Secret: "s"}}
	tests := []struct {
		scenario string
		e        httpvendor.Endpoint[app]
		want     []string
	}{
		{"a good endpoint", httpvendor.Endpoint[app]{Region: "sg", BaseURL: "https://sg.acme.example", Apps: good,
			Timeout: time.Second, MaxBatch: 500}, nil},
		{"an unknown region is named once, not again as an empty baseUrl",
			httpvendor.Endpoint[app]{Region: "us", Apps: good, Timeout: time.Second, MaxBatch: 1},
			[]string{`acme config: unknown region "us" (want cn, ru, in, eu or sg)`}},
		{"a known region without a published host asks for baseUrl",
			httpvendor.Endpoint[app]{Region: "sg", Apps: good, Timeout: time.Second, MaxBatch: 1},
			[]string{`acme config: region "sg" has no published acme host: set baseUrl`}},
		{"every shared problem, the app's own checks between the apps and the timeout",
			httpvendor.Endpoint[app]{Region: "mars", BaseURL: "ftp://x", Apps: map[string]app{"": {}, "B": {}}, MaxBatch: 501},
			[]string{`acme config: unknown region "mars" (want cn, ru, in, eu or sg)`, `acme config: baseUrl: "ftp://x" is not an http(s) URL`,
				"acme config: app with empty id", `acme config: app "": empty key`, `acme config: app "B": empty key`,
				"acme config: timeout must be positive, got 0s", "acme config: maxBatch must be in 1..500, got 501"}},
		{"no apps", httpvendor.Endpoint[app]{Region: "cn", BaseURL: "https://push.acme.example", Timeout: time.Second, MaxBatch: 1},
			[]string{"acme config: no apps configured"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			chk := channels.NewConfigCheck("acme")
			tt.e.Check(chk, defaults(), func(id string, a app) {
				if a.Key == "" {
					chk.Bad("app %q: empty key", id)
				}
			})
			var got []string
			if err := chk.Err(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestEmbeddedEndpointKeepsTheKeysAndHidesSecrets: a Config embedding an
// Endpoint has the Endpoint's keys at its top level in JSON and YAML, and
// neither those nor String show a secret.
func TestEmbeddedEndpointKeepsTheKeysAndHidesSecrets(t *testing.T) {
	c := config{Endpoint: httpvendor.Endpoint[app]{Region: "cn", BaseURL: "https://push.acme.example",
		Apps:    map[string]app{"B": {Key: "kb", Secret: "s3cr3t-b"}, "A": {Key: "ka", Secret: "s3cr3t-a"}},
		Timeout: 5 * time.Second, MaxBatch: 500}, Extra: "x"}
	wantKeys := []string{"apps", "baseUrl", "extra", "maxBatch", "region", "timeout"}

	printed := []string{c.Endpoint.String(), fmt.Sprintf("%v", c.Endpoint)}
	codecs := []struct {
		name      string
		marshal   func(any) ([]byte, error)
		unmarshal func([]byte, any) error
	}{{"JSON", json.Marshal, json.Unmarshal}, {"YAML", yaml.Marshal, yaml.Unmarshal}}
	for _, codec := range codecs {
		out, err := codec.marshal(c)
		if err != nil {
			t.Fatalf("%s: %v", codec.name, err)
		}
		printed = append(printed, string(out))
		var m map[string]any
		if err := codec.unmarshal(out, &m); err != nil {
			t.Fatalf("%s: %v", codec.name, err)
		}
		if keys := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, wantKeys) {
			t.Errorf("%s keys %q, want %q", codec.name, keys, wantKeys)
		}
	}
	var back config
	if err := yaml.Unmarshal([]byte("region: sg\nbaseUrl: https://sg.acme.example\ntimeout: 2s\nmaxBatch: 9\nextra: y\napps:\n  A: {key: k, secret: s}\n"), &back); err != nil {
		t.Fatal(err)
	}
	if back.Region != "sg" || back.BaseURL != "https://sg.acme.example" || back.Timeout != 2*time.Second || back.MaxBatch != 9 ||
		back.Extra != "y" || back.Apps["A"].Secret.Reveal() != "s" {
		t.Errorf("YAML decoded into %+v", back)
	}

	const wantString = "Region:cn BaseURL:https://push.acme.example Apps:[A={key=ka secret=" + channels.Redacted +
		"} B={key=kb secret=" + channels.Redacted + "}] Timeout:5s MaxBatch:500"
	if s := c.Endpoint.String(); s != wantString {
		t.Errorf("String = %q, want %q", s, wantString)
	}
	for _, s := range printed {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestFromSetupTakesTheSetupsEndpoint(t *testing.T) {
	apps := map[string]app{"A": {Key: "k"}}
	s := channels.Setup{Region: "eu", BaseURL: "http://127.0.0.1:9/acme/eu", AuthURL: "http://127.0.0.1:9/auth", Timeout: time.Second,
		CallbackURL: "https://cb.example"}
	want := httpvendor.Endpoint[app]{Region: "eu", BaseURL: "http://127.0.0.1:9/acme/eu", Apps: apps, Timeout: time.Second}
	if got := httpvendor.FromSetup(s, apps); !reflect.DeepEqual(got, want) {
		t.Errorf("FromSetup = %+v, want %+v", got, want)
	}
}
