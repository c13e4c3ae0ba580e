package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// smsUsers are the users of TestSMSSupplement: one MiPush device each,
// and the phone number the registry gets for them ("" for none).
var smsUsers = []struct{ user, phone, e164 string }{
	{"sms-u1", "+6591230001", "+6591230001"},
	{"sms-u2", "13800138002", "+8613800138002"},
	{"sms-u3", "+6591230003", "+6591230003"},
	{"sms-u4", "+6591230004", "+6591230004"},
	{"sms-u5", "13800138005", "+8613800138005"},
	{"sms-u6", "", ""},
}

// smsPush is a SIMPLE push to users (user id -> msgKey) with an SMS
// supplement of the given strategy.
func smsPush(task string, strategy int, expiredSeconds int, targets map[string]string) map[string]any {
	return map[string]any{
		"type": "SIMPLE", "region": "sg", "appId": testApp, "workspaceId": "default", "taskId": task, "taskName": "sms supplement",
		"deliverType": schema.DeliverUser, "targetMsgkey": targets, "title": "Your parcel", "content": "It is at the door",
		"expiredSeconds": expiredSeconds, "acceptedAt": time.Now().UnixMilli(),
		"smsStrategy": strategy, "smsSignName": "pushpipe", "smsTemplateCode": "SMS_216070269", "smsTemplateParam": `{"code": 4321}`,
	}
}

