package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// ch is the ClickHouse server of this test binary, started by TestMain.
var ch *testinfra.ClickHouse

func TestMain(m *testing.M) {
	testinfra.MainWithClickHouse(m, func(c *testinfra.ClickHouse) { ch = c })
}

const (
	testApp   = "ONEX570DA89211721"
	otherApp  = "ONEXOTHERAPP00001"
	testSpace = "default"
)

// testKey returns the AccessKey of testApp (0) or otherApp (1).
func testKey(i int) AccessKey {
	return [2]AccessKey{
		{ID: "PPAKtestapp0000000000001", Secret: "test-app-secret-0123456789abcd"},
		{ID: "PPAKotherapp000000000001", Secret: "other-app-secret-0123456789abc"},
	}[i]
}

// env is one test's gateway of region sg over its own broker (topics with
// one partition) and its own database.
type env struct {
	t       *testing.T
	brokers []string
	conn    driver.Conn
	db      string
	prod    *pipeline.Producer
	reg     *prometheus.Registry
	srv     *Server
	client  *Client
	// next is the next offset to read per topic.
	next map[string]int64
}

func newEnv(t *testing.T, adjust ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, brokers: []string{testinfra.Kafka(t)}, conn: ch.Conn(t), db: testinfra.DBPrefix(t) + "sg",
		reg: prometheus.NewRegistry(), next: map[string]int64{}}
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := pipeline.EnsureTopics(pctx, e.brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics("sg"), 1); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(pctx, e.conn, e.db, 30); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.prod, err = pipeline.NewProducer(pipeline.ProducerConfig{Brokers: e.brokers}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.prod.Close() })
	cfg := Config{Region: "sg", Producer: e.prod, Brokers: e.brokers, ClickHouse: e.conn, Database: e.db,
		Apps:    []App{{AppID: testApp, WorkspaceID: testSpace, AccessKeys: []AccessKey{testKey(0)}}, {AppID: otherApp, AccessKeys: []AccessKey{testKey(1)}}},
		Metrics: e.reg, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
	for _, a := range adjust {
		a(&cfg)
	}
	if e.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.srv.Close(); err != nil {
			t.Error(err)
		}
	})
	e.client = &Client{BaseURL: e.srv.URL(), AccessKey: testKey(0)}
	return e
}

// call posts a signed body and returns the answer and the refusal (an
// *Error), if any; any other failure ends the test.
func (e *env) call(path string, body any) (*Response, error) {
	e.t.Helper()
	resp, err := e.client.Call(context.Background(), path, body)
	var ge *Error
	if err != nil && !errors.As(err, &ge) {
		e.t.Fatalf("calling %s: %v", path, err)
	}
	return resp, err
}

// expect calls path and checks the outcome: with want 0 it must succeed
// and the Response is returned; otherwise it must be refused with want and
// HTTP status (any status when 0), and nil is returned.
func (e *env) expect(t *testing.T, path string, body any, status int, want schema.ResultCode) *Response {
	t.Helper()
	resp, err := e.call(path, body)
	if want == 0 {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return resp
	}
	refused(t, err, status, want)
	return nil
}

// query calls a query route: with want 0 it must succeed and its answer
// is decoded into out (true is returned); otherwise it must be refused with
// want and HTTP 400 (false is returned).
func (e *env) query(t *testing.T, path string, body any, want schema.ResultCode, out any) bool {
	t.Helper()
	err := e.client.Query(context.Background(), path, body, out)
	if want != 0 {
		refused(t, err, 400, want)
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// refused checks that err is a gateway refusal with code want (and its
// name) and the HTTP status (any when 0).
func refused(t *testing.T, err error, status int, want schema.ResultCode) {
	t.Helper()
	var ge *Error
	if !errors.As(err, &ge) || ge.Code != want || ge.Name != want.Name() || (status != 0 && ge.Status != status) {
		t.Fatalf("got %v; want %d %s (HTTP %d)", err, want, want.Name(), status)
	}
}

// records returns the records written to topic since the last call.
func (e *env) records(topic string) []kafka.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", e.brokers[0], topic, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	end, err := conn.ReadLastOffset()
	_ = conn.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []kafka.Message
	if e.next[topic] >= end {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, Topic: topic, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer func() { _ = r.Close() }()
	if err := r.SetOffset(e.next[topic]); err != nil {
		e.t.Fatal(err)
	}
	for e.next[topic] < end {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			e.t.Fatalf("reading %s: %v", topic, err)
		}
		out = append(out, m)
		e.next[topic] = m.Offset + 1
	}
	return out
}

// only returns the one record written to topic since the last read.
func (e *env) only(topic string) kafka.Message {
	e.t.Helper()
	ms := e.records(topic)
	if len(ms) != 1 {
		e.t.Fatalf("%d records on %s, want 1", len(ms), topic)
	}
	return ms[0]
}

// raw posts body to path with the given headers and query, unsigned
// unless the headers sign it, and decodes the gateway's answer.
func (e *env) raw(method, path string, body []byte, headers map[string]string) (int, Response) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	var r Response
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		e.t.Fatalf("%s %s: answer is not a Response: %v", method, path, err)
	}
	return res.StatusCode, r
}

// requests returns pushpipe_gateway_requests_total of route and code.
func (e *env) requests(route, code string) float64 {
	e.t.Helper()
	var m dto.Metric
	if err := e.srv.m.requests.WithLabelValues(route, code).Write(&m); err != nil {
		e.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// app returns fields with the appRef fields of testApp added (see with).
func app(fields map[string]any) map[string]any {
	return with(map[string]any{"appId": testApp, "workspaceId": testSpace}, fields)
}
