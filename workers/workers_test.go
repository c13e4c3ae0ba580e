package workers

import (
	"reflect"
	"testing"

	"github.com/pushpipe/pushpipe/schema"
)

// TestRegionOutputsAreThePlainOutputs checks that RegionOutputs writes
// the records EventOutput and DeliveryOutput write: same topic, key and
// value, a delivery of another region going to that region's topic.
func TestRegionOutputsAreThePlainOutputs(t *testing.T) {
	o := NewRegionOutputs("sg")
	ev := schema.Event{AppID: "app", MsgID: "m", Event: schema.EventPlanned, Region: "sg"}
	if got, want := o.Event(&ev), EventOutput("sg", ev); !reflect.DeepEqual(got, want) {
		t.Errorf("event: %+v, want %+v", got, want)
	}
	for _, region := range []string{"sg", "us"} {
		d := schema.Delivery{AppID: "app", DeviceID: "dev", Region: region, Extras: map[string]string{"k": "v"}}
		if got, want := o.Delivery(&d), DeliveryOutput(d); !reflect.DeepEqual(got, want) {
			t.Errorf("delivery of region %s: %+v, want %+v", region, got, want)
		}
	}
}
