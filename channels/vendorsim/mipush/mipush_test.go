package mipush_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
)

// The MiPush app the tests push with (simtest.StartMiPush).
const (
	appID  = simtest.MiPushAppID
	secret = simtest.MiPushSecret
	pkg    = simtest.MiPushPackage
	region = "sg"
)

func TestMiPushAnswers(t *testing.T) {
	srv := simtest.StartMiPush(t, nil)
	base := srv.MiPushBaseURL(region)
	tests := []struct {
		scenario   string
		auth       string
		form       func() url.Values
		wantCode   int
		wantReason string
		wantBad    string
		wantInfo   string
	}{
		{"success", "key=" + secret, func() url.Values { return simtest.MiPushForm("r1,r2") }, 0, "", "", "Received push messages for 2 REGID"},
		{"some bad regids", "key=" + secret, func() url.Values { return simtest.MiPushForm("r1,bad-r2,bad-r3") }, 0, "", "bad-r2,bad-r3", "Received push messages for 1 REGID"},
		{"no valid targets", "key=" + secret, func() url.Values { return simtest.MiPushForm("bad-r1") }, 20301, "No valid targets!", "", ""},
		{"wrong secret", "key=nope", func() url.Values { return simtest.MiPushForm("r1") }, 21301, "Invalid application secret.", "", ""},
		{"missing authorization", "", func() url.Values { return simtest.MiPushForm("r1") }, 21301, "Invalid application secret.", "", ""},
		{"uppercase key prefix", "KEY=" + secret, func() url.Values { return simtest.MiPushForm("r1") }, 21301, "Invalid application secret.", "", ""},
		{"missing registration_id", "key=" + secret, func() url.Values { f := simtest.MiPushForm("r1"); f.Del("registration_id"); return f }, 10016, "registration_id is required", "", ""},
		{"notification without title", "key=" + secret, func() url.Values { f := simtest.MiPushForm("r1"); f.Del("title"); return f }, 65011, "Title or Description is empty!", "", ""},
		{"pass-through without title", "key=" + secret, func() url.Values {
			f := simtest.MiPushForm("r1")
			f.Del("title")
			f.Del("description")
			f.Set("pass_through", "1")
			return f
		}, 0, "", "", "Received push messages for 1 REGID"},
		{"title too long", "key=" + secret, func() url.Values { f := simtest.MiPushForm("r1"); f.Set("title", strings.Repeat("标", 51)); return f }, 10017, "", "", ""},
		{"description too long", "key=" + secret, func() url.Values {
			f := simtest.MiPushForm("r1")
			f.Set("description", strings.Repeat("d", 129))
			return f
		}, 10017, "", "", ""},
		{"payload too long", "key=" + secret, func() url.Values {
			f := simtest.MiPushForm("r1")
			f.Set("payload", strings.Repeat("p", 4097))
			return f
		}, 65009, "", "", ""},
		{"wrong package", "key=" + secret, func() url.Values {
			f := simtest.MiPushForm("r1")
			f.Set("restricted_package_name", "com.other")
			return f
		}, 22022, "Invalid package name: com.other", "", ""},
		{"bad ttl", "key=" + secret, func() url.Values { f := simtest.MiPushForm("r1"); f.Set("time_to_live", "-5"); return f }, 10017, "", "", ""},
		{"ttl over two weeks", "key=" + secret, func() url.Values {
			f := simtest.MiPushForm("r1")
			f.Set("time_to_live", fmt.Sprint((15 * 24 * time.Hour).Milliseconds()))
			return f
		}, 10017, "", "", ""},
		{"callback param too long", "key=" + secret, func() url.Values {
			f := simtest.MiPushForm("r1")
			f.Set("extra.callback.param", strings.Repeat("c", 65))
			return f
		}, 65036, "", "", ""},
		{"callback url illegal", "key=" + secret, func() url.Values { f := simtest.MiPushForm("r1"); f.Set("extra.callback", "not a url"); return f }, 65038, "", "", ""},
		{"too many regids", "key=" + secret, func() url.Values {
			ids := make([]string, 1001)
			for i := range ids {
				ids[i] = fmt.Sprintf("r%d", i)
			}
			return simtest.MiPushForm(strings.Join(ids, ","))
		}, 10017, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a, _ := simtest.PushMiPush(t, base, tc.auth, tc.form())
			if status != http.StatusOK {
				t.Fatalf("HTTP %d", status)
			}
			if a.Code != tc.wantCode {
				t.Fatalf("code %d (%s / %s), want %d", a.Code, a.Description, a.Reason, tc.wantCode)
			}
			wantResult := "ok"
			if tc.wantCode != 0 {
				wantResult = "error"
			}
			if a.Result != wantResult || a.TraceID == "" || a.Description == "" {
				t.Errorf("answer %+v: want result %q with trace_id and description", a, wantResult)
			}
			if tc.wantReason != "" && a.Reason != tc.wantReason {
				t.Errorf("reason %q, want %q", a.Reason, tc.wantReason)
			}
			if tc.wantCode == 0 && (a.Data.ID == "" || a.Data.BadRegIDs != tc.wantBad || a.Info != tc.wantInfo) {
				t.Errorf("data %+v info %q, want bad_regids %q info %q", a.Data, a.Info, tc.wantBad, tc.wantInfo)
			}
		})
	}

	st := srv.Stats()
	app := st.Vendors[vendorsim.VendorMiPush].Regions[region].Apps[appID]
	unknown := st.Vendors[vendorsim.VendorMiPush].Regions[region].Apps[vendorsim.UnknownApp]
	if st.Requests != int64(len(tests)) || app == nil || unknown == nil {
		t.Fatalf("stats %+v", st)
	}
	if unknown.Requests != 3 || unknown.Rejected != 3 {
		t.Errorf("unknown app stats %+v, want 3 rejected requests", unknown)
	}
	if app.Accepted != 3 || app.Messages != 4 || app.InvalidTokens != 3 || app.Tokens["r1"] != 3 || app.Tokens["r2"] != 1 {
		t.Errorf("app stats %+v", app)
	}
}

func TestOtherPathsAndRegions(t *testing.T) {
	srv := simtest.StartMiPush(t, func(c *vendorsim.Config) { c.MiPush.Regions = []string{"sg", "eu"} })
	tests := []struct {
		scenario   string
		method     string
		path       string
		wantStatus int
	}{
		{"get on the push api", http.MethodGet, "/mipush/sg/v3/message/regid", http.StatusMethodNotAllowed},
		{"unserved api", http.MethodPost, "/mipush/sg/v2/message/alias", http.StatusNotFound},
		{"unserved region", http.MethodPost, "/mipush/ru/v3/message/regid", http.StatusNotFound},
		{"health", http.MethodGet, "/healthz", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL()+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("%s %s: HTTP %d, want %d", tc.method, tc.path, resp.StatusCode, tc.wantStatus)
			}
		})
	}
}
