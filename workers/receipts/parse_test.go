package receipts

import (
	"errors"
	"net/url"
	"reflect"
	"testing"

	"github.com/pushpipe/pushpipe/schema"
)

const ourDelivery = "d0123456789abcdef01234567"

func TestParseVendorSamples(t *testing.T) {
	mpaas := func(tag string) string { return tag } // the samples' own correlation values are no delivery ids
	for _, tc := range []struct {
		scenario string
		parse    func([]byte) (Parsed, error)
		body     string
		want     []Receipt
	}{
		{"huawei sample: arrival by biTag and token", ParseHMS, sampleHMS, []Receipt{{
			MsgID: mpaas("0#5#1.1#console_1730792931023&b89351344a8e1f3b"), Tokens: []string{"IQAAAAACy0f7tAABvr6Xzid061rECNx-1-eog1VNUSyZcIo-1Pc9ehqnEfIyuIsxxx"},
			Event: schema.EventArrived, StatusCode: 2, StatusDesc: "Acked: hms receipt status 0, delivered to the device", TS: 1730792933696}}},
		{"huawei sample with our delivery id", ParseHMS, withCorrelation(sampleHMS, ourDelivery), []Receipt{{
			DeliveryID: ourDelivery, Tokens: []string{"IQAAAAACy0f7tAABvr6Xzid061rECNx-1-eog1VNUSyZcIo-1Pc9ehqnEfIyuIsxxx"},
			Event: schema.EventArrived, StatusCode: 2, StatusDesc: "Acked: hms receipt status 0, delivered to the device", TS: 1730792933696}}},
		{"honor sample: status 40000002 is a failure with the vendor's code", ParseHonor, withCorrelation(sampleHonor, ourDelivery), []Receipt{{
			DeliveryID: ourDelivery, Tokens: []string{"BAEAAAAAB.jlTbs5YD0dhYQKfqri5606iN7CbY5xxx"},
			Event: schema.EventFailed, StatusCode: 40000002, StatusDesc: "honor receipt status 40000002: not delivered", TS: 1730794400089}}},
		{"harmonyos sample: deliveryStatus.result 5 is a failure", ParseHarmonyOS, withCorrelation(sampleHarmonyOS, ourDelivery), []Receipt{{
			DeliveryID: ourDelivery, Tokens: []string{"MAMzLgIkEUIGTTuAstOIywAAAGQAAAAAAHmQeccAFJF5u8WsIrXbQOuxxxxxx"},
			Event: schema.EventFailed, StatusCode: 5, StatusDesc: "harmonyos receipt status 5: not delivered", TS: 1730776171647}}},
		{"xiaomi sample: type 1 arrival, msg id param with regId targets", ParseMiPush, sampleMiPush, []Receipt{{
			MsgID: "0#4#1.1#console_1730775366036&671135c53a89dde2", Tokens: []string{"oUU0LhUv9qgw2HEtgtWmxEqX91dkWesBHQxxx"},
			Event: schema.EventArrived, StatusCode: 2, TS: 1730775368258,
			StatusDesc: "Acked: mipush receipt type 1, delivered to the device, notification bar Enable, mipush message smm67747730775367865gS"}}},
		{"oppo sample: push_arrive, eventTime as a string", ParseOPPO, withCorrelation(sampleOPPO, ourDelivery), []Receipt{{
			DeliveryID: ourDelivery, Tokens: []string{"OPPO_CN_5e33c42e910xxx"}, Event: schema.EventArrived, StatusCode: 2, TS: 1730776852465,
			StatusDesc: "Acked: oppo receipt push_arrive, delivered to the device, oppo message 30186722-1-1-67298eb8f8686b014e6d1a83"}}},
		{"vivo sample: ackType 0", ParseVivo, withCorrelation(sampleVivo, ourDelivery), []Receipt{{
			DeliveryID: ourDelivery, Tokens: []string{"v2-CRi5wSCKrfIr7yWs_BKTpim6RbPAnEMVah6xxx"}, Event: schema.EventArrived, StatusCode: 2,
			TS: 1730776986789, StatusDesc: "Acked: vivo receipt ackType 0, delivered to the device, vivo task 1303318675076815015"}}},
		{"client batch: delivery id, and msg id with device id (the server derives its delivery id once it knows the app)", func(b []byte) (Parsed, error) { return ParseClient(b, 10) }, sampleClient, []Receipt{
			{DeliveryID: ourDelivery, Event: schema.EventArrived, StatusCode: 2, StatusDesc: "Acked: reported by the app (arrival)", TS: 1730776986789, AppVersion: "2.1"},
			{MsgID: "msg-1", DeviceID: "dev-1", Event: schema.EventOpened, StatusCode: 2, StatusDesc: "Acked: reported by the app (open)", TS: 1730776990000},
		}},
		{"client batch: msg id with the device's token, as a vendor receipt of a multi-token call", func(b []byte) (Parsed, error) { return ParseClient(b, 10) },
			`{"events":[{"msgId":"msg-1","token":"regid-1","event":"ignore","ts":1730776990000},` +
				`{"deliveryId":"` + ourDelivery + `","token":" regid-2 ","event":"arrival","ts":1730776986789}]}`, []Receipt{
				{MsgID: "msg-1", Tokens: []string{"regid-1"}, Event: schema.EventIgnored, StatusCode: 2, StatusDesc: "Acked: reported by the app (ignore)", TS: 1730776990000},
				{DeliveryID: ourDelivery, Tokens: []string{"regid-2"}, Event: schema.EventArrived, StatusCode: 2, StatusDesc: "Acked: reported by the app (arrival)", TS: 1730776986789},
			}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			p, err := tc.parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Skipped) != 0 {
				t.Errorf("skipped %v", p.Skipped)
			}
			if !reflect.DeepEqual(p.Receipts, tc.want) {
				t.Fatalf("receipts\n got %+v\nwant %+v", p.Receipts, tc.want)
			}
		})
	}
}

