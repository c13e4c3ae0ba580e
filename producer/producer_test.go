package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

var sg = App{Region: "sg", AppID: "ONEX570DA89211721", WorkspaceID: "default"}

func code(err error) schema.ResultCode {
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		return ve.Code
	}
	return 0
}

func many(n int) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("d%d", i)] = fmt.Sprintf("m%d", i)
	}
	return m
}

func TestBuildersMakeValidRequests(t *testing.T) {
	kv := map[string]string{"name": "Ann"}
	for _, tc := range []struct {
		scenario string
		req      *schema.Request
		want     schema.ResultCode
	}{
		{"simple", Simple(sg, "t", schema.DeliverAndroid, many(2), "Title", "Body"), 0},
		{"template", Template(sg, "t", schema.DeliverUser, many(10), "promo", kv), 0},
		{"multiple", Multiple(sg, "t", schema.DeliverIOS, "promo", []schema.TargetMsg{{Target: "d1", MsgKey: "m1"}}), 0},
		{"broadcast", Broadcast(sg, "t", schema.DeliverAndroid, "b1", "promo", kv), 0},
		{"simple with 11 targets is 3029", Simple(sg, "t", schema.DeliverAndroid, many(11), "Title", "Body"), schema.CodeSinglePushTargetTooMuch},
		{"simple without title is 3024", Simple(sg, "t", schema.DeliverAndroid, many(1), "", "Body"), schema.CodePayloadNotEnough},
		{"template without name is 3025", Template(sg, "t", schema.DeliverAndroid, many(1), "", kv), schema.CodeNeedTemplate},
		{"broadcast to users is 3030", Broadcast(sg, "t", schema.DeliverUser, "b1", "promo", kv), schema.CodeBroadcastOnlyByDevice},
		{"no task name is 3019", Simple(sg, "", schema.DeliverAndroid, many(1), "T", "B"), schema.CodeTaskNameNull},
		{"live activity update", LiveActivity(sg, "t", schema.DeliverActivityID, many(2), schema.ActivityEventUpdate, []byte(`{"eta":15}`)), 0},
		{"live activity without content state is 3028", LiveActivity(sg, "t", schema.DeliverActivityToken, many(1), schema.ActivityEventEnd, nil), schema.CodeInvalidParam},
		{"live activity to users is 3028", LiveActivity(sg, "t", schema.DeliverUser, many(1), schema.ActivityEventUpdate, []byte(`{}`)), schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if tc.req.ExpiredSeconds != DefaultExpiredSeconds || tc.req.Region != "sg" || tc.req.AppID != sg.AppID {
				t.Fatalf("builder left defaults out: %+v", tc.req)
			}
			if got := code(Validate(tc.req)); got != tc.want {
				t.Fatalf("Validate code = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPrepare(t *testing.T) {
	now := time.UnixMilli(1763856000000)
	for _, tc := range []struct {
		scenario  string
		req       *schema.Request
		region    string
		want      schema.ResultCode
		scheduled bool
	}{
		{scenario: "region filled in", req: &schema.Request{Type: schema.PushSimple, AppID: "A", WorkspaceID: "w", TaskName: "t",
			DeliverType: 1, TargetMsgkey: schema.StringMap{"d": "m"}, Title: "T", Content: "C", ExpiredSeconds: 60}, region: "eu"},
		{scenario: "another region refused", req: Simple(sg, "t", 1, many(1), "T", "C"), region: "eu", want: schema.CodeInvalidParam},
		{scenario: "no region at all refused", req: Simple(App{AppID: "A", WorkspaceID: "w"}, "t", 1, many(1), "T", "C"), want: schema.CodeInvalidParam},
		{scenario: "any region when serving all", req: Simple(sg, "t", 1, many(1), "T", "C")},
		{scenario: "scheduled push names its schedule", req: func() *schema.Request {
			r := Simple(sg, "t", 1, many(1), "T", "C")
			r.StrategyType, r.StrategyContent = schema.StrategyFixedTime, &schema.StrategyContent{FixedTime: now.Add(time.Hour).UnixMilli()}
			return r
		}(), scheduled: true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			out, pub, err := Prepare(tc.req, tc.region, now)
			if got := code(err); got != tc.want {
				t.Fatalf("Prepare = %v, want code %d", err, tc.want)
			}
			if tc.want != 0 {
				return
			}
			r, err := schema.DecodeRequest(out.Value)
			if err != nil {
				t.Fatal(err)
			}
			if r.TaskID == "" || string(out.Key) != r.AppID+"/"+r.TaskID || pub.TaskID != r.TaskID || r.AcceptedAt != now.UnixMilli() ||
				out.Topic != pipeline.RequestsTopic(r.Region) || pub.Topic != out.Topic || (pub.ScheduleID != "") != tc.scheduled {
				t.Fatalf("output %s %s %s, published %+v", out.Topic, out.Key, out.Value, pub)
			}
			if again, _, _ := Prepare(tc.req, tc.region, now.Add(time.Minute)); string(again.Key) != r.AppID+"/"+r.TaskID {
				t.Fatalf("preparing the same request again gave task %s, want %s", again.Key, r.TaskID)
			}
		})
	}
}

func TestPrepareRevokeAndBinding(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		scenario   string
		c          schema.Control
		acceptedAt int64
		key        string
		tooLate    bool
	}{
		{scenario: "message", c: schema.Control{AppID: "A", MsgID: "m1"}, key: "A/msg:m1"},
		{scenario: "task within the window", c: schema.Control{AppID: "A", TaskID: "t1"}, acceptedAt: now.AddDate(0, 0, -6).UnixMilli(), key: "A/task:t1"},
		{scenario: "older than 7 days", c: schema.Control{AppID: "A", TaskID: "t1"}, acceptedAt: now.AddDate(0, 0, -8).UnixMilli(), tooLate: true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			out, err := PrepareRevoke(&tc.c, "sg", tc.acceptedAt, now)
			if errors.Is(err, schema.ErrRevokeTooLate) != tc.tooLate {
				t.Fatalf("PrepareRevoke = %v, too late %v", err, tc.tooLate)
			}
			if tc.tooLate {
				return
			}
			if err != nil || string(out.Key) != tc.key || out.Topic != pipeline.ControlTopic("sg") || tc.c.Op != schema.ControlRevoke || tc.c.TS != now.UnixMilli() {
				t.Fatalf("output %s %s (%v)", out.Key, out.Value, err)
			}
		})
	}
	for _, tc := range []struct {
		scenario string
		b        schema.Binding
		want     schema.ResultCode
	}{
		{"bind", schema.Binding{Op: schema.OpBind, AppID: "A", DeviceID: "d1", UserID: "u1"}, 0},
		{"bind without user", schema.Binding{Op: schema.OpBind, AppID: "A", DeviceID: "d1"}, schema.CodeInvalidParam},
		{"report on an unknown platform", schema.Binding{Op: schema.OpReport, AppID: "A", DeviceID: "d1", Platform: "tv", SelfToken: "s"}, schema.CodeOSTypeNotSupported},
		{"phone number of a user, keyed by the user", schema.Binding{Op: schema.OpSetPhone, AppID: "A", UserID: "d1", Phone: "+6591234567"}, 0},
		{"phone number that is not E.164", schema.Binding{Op: schema.OpSetPhone, AppID: "A", UserID: "u1", Phone: "91234567"}, schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			out, err := PrepareBinding(&tc.b, "sg", now)
			if got := code(err); got != tc.want {
				t.Fatalf("PrepareBinding = %v, want code %d", err, tc.want)
			}
			if tc.want == 0 && (string(out.Key) != "A/d1" || out.Topic != pipeline.BindingsTopic("sg") || tc.b.TS == 0) {
				t.Fatalf("output %s %s", out.Key, out.Value)
			}
		})
	}
}

