package e2e

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/workers/receipts"
)

// startReceipts starts the receipts worker of region on a free loopback
// port, wired as the binary wires it, with its own metrics registry,
// which its internal health server (e.internalURL) exports; both stop
// when the test ends.
func (e *env) startReceipts(region string) *receipts.Server {
	e.t.Helper()
	d := e.deps()
	reg := prometheus.NewRegistry()
	d.Metrics = reg
	srv, err := app.StartReceipts(context.Background(), d, region, "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	health := pipeline.NewHealthServer("127.0.0.1:0", reg, nil)
	if err := health.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	if e.internal == nil {
		e.internal = map[string]string{}
	}
	e.internal[srv.Addr()] = "http://" + health.Addr()
	e.t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			e.t.Errorf("closing the receipts worker: %v", err)
		}
		if err := health.Close(); err != nil {
			e.t.Errorf("closing its health server: %v", err)
		}
	})
	return srv
}

// internalURL is the base URL of the internal health server (/healthz,
// /readyz, /metrics) of the receipts worker or gateway listening on
// publicAddr.
func (e *env) internalURL(publicAddr string) string {
	e.t.Helper()
	u, ok := e.internal[publicAddr]
	if !ok {
		e.t.Fatalf("no internal health server for %s", publicAddr)
	}
	return u
}

// httpPost posts body and returns the status and the answer.
func httpPost(t *testing.T, client *http.Client, u, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return do(t, client, req)
}

// httpGet returns the body of a GET.
func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The receipt samples of §7.2.10 of the mPaaS MPS guide, verbatim. MiPush
// posts its "data" object form-encoded (see miPushForm).
const (
	sampleHMS = `{
  "statuses": [
    {
      "clientId": "103961659",
      "biTag": "0#5#1.1#console_1730792931023&b89351344a8e1f3b",
      "requestId": "173079293285270303027401",
      "appid": "103961659",
      "status": 0,
      "timestamp": 1730792933696,
      "token": "IQAAAAACy0f7tAABvr6Xzid061rECNx-1-eog1VNUSyZcIo-1Pc9ehqnEfIyuIsxxx"
    }
  ]
}`
	sampleHonor = `{  
  "statuses": [{  
    "appId": "104420205",  
    "biTag": "0#9#1.1#console_1730794397675&61db03efcf7fc862",  
    "requestId": "104420205-4fe376129032981e38b60cf15ea77154",  
    "status": 40000002,  
    "timestamp": 1730794400089,  
    "token": "BAEAAAAAB.jlTbs5YD0dhYQKfqri5606iN7CbY5xxx"  
  }]  
}`
	sampleHarmonyOS = `{  
  "statuses": [{  
    "biTag": "0#11#null#console_1730776169529&6e8afeebfc8a45a0",  
    "requestId": "173077617124367218031101",  
    "appPackageName": "com.alipay.demo",  
    "deliveryStatus": {  
      "result": 5,  
      "timestamp": 1730776171647  
    },  
    "pushType": 0,  
    "token": "MAMzLgIkEUIGTTuAstOIywAAAGQAAAAAAHmQeccAFJF5u8WsIrXbQOuxxxxxx"  
  }]  
}`
	sampleMiPushData = `{
    "smm67747730775367865gS": {
      "param": "0#4#1.1#console_1730775366036&671135c53a89dde2",
      "barStatus": "Enable",
      "type": 1,
      "targets": "oUU0LhUv9qgw2HEtgtWmxEqX91dkWesBHQxxx",
      "timestamp": 1730775368258
    }
  }`
	sampleOPPO = `[{
  "appId": "30186722",
  "eventTime": "1730776852465",
  "eventType": "push_arrive",
  "messageId": "30186722-1-1-67298eb8f8686b014e6d1a83",
  "param": "0#7#1.1#console_1730776758644&282216e3998ff0d0",
  "registrationIds": "OPPO_CN_5e33c42e910xxx"
}]`
	sampleVivo = `{
    "1303318675076815015": {
        "param": "0#8#1.1#console_1730776984809&8903e8823304c0bf",
        "targets": "v2-CRi5wSCKrfIr7yWs_BKTpim6RbPAnEMVah6xxx",
        "ackTime": 1730776986789,
        "ackType": "0"
    }
}`
)

