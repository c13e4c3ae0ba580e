package sender

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/sms"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/schema"
)

// TestSMSDeliveries sends SMS deliveries of a revoked push through the SMS
// channel and the simulator: they are sent all the same (an SMS is never
// revoked), and an illegal number fails without an invalidate record (the
// number is the user's, not a device's token).
func TestSMSDeliveries(t *testing.T) {
	sim, err := allvendors.Start(t.Context(), vendorsim.Config{SMS: vendorsim.SMSConfig{
		Apps: []vendorsim.SMSApp{{AppID: appID, AccessKeyID: "LTAIsender", AccessKeySecret: secret}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	ch, err := sms.New(sms.Config{Region: "sg", BaseURL: sim.SMSBaseURL("sg"),
		Apps: map[string]sms.App{appID: {AccessKeyID: "LTAIsender", AccessKeySecret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Region: "sg", Channels: map[string]channels.Channel{"sms": ch},
		Revoked: func(*schema.Delivery) (schema.Control, bool) { return schema.Control{TS: time.Now().UnixMilli()}, true }})
	if err != nil {
		t.Fatal(err)
	}
	extras := map[string]string{sms.ExtraSignName: "pushpipe", sms.ExtraTemplateCode: "SMS_216070269", sms.ExtraTemplateParam: `{"code":"1"}`}
	msg := func(user, phone string) kafka.Message {
		var d schema.Delivery
		if err := json.Unmarshal(delivery("sms:"+user, phone, schema.ChannelSMS, time.Now().Add(time.Hour).UnixMilli()).Value, &d); err != nil {
			t.Fatal(err)
		}
		d.Extras = extras
		b, _ := json.Marshal(d)
		return kafka.Message{Value: b}
	}
	res, err := h.HandleBatch(context.Background(), []kafka.Message{msg("u1", "+6591230001"), msg("u2", "+99912345678")})
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(t, res)
	if !slices.Equal(got[0].events, []schema.EventType{schema.EventSent, schema.EventAcked}) {
		t.Errorf("SMS of a revoked push: events %v, want [sent acked]", got[0].events)
	}
	if !slices.Equal(got[1].events, []schema.EventType{schema.EventSent, schema.EventFailed}) || got[1].status != channels.StatusBadDeviceToken || got[1].invalidated != "" {
		t.Errorf("SMS to an illegal number: events %v status %d invalidated %q, want [sent failed] 2009 and no invalidate record",
			got[1].events, got[1].status, got[1].invalidated)
	}
	if n := sim.Stats().Vendors[vendorsim.VendorSMS].Regions["sg"].Apps[appID].Tokens["+6591230001"]; n != 1 {
		t.Errorf("%d SMS to +6591230001, want 1", n)
	}
}