// TestTagRecords builds tag records and checks them as the registry will.
func TestTagRecords(t *testing.T) {
	tags := make([]string, schema.MaxTags+1)
	for i := range tags {
		tags[i] = fmt.Sprint("t", i)
	}
	for _, tc := range []struct {
		scenario string
		b        *schema.Binding
		op       schema.BindingOp
		want     schema.ResultCode
	}{
		{"add two tags", TagAdd(sg, "u1", "vip", "gold"), schema.OpTagAdd, 0},
		{"remove one", TagRemove(sg, "u1", "gold"), schema.OpTagRemove, 0},
		{"100 tags", TagAdd(sg, "u1", tags[:schema.MaxTags]...), schema.OpTagAdd, 0},
		{"no user is 3012", TagAdd(sg, "", "vip"), schema.OpTagAdd, schema.CodeNeedUserID},
		{"no tag is 3028", TagRemove(sg, "u1"), schema.OpTagRemove, schema.CodeInvalidParam},
		{"empty tag is 3028", TagAdd(sg, "u1", "vip", ""), schema.OpTagAdd, schema.CodeInvalidParam},
		{"repeated tag is 3028", TagAdd(sg, "u1", "vip", "vip"), schema.OpTagAdd, schema.CodeInvalidParam},
		{"101 tags is 3028", TagAdd(sg, "u1", tags...), schema.OpTagAdd, schema.CodeInvalidParam},
		{"31-character tag is 3028", TagAdd(sg, "u1", strings.Repeat("x", schema.MaxTagChars+1)), schema.OpTagAdd, schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if tc.b.Op != tc.op || tc.b.AppID != sg.AppID || tc.b.Region != "sg" || tc.b.DeviceID != "" {
				t.Fatalf("record %+v, want op %s of app %s in sg naming no device", tc.b, tc.op, sg.AppID)
			}
			if got := code(ValidateBinding(tc.b)); got != tc.want {
				t.Fatalf("ValidateBinding code = %d, want %d", got, tc.want)
			}
			out, err := PrepareBinding(tc.b, "sg", time.Now())
			if got := code(err); got != tc.want {
				t.Fatalf("PrepareBinding = %v, want code %d", err, tc.want)
			}
			if tc.want == 0 && (string(out.Key) != tc.b.AppID+"/"+tc.b.UserID || out.Topic != pipeline.BindingsTopic("sg")) {
				t.Fatalf("output %s on %s, want keyed by the user on push.bindings.sg", out.Key, out.Topic)
			}
		})
	}
}