func TestParseStatusesAndTypes(t *testing.T) {
	mipush := func(data string) []byte { return []byte("data=" + url.QueryEscape(data)) }
	for _, tc := range []struct {
		scenario    string
		parse       func([]byte) (Parsed, error)
		body        []byte
		wantEvents  []schema.EventType
		wantCodes   []int64
		wantSkipped map[string]int
	}{
		{"huawei app not installed", ParseHMS, []byte(`{"statuses":[{"biTag":"` + ourDelivery + `","token":"t","status":2}]}`),
			[]schema.EventType{schema.EventFailed}, []int64{80000004}, nil},
		{"huawei token unknown on the device", ParseHMS, []byte(`{"statuses":[{"biTag":"` + ourDelivery + `","token":"t","status":5}]}`),
			[]schema.EventType{schema.EventFailed}, []int64{2009}, nil},
		{"honor status colliding with a common code becomes NONE", ParseHonor, []byte(`{"statuses":[{"biTag":"` + ourDelivery + `","status":1}]}`),
			[]schema.EventType{schema.EventFailed}, []int64{99999999}, nil},
		{"huawei items without biTag or status are skipped", ParseHMS,
			[]byte(`{"statuses":[{"token":"t","status":0},{"biTag":"` + ourDelivery + `"},{"biTag":"m1","status":0},{"biTag":"` + ourDelivery + `","status":"0"}]}`),
			[]schema.EventType{schema.EventArrived}, []int64{2}, map[string]int{"no_correlation": 1, "no_status": 1, "no_target": 1}},
		{"harmonyos without deliveryStatus is skipped", ParseHarmonyOS, []byte(`{"statuses":[{"biTag":"` + ourDelivery + `","status":0}]}`),
			nil, nil, map[string]int{"no_status": 1}},
		{"mipush click, invalid target, unknown type", ParseMiPush,
			mipush(`{"a":{"param":"m1","type":2,"targets":"r1,r2"},"b":{"param":"` + ourDelivery + `","type":"16"},"c":{"param":"m1","type":4096,"targets":"r1"}}`),
			[]schema.EventType{schema.EventOpened, schema.EventFailed}, []int64{2, 20301}, map[string]int{"unknown_type": 1}},
		{"oppo click, invalid regid, unknown event type", ParseOPPO,
			[]byte(`[{"eventType":"push_click","param":"` + ourDelivery + `"},{"eventType":"regid_invalid","param":"m","registrationIds":"a, b,a"},{"eventType":"push_show","param":"m"}]`),
			[]schema.EventType{schema.EventOpened, schema.EventFailed}, []int64{2, 10000}, map[string]int{"unknown_type": 1}},
		{"vivo unknown ack type is skipped", ParseVivo, []byte(`{"1":{"param":"` + ourDelivery + `","ackType":"7"},"2":{"param":"` + ourDelivery + `"}}`),
			[]schema.EventType{schema.EventArrived}, []int64{2}, map[string]int{"unknown_type": 1}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			p, err := tc.parse(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			var evs []schema.EventType
			var codes []int64
			for _, r := range p.Receipts {
				evs, codes = append(evs, r.Event), append(codes, r.StatusCode)
			}
			if !reflect.DeepEqual(evs, tc.wantEvents) || !reflect.DeepEqual(codes, tc.wantCodes) {
				t.Fatalf("events %v codes %v, want %v %v (%+v)", evs, codes, tc.wantEvents, tc.wantCodes, p.Receipts)
			}
			if len(p.Skipped) != len(tc.wantSkipped) || (len(tc.wantSkipped) > 0 && !reflect.DeepEqual(p.Skipped, tc.wantSkipped)) {
				t.Fatalf("skipped %v, want %v", p.Skipped, tc.wantSkipped)
			}
		})
	}
	t.Run("oppo registrationIds are split, trimmed and deduplicated", func(t *testing.T) {
		p, _ := ParseOPPO([]byte(`[{"eventType":"push_arrive","param":"m","registrationIds":" a, b,a,,"}]`))
		if len(p.Receipts) != 1 || !reflect.DeepEqual(p.Receipts[0].Tokens, []string{"a", "b"}) {
			t.Fatalf("receipts %+v", p.Receipts)
		}
	})
}