// sampleValues are the correlation values, tokens and timestamps of the
// samples, replaced by ours.
var (
	sampleTags = []string{
		"0#5#1.1#console_1730792931023&b89351344a8e1f3b", "0#9#1.1#console_1730794397675&61db03efcf7fc862",
		"0#11#null#console_1730776169529&6e8afeebfc8a45a0", "0#4#1.1#console_1730775366036&671135c53a89dde2",
		"0#7#1.1#console_1730776758644&282216e3998ff0d0", "0#8#1.1#console_1730776984809&8903e8823304c0bf",
	}
	sampleTokens = []string{
		"IQAAAAACy0f7tAABvr6Xzid061rECNx-1-eog1VNUSyZcIo-1Pc9ehqnEfIyuIsxxx", "BAEAAAAAB.jlTbs5YD0dhYQKfqri5606iN7CbY5xxx",
		"MAMzLgIkEUIGTTuAstOIywAAAGQAAAAAAHmQeccAFJF5u8WsIrXbQOuxxxxxx", "oUU0LhUv9qgw2HEtgtWmxEqX91dkWesBHQxxx",
		"OPPO_CN_5e33c42e910xxx", "v2-CRi5wSCKrfIr7yWs_BKTpim6RbPAnEMVah6xxx",
	}
	sampleTimes = []string{"1730792933696", "1730794400089", "1730776171647", "1730775368258", "1730776852465", "1730776986789"}
)

// ourSample is a §7.2.10 sample carrying our correlation value and token
// (several tokens are joined with commas) and a timestamp of now, with
// any further replacements (old, new pairs) applied.
func ourSample(sample, correlation string, tokens []string, more ...string) string {
	now := time.Now().UnixMilli()
	pairs := []string{}
	for _, tag := range sampleTags {
		pairs = append(pairs, tag, correlation)
	}
	for _, tok := range sampleTokens {
		pairs = append(pairs, tok, strings.Join(tokens, ","))
	}
	for _, ts := range sampleTimes {
		pairs = append(pairs, ts, strconv.FormatInt(now, 10))
	}
	return strings.NewReplacer(append(pairs, more...)...).Replace(sample)
}

// miPushForm is how MiPush posts its receipt: the data object as the
// form field data.
func miPushForm(data string) string { return url.Values{"data": {data}}.Encode() }

// param is the callback parameter the channels send to vendor (mipush,
// oppo, vivo) for correlation value of testApp: the value and its tag,
// which the vendor echoes in its receipts.
func (e *env) param(vendor, value string) string { return e.key.ReceiptParam(vendor, testApp, value) }

// receiptCredentials are the demo receipt credentials of app (testApp
// when empty).
func (e *env) receiptCredentials(app ...string) *config.AppReceipts {
	e.t.Helper()
	id := testApp
	if len(app) > 0 {
		id = app[0]
	}
	for _, a := range e.cfg.Apps {
		if a.AppID == id && a.Receipts != nil {
			return a.Receipts
		}
	}
	e.t.Fatalf("app %s has no receipt credentials", id)
	return nil
}

// postReceipt posts body to the receipts worker at base
// (/receipts/<vendor>?app=testApp) with the proof vendor adds for
// testApp's demo credentials: Huawei's X-HUAWEI-CALLBACK-ID (hms,
// harmonyos), the Honor receipt token, the app SDK's signature (client);
// MiPush, OPPO and vivo bodies carry tagged parameters (env.param)
// themselves. It returns the status and the answer.
func (e *env) postReceipt(t *testing.T, client *http.Client, base, vendor, contentType, body string) (int, string) {
	t.Helper()
	return e.postReceiptAs(t, client, base, testApp, vendor, contentType, body)
}

// postReceiptAs is postReceipt for app.
func (e *env) postReceiptAs(t *testing.T, client *http.Client, base, app, vendor, contentType, body string) (int, string) {
	t.Helper()
	return do(t, client, receiptRequest(app, e.receiptCredentials(app), base, vendor, contentType, body))
}

// do sends req and returns the status and the answer.
func do(t *testing.T, client *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// receiptRequest is the request postReceiptAs sends for app, signed now
// with c.
func receiptRequest(app string, c *config.AppReceipts, base, vendor, contentType, body string) *http.Request {
	q := url.Values{"app": {app}}
	if vendor == "honor" {
		q.Set("token", c.HonorToken.Reveal())
	}
	req := httptest.NewRequest(http.MethodPost, base+"/receipts/"+vendor+"?"+q.Encode(), strings.NewReader(body))
	req.RequestURI = "" // a client request
	req.Header.Set("Content-Type", contentType)
	now := time.Now()
	switch vendor {
	case "hms":
		req.Header.Set(receipts.HeaderHuaweiCallbackID, receipts.HuaweiCallbackID(c.Huawei["hms"].User, c.Huawei["hms"].Key, now, rand.Text()))
	case "harmonyos":
		req.Header.Set(receipts.HeaderHuaweiCallbackID, receipts.HuaweiCallbackID(c.Huawei["harmonyos"].User, c.Huawei["harmonyos"].Key, now, rand.Text()))
	case "client":
		req.Header.Set(receipts.HeaderClientTimestamp, strconv.FormatInt(now.UnixMilli(), 10))
		req.Header.Set(receipts.HeaderClientSignature, receipts.ClientSignature(app, c.ClientKey, now, []byte(body)))
	}
	return req
}