// TestSMSSupplement runs the SMS supplement (smsStrategy) through Kafka,
// the workers and the simulated vendors: users with devices and phone
// numbers from set_phone records; smsStrategy 2 sends the push and the
// SMS at once, and counts the SMS as channel "sms"; smsStrategy 1, with
// a 10 s validity and one arrival posted by the app SDK, sends exactly one
// SMS to each user whose push did not arrive and none to the user whose
// push did, although the request was published twice during the
// validity; publishing both requests again afterwards sends nothing.
func TestSMSSupplement(t *testing.T) {
	e := newEnv(t, "sg")
	rc := e.startReceipts("sg")
	e.run([]string{"sg"}, app.Kinds()...)

	var recs []pipeline.Output
	for _, u := range smsUsers {
		dev := "dev-" + u.user
		recs = append(recs, jsonOut(pipeline.BindingsTopic("sg"), dev, device("sg", dev, "regid-"+u.user)),
			jsonOut(pipeline.BindingsTopic("sg"), dev, schema.Binding{Op: schema.OpBind, Region: "sg", AppID: testApp, DeviceID: dev, UserID: u.user}))
		if u.phone != "" {
			recs = append(recs, jsonOut(pipeline.BindingsTopic("sg"), u.user, schema.Binding{Op: schema.OpSetPhone, Region: "sg", AppID: testApp, UserID: u.user, Phone: u.phone}))
		}
	}
	e.publish(recs...)
	devices := store.NewDevices(e.conn, e.db("sg"))
	users := make([]string, len(smsUsers))
	for i, u := range smsUsers {
		users[i] = u.user
	}
	e.waitFor("devices bound and phone numbers set", time.Minute, func() (bool, string) {
		bound, err1 := devices.ByUser(context.Background(), testApp, users)
		phones, err2 := devices.Phones(context.Background(), testApp, users)
		return len(bound) == len(smsUsers) && len(phones) == 5, fmt.Sprintf("%d devices bound, phones %v, errors %v %v", len(bound), phones, err1, err2)
	})

	smsCounts := func() map[string]int64 {
		out := map[string]int64{}
		if a := e.sim.Stats().Vendors[vendorsim.VendorSMS]; a != nil && a.Regions["sg"] != nil && a.Regions["sg"].Apps[testApp] != nil {
			maps.Copy(out, a.Regions["sg"].Apps[testApp].Tokens)
		}
		return out
	}
	pushCounts := func() map[string]int64 {
		out := map[string]int64{}
		if a := e.sim.Stats().Vendors[vendorsim.VendorMiPush]; a != nil && a.Regions["sg"] != nil && a.Regions["sg"].Apps[testApp] != nil {
			maps.Copy(out, a.Regions["sg"].Apps[testApp].Tokens)
		}
		return out
	}
	smsEvents := func(task string) map[string]uint64 {
		return e.eventCounts("sg", "task_id = ? AND channel = 'sms'", task)
	}

	concurrent := smsPush("sms-concurrent", schema.SMSStrategyConcurrent, 300, map[string]string{"sms-u1": "m-c1", "sms-u2": "m-c2", "sms-u6": "m-c6"})
	resend := smsPush("sms-resend", schema.SMSStrategyResend, 10, map[string]string{"sms-u3": "m-r3", "sms-u4": "m-r4", "sms-u5": "m-r5"})

	t.Run("concurrent SMS goes with the push", func(t *testing.T) {
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), "sms-concurrent", concurrent))
		want := map[string]uint64{"valid": 2, "sent": 2, "acked": 2, "invalid_device": 1}
		e.waitFor("the concurrent SMS acked", time.Minute, func() (bool, string) {
			got := smsEvents("sms-concurrent")
			return equalCounts(got, want), fmt.Sprint(got)
		})
		e.waitFor("the pushes acked", time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = 'sms-concurrent' AND channel = 'mipush'")
			return got["acked"] == 3, fmt.Sprint(got)
		})
		sms, push := smsCounts(), pushCounts()
		for _, u := range smsUsers[:2] {
			if sms[u.e164] != 1 || push["regid-"+u.user] != 1 {
				t.Errorf("%s: %d SMS to %s and %d pushes, want one of each", u.user, sms[u.e164], u.e164, push["regid-"+u.user])
			}
		}
		if push["regid-sms-u6"] != 1 {
			t.Errorf("sms-u6, without a phone, got %d pushes, want 1", push["regid-sms-u6"])
		}
		outID := map[string]string{"6591230001": e.deliveryID("m-c1", "sms:sms-u1"), "13800138002": e.deliveryID("m-c2", "sms:sms-u2")}
		for _, r := range e.sim.Requests(vendorsim.VendorSMS, "sg") {
			id := outID[r.Form.Get("PhoneNumbers")]
			if r.Form.Get("TemplateCode") != "SMS_216070269" || r.Form.Get("TemplateParam") != `{"code":"4321"}` || r.Form.Get("SignName") != "pushpipe" || r.Form.Get("OutId") != id {
				t.Errorf("SendSms carried %v", r.Form)
			}
		}
		// Statistics count the SMS as their own channel.
		now := time.Now()
		st, err := store.QueryStats(context.Background(), e.conn, e.db("sg"), schema.StatsQuery{AppID: testApp, From: now.Add(-time.Hour), To: now.Add(time.Minute),
			Granularity: schema.GranularityHour, Channel: schema.ChannelSMS, TaskID: "sms-concurrent"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Total.Pushed != 3 || st.Total.Succeeded != 2 {
			t.Errorf("statistics of channel sms: %+v, want 3 pushed (2 SMS, 1 user without a number) and 2 succeeded", st.Total)
		}
	})

	t.Run("resend SMS only where the push did not arrive", func(t *testing.T) {
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), "sms-resend", resend))
		e.waitFor("the pushes acked", time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = 'sms-resend' AND channel = 'mipush'")
			return got["acked"] == 3, fmt.Sprint(got)
		})
		// Published again during the validity: a second held SMS per user.
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), "sms-resend", resend))
		arrival := e.deliveryID("m-r3", "dev-sms-u3")
		status, answer := e.postReceipt(t, http.DefaultClient, rc.URL(), "client", "application/json",
			fmt.Sprintf(`{"events":[{"deliveryId":%q,"event":"arrival"}]}`, arrival))
		if status != 200 {
			t.Fatalf("posting the arrival: %d %s", status, answer)
		}
		if got := smsCounts(); got["+6591230004"]+got["+8613800138005"] != 0 {
			t.Fatalf("a resend SMS went out before the validity ended: %v", got)
		}
		want := map[string]uint64{"valid": 2, "sent": 2, "acked": 2, "filtered": 1}
		e.waitFor("the resend SMS decided and acked", time.Minute, func() (bool, string) {
			got := smsEvents("sms-resend")
			return equalCounts(got, want), fmt.Sprint(got)
		})
		sms := smsCounts()
		if sms["+6591230003"] != 0 || sms["+6591230004"] != 1 || sms["+8613800138005"] != 1 {
			t.Errorf("SMS per number %v: want none to sms-u3 (push arrived), one each to sms-u4 and sms-u5", sms)
		}
		var desc string
		if err := e.conn.QueryRow(context.Background(), "SELECT any(status_desc) FROM "+e.db("sg")+".events WHERE task_id = 'sms-resend' AND event = 'filtered'").Scan(&desc); err != nil {
			t.Fatal(err)
		}
		if want := "push delivery " + arrival + " arrived"; !strings.Contains(desc, want) {
			t.Errorf("the filtered SMS says %q, want it to name %q", desc, want)
		}
	})

	t.Run("replaying the requests sends nothing again", func(t *testing.T) {
		before := map[string]map[string]uint64{"sms-concurrent": e.eventCounts("sg", "task_id = 'sms-concurrent'"), "sms-resend": e.eventCounts("sg", "task_id = 'sms-resend'")}
		sms, push := smsCounts(), pushCounts()
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), "sms-concurrent", concurrent), jsonOut(pipeline.RequestsTopic("sg"), "sms-resend", resend))
		// Give the chain time to (wrongly) act on them: the replayed resend
		// SMS are due at once and decided on the 1s tier.
		time.Sleep(5 * time.Second)
		for task, counts := range before {
			if got := e.eventCounts("sg", "task_id = ?", task); !equalCounts(got, counts) {
				t.Errorf("%s: events changed after the replay: %v, before %v", task, got, counts)
			}
		}
		if got := smsCounts(); fmt.Sprint(got) != fmt.Sprint(sms) {
			t.Errorf("SMS per number changed after the replay: %v, before %v", got, sms)
		}
		if got := pushCounts(); fmt.Sprint(got) != fmt.Sprint(push) {
			t.Errorf("pushes changed after the replay: %v, before %v", got, push)
		}
	})
}
