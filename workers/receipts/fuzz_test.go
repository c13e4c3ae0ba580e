package receipts

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
)

// Fuzz targets for every receipt parser. Their seed corpora are in
// testdata/fuzz/<target>/, each holding the §7.2.10 sample of its vendor,
// so plain `go test` runs them; `go test -fuzz=FuzzParseHMS` explores.

func FuzzParseHMS(f *testing.F)       { fuzzParser(f, "hms", ParseHMS) }
func FuzzParseHonor(f *testing.F)     { fuzzParser(f, "honor", ParseHonor) }
func FuzzParseHarmonyOS(f *testing.F) { fuzzParser(f, "harmonyos", ParseHarmonyOS) }
func FuzzParseMiPush(f *testing.F)    { fuzzParser(f, "mipush", ParseMiPush) }
func FuzzParseOPPO(f *testing.F)      { fuzzParser(f, "oppo", ParseOPPO) }
func FuzzParseVivo(f *testing.F)      { fuzzParser(f, "vivo", ParseVivo) }
func FuzzParseClient(f *testing.F) {
	fuzzParser(f, "client", func(b []byte) (Parsed, error) { return ParseClient(b, DefaultMaxClientEvents) })
}

// parseErrorReasons are the reasons a parser may refuse a body with (the
// reason label of pushpipe_receipts_rejected_total).
var parseErrorReasons = []string{"malformed_json", "bad_form", "no_data", "empty", "too_many", "too_many_items", "invalid_event"}

// skipReasons are the reasons a parser may skip an item of an accepted body
// with (the reason label of pushpipe_receipts_skipped_total).
var skipReasons = []string{"no_correlation", "no_status", "no_target", "unknown_type", "too_many_targets"}

// fuzzParser checks that parse never panics and gives the same answer
// twice; that a refusal is a *ParseError with a known reason and a message;
// that skipped items are counted under known reasons; that every receipt
// has one correlation within the limits, an event and a §10.3 status (a
// failure never reads as a common status); and that the receipts make one
// well-formed event per delivery they name.
func fuzzParser(f *testing.F, vendorName string, parse func([]byte) (Parsed, error)) {
	v, ok := vendorByName(vendorName)
	if !ok {
		f.Fatalf("no vendor %s", vendorName)
	}
	s, err := New(Config{Region: "sg", Producer: &fakeProducer{}, IDKey: testinfra.IDKey(), Now: func() time.Time { return time.UnixMilli(1730776986789) }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parse(body)
		if again, err2 := parse(body); !reflect.DeepEqual(p, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("parsing the same body twice differs: %+v (%v), then %+v (%v)", p, err, again, err2)
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !slices.Contains(parseErrorReasons, pe.Reason) || pe.Detail == "" {
				t.Fatalf("error %v is not a ParseError with a known reason and a detail", err)
			}
			if len(p.Receipts) != 0 {
				t.Fatalf("receipts returned with an error: %+v", p.Receipts)
			}
			return
		}
		for reason, n := range p.Skipped {
			if !slices.Contains(skipReasons, reason) || n <= 0 {
				t.Fatalf("%d items skipped as %q", n, reason)
			}
		}
		wantEvents := 0
		for _, r := range p.Receipts {
			switch {
			case r.DeviceID != "" && r.MsgID == "":
				t.Fatalf("receipt names a device without a msg id: %+v", r)
			case r.DeviceID == "" && (r.DeliveryID == "") == (r.MsgID == ""):
				t.Fatalf("receipt names both or neither of delivery id and msg id: %+v", r)
			case r.DeliveryID != "" && !schema.IsDeliveryID(r.DeliveryID):
				t.Fatalf("delivery id %q is not one", r.DeliveryID)
			case r.MsgID != "" && r.DeviceID == "" && len(r.Tokens) == 0:
				t.Fatalf("msg id receipt without tokens: %+v", r)
			case len(r.MsgID) > MaxCorrelationLen || len(r.Tokens) > MaxTokensPerReceipt:
				t.Fatalf("receipt beyond the limits: %d-byte msg id, %d tokens", len(r.MsgID), len(r.Tokens))
			}
			for _, tok := range r.Tokens {
				if tok == "" || tok != strings.TrimSpace(tok) || strings.Contains(tok, ",") {
					t.Fatalf("token %q not split and trimmed", tok)
				}
			}
			switch r.Event {
			case schema.EventArrived, schema.EventOpened, schema.EventIgnored:
				if r.StatusCode != schema.StatusAcked {
					t.Fatalf("%s receipt with status %d, want %d Acked", r.Event, r.StatusCode, schema.StatusAcked)
				}
			case schema.EventFailed:
				switch r.StatusCode {
				case schema.StatusWaitingForVerify, schema.StatusDeviceNotOnlineOrNoResponse, schema.StatusNoBindInfo, schema.StatusAcked:
					t.Fatalf("failed receipt with the common status %d", r.StatusCode)
				}
			default:
				t.Fatalf("receipt event %q", r.Event)
			}
			if r.StatusDesc == "" {
				t.Fatalf("receipt without a status description: %+v", r)
			}
			if r.DeliveryID != "" || r.DeviceID != "" {
				wantEvents++
			} else {
				wantEvents += len(r.Tokens)
			}
		}
		if perr := s.deriveClientIDs("app-1", p.Receipts); perr != nil {
			// A deliveryId given with msgId and deviceId that are not its
			// own: the batch is refused.
			if perr.Reason != "invalid_event" {
				t.Fatalf("deriving client delivery ids: %v", perr)
			}
			return
		}
		evs := s.events(v, "app-1", p.Receipts)
		if len(evs) != wantEvents {
			t.Fatalf("%d receipts naming %d deliveries made %d events", len(p.Receipts), wantEvents, len(evs))
		}
		for _, e := range evs {
			if e.EventID == "" || !strings.HasPrefix(e.Key(), "app-1/") || e.ReceiptAppID != "app-1" || e.Region != "sg" || e.TS <= 0 {
				t.Fatalf("malformed event %+v", e)
			}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var back schema.Event
			if err := json.Unmarshal(b, &back); err != nil || back.EventID != e.EventID {
				t.Fatalf("event does not survive JSON: %v", err)
			}
		}
	})
}
