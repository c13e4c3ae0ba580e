package e2e

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/callbacks"
)

// businessCallback is one POST the business system received: the raw body
// and the sign query parameter, as its controller sees them.
type businessCallback struct {
	body []byte
	sign string
}

// TestSignedBusinessCallbacks publishes a SIMPLE push with a callbackUrl
// to two devices with good tokens and one whose token the vendor calls
// invalid, through the whole chain with the callbacks worker. The business
// system (an httptest server that fails its first request with 503)
// receives one callback per device, each verifying against the public key
// published by the region's receipts worker, exactly as the Java sample of
// §6.9 verifies; ClickHouse records three callback_sent events.
func TestSignedBusinessCallbacks(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...) // builds the callbacks stage, which creates the signing key
	rs := e.startReceipts("sg")

	var mu sync.Mutex
	var got []businessCallback
	biz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			got = append(got, businessCallback{}) // the first request is refused once
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got = append(got, businessCallback{body: body, sign: r.URL.Query().Get("sign")})
	}))
	t.Cleanup(biz.Close)

	tokens := map[string]string{"dev-ok-1": "regid-ok-1", "dev-ok-2": "regid-ok-2", "dev-dead": "bad-regid-dead"}
	targets := map[string]string{"dev-ok-1": "msg-ok-1", "dev-ok-2": "msg-ok-2", "dev-dead": "msg-dead"}
	var devs []schema.Binding
	for dev, tok := range tokens {
		devs = append(devs, device("sg", dev, tok))
	}
	e.registerDevices("sg", devs...)
	const task = "task-callbacks"
	req := simpleRequest("sg", task, targets)
	req["callbackUrl"] = biz.URL + "/push/callback"
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), task, req))

	e.waitFor("three callback_sent events", 2*time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", task)
		return got["callback_sent"] == 3, fmt.Sprint(got)
	})

	// The business system verifies with nothing but the published key.
	pemKey := httpGet(t, rs.URL()+"/callbacks/public-key")
	block, _ := pem.Decode([]byte(pemKey))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("GET /callbacks/public-key = %q, want a PEM public key", pemKey)
	}
	parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := parsed.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 2048 {
		t.Fatalf("published key is %T, want a 2048-bit RSA key", parsed)
	}

	mu.Lock()
	received := append([]businessCallback(nil), got[1:]...) // got[0] is the refused first attempt
	mu.Unlock()
	if len(received) != 3 {
		t.Fatalf("business system got %d callbacks after the refused one, want 3", len(received))
	}
	success := map[string]bool{}
	for _, cb := range received {
		// sign = sign.replace('-', '+'); sign = sign.replace('_', '/');
		sign := strings.ReplaceAll(strings.ReplaceAll(cb.sign, "-", "+"), "_", "/")
		sig, err := base64.StdEncoding.DecodeString(sign)
		if err != nil {
			t.Fatalf("sign %q is not base64 after the sample's replacements: %v", cb.sign, err)
		}
		sum := sha256.Sum256(cb.body)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			t.Fatalf("callback %s does not verify with the published key: %v", cb.body, err)
		}
		var b callbacks.Body
		if err := json.Unmarshal(cb.body, &b); err != nil {
			t.Fatal(err)
		}
		if b.ExtInfo["osType"] != "android" || b.ExtInfo["adToken"] != tokens[b.TargetID] {
			t.Fatalf("extInfo %v of target %s, want osType android and adToken %s", b.ExtInfo, b.TargetID, tokens[b.TargetID])
		}
		if b.MsgID != targets[b.TargetID] {
			t.Fatalf("callback for %s names msgId %s, want %s", b.TargetID, b.MsgID, targets[b.TargetID])
		}
		if b.PushSuccess != (b.StatusCode == "2") {
			t.Fatalf("callback %s: pushSuccess %t with statusCode %s", cb.body, b.PushSuccess, b.StatusCode)
		}
		success[b.TargetID] = b.PushSuccess
	}
	if want := map[string]bool{"dev-ok-1": true, "dev-ok-2": true, "dev-dead": false}; fmt.Sprint(success) != fmt.Sprint(want) {
		t.Fatalf("pushSuccess by target = %v, want %v", success, want)
	}

	// Every callback_sent records the 200 it finally got; one needed a retry.
	rows, err := e.conn.Query(context.Background(), "SELECT status_code, status_desc FROM "+e.db("sg")+
		".events FINAL WHERE task_id = ? AND event = 'callback_sent'", task)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	retried := 0
	for rows.Next() {
		var code int64
		var desc string
		if err := rows.Scan(&code, &desc); err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK || !strings.Contains(desc, "delivered to "+biz.URL+"/push/callback") {
			t.Fatalf("callback_sent status %d %q, want 200 delivered to the business system", code, desc)
		}
		if strings.Contains(desc, "in 2 attempt(s)") {
			retried++
		}
	}
	if retried != 1 {
		t.Fatalf("%d callback_sent events say they needed 2 attempts, want 1 (the 503 was retried)", retried)
	}
}
