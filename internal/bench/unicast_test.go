package bench

import (
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

func TestPreparedUnicastRequest(t *testing.T) {
	tests := []struct {
		scenario, vendor string
		wantDeliver      int
	}{
		{scenario: "an Android (MiPush) device", vendor: "mipush", wantDeliver: schema.DeliverAndroid},
		{scenario: "an iOS (APNs) device", vendor: "apns", wantDeliver: schema.DeliverIOS},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			at := time.UnixMilli(1_796_000_000_123)
			r := newUnicastRequest("eu", tt.vendor, 42)
			req, err := schema.DecodeRequest(r.at(at))
			if err != nil {
				t.Fatalf("the prepared request does not decode: %v\n%s", err, r.at(at))
			}
			if req.AcceptedAt != at.UnixMilli() {
				t.Errorf("acceptedAt = %d, want %d, the time it is published at", req.AcceptedAt, at.UnixMilli())
			}
			if string(r.key) != req.TaskID || req.TaskID != "uc-00000042" || int(req.DeliverType) != tt.wantDeliver || req.Region != "eu" {
				t.Errorf("key %q, request %+v: want task uc-00000042 as the key, deliverType %d, region eu", r.key, req, tt.wantDeliver)
			}
			if _, ok := req.TargetMsgkey[deviceID(42)]; !ok || len(req.TargetMsgkey) != 1 {
				t.Errorf("targets = %v, want device %s alone", req.TargetMsgkey, deviceID(42))
			}
		})
	}
}