func TestParseGarbledBodies(t *testing.T) {
	client := func(b []byte) (Parsed, error) { return ParseClient(b, 2) }
	for _, tc := range []struct {
		scenario   string
		parse      func([]byte) (Parsed, error)
		body       string
		wantReason string
	}{
		{"huawei: not JSON", ParseHMS, `{"statuses":[`, "malformed_json"},
		{"huawei: an array instead of an object", ParseHMS, `[{"biTag":"x"}]`, "malformed_json"},
		{"huawei: no statuses", ParseHMS, `{"status":0}`, "empty"},
		{"huawei: status is not a number", ParseHMS, `{"statuses":[{"biTag":"x","status":"ok"}]}`, "malformed_json"},
		{"honor: empty body", ParseHonor, ``, "malformed_json"},
		{"harmonyos: null", ParseHarmonyOS, `null`, "empty"},
		{"mipush: JSON body instead of a form", ParseMiPush, `{"data":{}}`, "no_data"},
		{"mipush: bad form escape", ParseMiPush, `data=%zz`, "bad_form"},
		{"mipush: data is not JSON", ParseMiPush, `data=hello`, "malformed_json"},
		{"mipush: data is empty", ParseMiPush, `data=%7B%7D`, "empty"},
		{"oppo: an object instead of an array", ParseOPPO, sampleVivo, "malformed_json"},
		{"oppo: empty array", ParseOPPO, `[]`, "empty"},
		{"vivo: an array", ParseVivo, sampleOPPO, "malformed_json"},
		{"vivo: trailing garbage", ParseVivo, sampleVivo + "}", "malformed_json"},
		{"client: no events", client, `{"events":[]}`, "empty"},
		{"client: too many events", client, `{"events":[{},{},{}]}`, "too_many"},
		{"client: unknown event", client, `{"events":[{"deliveryId":"` + ourDelivery + `","event":"click"}]}`, "invalid_event"},
		{"client: no ids", client, `{"events":[{"msgId":"m","event":"open"}]}`, "invalid_event"},
		{"client: a token without a msgId", client, `{"events":[{"token":"t","event":"open"}]}`, "invalid_event"},
		{"client: a list of tokens in one event", client, `{"events":[{"msgId":"m","token":"t1,t2","event":"open"}]}`, "invalid_event"},
		{"client: a token of spaces only", client, `{"events":[{"msgId":"m","token":"  ","event":"open"}]}`, "invalid_event"},
		{"client: deliveryId of another form", client, `{"events":[{"deliveryId":"abc","event":"open"}]}`, "invalid_event"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			p, err := tc.parse([]byte(tc.body))
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason != tc.wantReason || pe.Detail == "" {
				t.Fatalf("err = %v (%#v), want reason %s", err, pe, tc.wantReason)
			}
			if len(p.Receipts) != 0 {
				t.Fatalf("receipts from a garbled body: %+v", p.Receipts)
			}
		})
	}
}
