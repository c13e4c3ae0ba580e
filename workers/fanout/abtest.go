package fanout

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// abTest starts the A/B test a request asks for (schema.Request.IsABTest):
// an accepted event of the test's task id, the test's schedule on
// push.schedules.R (the scheduler records the decision and fires the rest
// part at the decision time), and one request per variant on
// push.requests.R, task id "<testId>-a" …, which fanout then fans out to
// the variant's share of the sample (renderABPart). Every output is a
// function of the request, so a replay writes the same records again and
// fanout's replay check keeps devices from getting a variant twice.
func (h *Handler) abTest(d *decoded) []pipeline.Output {
	req := d.req
	s := schema.NewABTestSchedule(req, d.ts)
	b, err := json.Marshal(s)
	if err != nil { // plain fields only; cannot happen
		panic(fmt.Sprintf("fanout: encoding A/B test schedule %s: %v", s.ScheduleID, err))
	}
	split := req.ABTest.Split(d.taskID, req.TargetMsgkey.SortedKeys())
	sample := 0
	for _, p := range split {
		if p != schema.ABRestPart {
			sample++
		}
	}
	desc := fmt.Sprintf("%s: A/B test of %d variants, a sample of %d of %d targets (%d%%), decided by %s at %s as %s",
		schema.CodeSuccess.Name(), len(req.ABTest.Variants), sample, len(split), req.ABTest.SamplePercent, req.ABTest.MetricName(),
		time.UnixMilli(s.Strategy.FixedTime).UTC().Format(time.RFC3339), s.ScheduleID)
	ev := schema.Event{EventID: schema.NewEventID(schema.EventAccepted, d.taskID), TS: d.ts, Region: h.cfg.Region,
		AppID: req.AppID, WorkspaceID: req.WorkspaceID, TaskID: d.taskID, TaskName: req.TaskName, PushType: req.Type,
		Event: schema.EventAccepted, StatusCode: int64(schema.CodeSuccess), StatusDesc: desc}
	outs := []pipeline.Output{
		{Topic: pipeline.SchedulesTopic(h.cfg.Region), Key: []byte(s.ScheduleID), Value: b},
		workers.EventOutput(h.cfg.Region, ev),
	}
	for i := range req.ABTest.Variants {
		part := req.ABPartRequest(schema.ABVariantName(i), "")
		part.AcceptedAt = d.ts
		v, err := json.Marshal(part)
		if err != nil { // plain fields only; cannot happen
			panic(fmt.Sprintf("fanout: encoding A/B test part %s: %v", part.TaskID, err))
		}
		outs = append(outs, pipeline.Output{Topic: pipeline.RequestsTopic(h.cfg.Region), Key: []byte(part.KafkaKey()), Value: v})
	}
	return outs
}

// renderABPart returns the messages of one part of an A/B test: the
// part's targets (schema.Request.PartTargets) with its copy.
func renderABPart(req *schema.Request) []message {
	v, ok := req.ABTest.Copy()
	if !ok { // validated: the part names a variant
		return nil
	}
	targets := req.PartTargets()
	out := make([]message, 0, len(targets))
	for _, t := range targets {
		out = append(out, message{target: t, msgID: req.TargetMsgkey[t], title: v.Title, body: v.Content, uri: req.URI, ext: req.ExtendedParams})
	}
	return out
}