// TestPublishWritesAfterAck publishes to a real broker and reads the
// records back.
func TestPublishWritesAfterAck(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics("sg"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Region: "mars", Brokers: brokers}); err == nil {
		t.Fatal("New accepted region mars")
	}
	if _, err := New(Config{Compression: "brotli", Brokers: brokers}); err == nil || !strings.Contains(err.Error(), `producer: Compression "brotli" is not a codec: use one of none, gzip, snappy, lz4, zstd`) {
		t.Fatalf("New with compression brotli: %v, want the codecs named", err)
	}
	p, err := New(Config{Brokers: brokers, Region: "sg"})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := p.Publish(ctx, Simple(sg, "t", 1, many(2), "Title", "Body"))
	if err != nil {
		t.Fatal(err)
	}
	bad := Simple(sg, "", 1, many(1), "T", "B")
	if _, err := p.PublishAll(ctx, []*schema.Request{Simple(sg, "ok", 1, many(1), "T", "B"), bad}); code(err) != schema.CodeTaskNameNull {
		t.Fatalf("PublishAll with an invalid request = %v, want 3019", err)
	}
	if err := p.Revoke(ctx, &schema.Control{AppID: sg.AppID, TaskID: pub.TaskID}, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishBinding(ctx, &schema.Binding{Op: schema.OpBind, AppID: sg.AppID, DeviceID: "d0", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddTags(ctx, sg, "u7", "vip", "gold"); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveTags(ctx, sg, "u7", "gold"); err != nil {
		t.Fatal(err)
	}
	if err := p.AddTags(ctx, sg, "u7", "vip", ""); code(err) != schema.CodeInvalidParam {
		t.Fatalf("AddTags with an empty tag = %v, want 3028", err)
	}

	reqs := readAll(t, brokers, pipeline.RequestsTopic("sg"))
	if len(reqs) != 1 || string(reqs[0].Key) != sg.AppID+"/"+pub.TaskID {
		t.Fatalf("push.requests.sg holds %d records (first key %q), want only task %s: an invalid batch must write nothing", len(reqs), key(reqs), pub.TaskID)
	}
	var r schema.Request
	if err := json.Unmarshal(reqs[0].Value, &r); err != nil || r.Region != "sg" || r.AcceptedAt == 0 {
		t.Fatalf("record %s (%v)", reqs[0].Value, err)
	}
	if ctl := readAll(t, brokers, pipeline.ControlTopic("sg")); len(ctl) != 1 || string(ctl[0].Key) != sg.AppID+"/task:"+pub.TaskID {
		t.Fatalf("push.control.sg holds %d records (first key %q)", len(ctl), key(ctl))
	}
	b := readAll(t, brokers, pipeline.BindingsTopic("sg"))
	if len(b) != 3 || string(b[0].Key) != sg.AppID+"/d0" || string(b[1].Key) != sg.AppID+"/u7" || string(b[2].Key) != sg.AppID+"/u7" {
		t.Fatalf("push.bindings.sg holds %d records (first key %q), want the bind and two tag records of u7; an invalid one writes nothing", len(b), key(b))
	}
	for i, want := range []string{`"op":"tag_add"`, `"op":"tag_remove"`} {
		if v := string(b[i+1].Value); !strings.Contains(v, want) || !strings.Contains(v, `"region":"sg"`) {
			t.Fatalf("tag record %d = %s, want %s", i, v, want)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := p.Publish(ctx, Simple(sg, "t", 1, many(1), "T", "B")); !errors.Is(err, pipeline.ErrProducerClosed) {
		t.Fatalf("Publish after Close = %v, want ErrProducerClosed", err)
	}
}

func key(ms []kafka.Message) string {
	if len(ms) == 0 {
		return ""
	}
	return string(ms[0].Key)
}

// readAll returns every record of partition 0 of topic.
func readAll(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	end, err := conn.ReadLastOffset()
	_ = conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer func() { _ = r.Close() }()
	var out []kafka.Message
	for int64(len(out)) < end {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading %s: %v", topic, err)
		}
		out = append(out, m)
	}
	return out
}
