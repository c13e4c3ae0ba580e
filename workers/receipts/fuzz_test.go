package receipts

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

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

// fuzzParser checks that parse never panics, that a refusal is a
// *ParseError with a reason and a message, and that what it accepts makes
// well-formed events.
func fuzzParser(f *testing.F, vendorName string, parse func([]byte) (Parsed, error)) {
	v, ok := vendorByName(vendorName)
	if !ok {
		f.Fatalf("no vendor %s", vendorName)
	}
	s, err := New(Config{Region: "sg", Producer: &fakeProducer{}, Now: func() time.Time { return time.UnixMilli(1730776986789) }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parse(body)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason == "" || pe.Detail == "" {
				t.Fatalf("error %v is not a ParseError with reason and detail", err)
			}
			if len(p.Receipts) != 0 {
				t.Fatalf("receipts returned with an error: %+v", p.Receipts)
			}
			return
		}
		for _, r := range p.Receipts {
			switch {
			case (r.DeliveryID == "") == (r.MsgID == ""):
				t.Fatalf("receipt names both or neither of delivery id and msg id: %+v", r)
			case r.DeliveryID != "" && !schema.IsDeliveryID(r.DeliveryID):
				t.Fatalf("delivery id %q is not one", r.DeliveryID)
			case r.MsgID != "" && len(r.Tokens) == 0:
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
			case schema.EventArrived, schema.EventOpened, schema.EventIgnored, schema.EventFailed:
			default:
				t.Fatalf("receipt event %q", r.Event)
			}
		}
		for _, e := range s.events(v, p.Receipts) {
			if e.EventID == "" || e.Key() == "" || e.Region != "sg" || e.TS <= 0 {
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
