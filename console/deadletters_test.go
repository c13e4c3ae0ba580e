package console

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

func TestDeadLetterOf(t *testing.T) {
	m := kafka.Message{Partition: 2, Offset: 41, Key: []byte("A/task-1"), Value: []byte(`{"appId":"A"}`), Time: time.UnixMilli(1_700_000_000_000),
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-abc")}}}
	m.Topic = pipeline.RequestsTopic("sg")
	dl := pipeline.DeadLetter("fanout", "sg", m, 3019, "taskName is empty")
	rec := kafka.Message{Partition: 0, Offset: 7, Key: dl.Key, Value: dl.Value, Headers: dl.Headers, Time: m.Time}
	d := deadLetterOf(rec)
	if d.Reason != "taskName is empty" || d.Code != "3019" || d.Stage != "fanout" || d.SourceTopic != "push.requests.sg" ||
		d.SourcePartition != "2" || d.SourceOff != "41" || d.App != "A" || d.Key != "A/task-1" {
		t.Fatalf("dead letter %+v: the headers are not read back", d)
	}
	if len(d.headers) != 1 || d.headers[0].Key != "traceparent" {
		t.Fatalf("the record's own headers are %v, want traceparent only", d.headers)
	}
}

func TestRecordApp(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"A/task-1", `{"appId":"B"}`, "A"},
		{"task-1", `{"appId":"B"}`, "B"},
		{"task-1", `not json`, ""},
		{"/x", `{}`, ""},
	} {
		if got := recordApp([]byte(tc.key), []byte(tc.value)); got != tc.want {
			t.Errorf("recordApp(%q, %q) = %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
}

func TestResendChecks(t *testing.T) {
	const good = `{"type":"SIMPLE","region":"sg","appId":"A","workspaceId":"w","taskName":"t","deliverType":1,"targetMsgkey":{"d1":"m1"},"title":"hi","content":"there","expiredSeconds":60}`
	req := func(from, to string) string { return strings.Replace(good, from, to, 1) }
	for _, tc := range []struct {
		name, topic, value string
		code               schema.ResultCode // 0: accepted
		key                string
	}{
		{"a valid request goes back under its key", pipeline.RequestsTopic("sg"), good, 0, "A/"},
		{"taskName still empty", pipeline.RequestsTopic("sg"), req(`"taskName":"t"`, `"taskName":""`), schema.CodeTaskNameNull, ""},
		{"an unknown field", pipeline.RequestsTopic("sg"), req(`"title"`, `"titel"`), schema.CodeInvalidParam, ""},
		{"not JSON", pipeline.RequestsTopic("sg"), `{"type":`, schema.CodeInvalidParam, ""},
		{"another app", pipeline.RequestsTopic("sg"), req(`"appId":"A"`, `"appId":"B"`), schema.CodeAppIDWrong, ""},
		{"another region", pipeline.RequestsTopic("sg"), req(`"region":"sg"`, `"region":"eu"`), schema.CodeInvalidParam, ""},
		{"a delivery without its id", pipeline.DeliveriesTopic("sg"), `{"appId":"A","region":"sg"}`, schema.CodeInvalidParam, ""},
		{"a binding of another app", pipeline.BindingsTopic("sg"), `{"op":"report","region":"sg","appId":"B","deviceId":"d1","platform":"android","vendor":"fcm","vendorToken":"t"}`, schema.CodeAppIDWrong, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := resendDecoder("sg", tc.topic)
			if check == nil {
				t.Fatalf("no check for %s", tc.topic)
			}
			key, err := check([]byte(tc.value), "sg", "A")
			var ve *schema.ValidationError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code == 0 && !strings.HasPrefix(key, tc.key):
				t.Fatalf("key %q, want one starting %q", key, tc.key)
			case tc.code != 0 && (!errors.As(err, &ve) || ve.Code != tc.code):
				t.Fatalf("err %v, want code %d", err, tc.code)
			}
		})
	}
	for _, topic := range []string{pipeline.RequestsTopic("eu"), pipeline.DLQTopic("sg"), pipeline.CallbackRetryTopic("sg", 5*time.Second), ""} {
		if resendDecoder("sg", topic) != nil {
			t.Errorf("records of %q would be sent back from the sg console", topic)
		}
	}
	for _, tier := range pipeline.RetryTiers() {
		if resendDecoder("sg", pipeline.RetryTierTopic("sg", tier)) == nil {
			t.Errorf("records of retry tier %s cannot be sent back", tier)
		}
	}
}
