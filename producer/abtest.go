package producer

import (
	"fmt"

	"github.com/pushpipe/pushpipe/schema"
)

// ABTest returns a SIMPLE push that is an A/B copy test (MiPush §5.1.3,
// schema.ABTest): the variants' copies, each sent to an equal share of a
// sample of samplePercent (1–50) percent of the targets (device ids, user
// ids, aliases or user accounts as deliverType says; at most
// schema.MaxABTestTargets, each mapped to its msgKey); at the decision
// time the variant with the best metric goes to the other targets. Set
// Metric (schema.ABMetricOpenRate, the default, or ABMetricArrivalRate)
// and DecisionSeconds (default 900) on the returned request's ABTest.
// Publish it like any request: its task id is the test's id, its variants
// are the tasks "<taskId>-a" …, the rest "<taskId>-rest".
func ABTest(a App, taskName string, deliverType int, targets map[string]string, samplePercent int, variants ...schema.ABVariant) *schema.Request {
	r := a.base(schema.PushSimple, taskName, deliverType)
	r.TargetMsgkey = schema.StringMap(targets)
	r.ABTest = &schema.ABTest{Variants: variants, SamplePercent: samplePercent}
	return r
}

// refuseABPipelineFields refuses a request carrying the abTest fields only
// the pipeline sets on the parts of a test.
func refuseABPipelineFields(req *schema.Request) error {
	if f := req.ABPipelineFieldsSet(); f != "" {
		return &schema.ValidationError{Code: schema.CodeInvalidParam,
			Detail: fmt.Sprintf("%s: set by the pipeline on the requests an A/B test sends; a producer gives variants, samplePercent, metric and decisionSeconds only", f)}
	}
	return nil
}
