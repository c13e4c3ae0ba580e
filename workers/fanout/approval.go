package fanout

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// Approvals is the state of the approval flow fanout's gate reads
// (*approval.Reader follows push.approvals.R). Safe for concurrent use.
type Approvals interface {
	// Sync returns once every approval record written before the call
	// has been read.
	Sync(ctx context.Context) error
	// Get returns the merged record of a key ("<appId>/<taskId>").
	Get(key string) (schema.Approval, bool)
}

// gateBatch is the approval gate's view within one batch: whether the
// approvals were synced for it, and the records it wrote (a second copy
// of a key in the same batch sees them).
type gateBatch struct {
	synced  bool
	written map[string]schema.Approval
}

// gateOutcome is what the gate made of one request: stop (held, dropped
// or rejected: outs and rej are its result) or go on fanning it out, then
// add after to its outputs.
type gateOutcome struct {
	stop  bool
	outs  []pipeline.Output
	rej   *pipeline.Rejection
	after []pipeline.Output
}

// gate applies the app's approval policy to a decoded, valid, immediate
// request (see package approval): a request the policy holds is fanned
// out only when the approval record of its key, written by the pipeline,
// is approved, not Done, and holds the same content. Otherwise it is held
// (a new record and an accepted event "awaiting approval"), dropped (held
// already, or Done: a replay), or rejected (its record rejected or
// expired: 3901 or 3902; another content under a held key: 3028).
func (h *Handler) gate(ctx context.Context, d *decoded, m kafka.Message, b *gateBatch) (gateOutcome, error) {
	p, ok := h.cfg.Policies[d.req.AppID]
	if !ok {
		return gateOutcome{}, nil
	}
	need, why := p.Requires(d.req)
	if !need {
		return gateOutcome{}, nil
	}
	if !b.synced {
		if err := h.cfg.Approvals.Sync(ctx); err != nil {
			return gateOutcome{}, fmt.Errorf("reading the approvals before deciding on held pushes: %w", err)
		}
		b.synced = true
	}
	if d.req.ABTest != nil && d.req.ABTest.Part != "" {
		return h.gateABPart(d, b)
	}
	key := schema.ApprovalKey(d.req.AppID, d.taskID)
	a, found := h.cfg.Approvals.Get(key)
	if w, ok := b.written[key]; ok {
		a, found = a.Merge(w), true
	}
	digest, err := schema.ApprovalDigest(d.req)
	if err != nil {
		return gateOutcome{}, err
	}
	partial := schema.Event{Region: h.cfg.Region, AppID: d.req.AppID, WorkspaceID: d.req.WorkspaceID, TaskID: d.taskID, PushType: d.req.Type}
	done := func(a schema.Approval) pipeline.Output {
		a.Done, a.DoneAt = true, max(a.DecidedAt, d.ts)
		b.written[key] = a
		return h.approvalOutput(a)
	}
	switch {
	case !found:
		rec, err := schema.NewApproval(d.req, p, why, submitter(m), d.ts)
		if err != nil {
			return gateOutcome{}, err
		}
		b.written[key] = rec
		ev := partial
		ev.EventID, ev.TS, ev.Event = schema.NewEventID(schema.EventAccepted, "approval", d.taskID), d.ts, schema.EventAccepted
		ev.TaskName, ev.StatusCode = d.req.TaskName, int64(schema.CodeSuccess)
		ev.StatusDesc = fmt.Sprintf("%s: awaiting approval until %s: %s", schema.CodeSuccess.Name(),
			time.UnixMilli(rec.ExpiresAt).UTC().Format(time.RFC3339), why)
		h.cfg.Logger.Info().Str("app_id", d.req.AppID).Str("task", d.taskID).Str("submitter", rec.Submitter).Str("reason", why).Msg("push held for approval")
		return gateOutcome{stop: true, outs: []pipeline.Output{h.approvalOutput(rec), workers.EventOutput(h.cfg.Region, ev)}}, nil
	case a.Digest != digest:
		err := &schema.ValidationError{Code: schema.CodeInvalidParam, Detail: fmt.Sprintf(
			"task %s of app %s is held for approval (%s) with other content: a held push cannot be changed; push it under another taskId",
			d.taskID, d.req.AppID, a.Status(h.cfg.Now()))}
		return gateOutcome{stop: true, rej: workers.Reject(err, partial)}, nil
	case a.Done, a.Decision == schema.ApprovalWaiting:
		// Held already (a copy, or a forged release), or acted on (a replay).
		return gateOutcome{stop: true}, nil
	case a.Decision == schema.ApprovalApproved:
		return gateOutcome{after: []pipeline.Output{done(a)}}, nil
	default:
		code, reason := a.Refusal()
		return gateOutcome{stop: true, outs: []pipeline.Output{done(a)},
			rej: workers.Reject(&schema.ValidationError{Code: code, Detail: reason}, partial)}, nil
	}
}

// gateABPart decides on a part of an A/B test (a variant, or the rest)
// whose test the policy holds: the test was held and approved as a whole,
// by its full audience, before fanout started it and wrote its variant
// parts (the scheduler writes the rest part later). A part goes on only
// when the approval record of its test is approved and holds the test's
// content; any other part (a forged one, or of a test nobody approved) is
// rejected with 3028.
func (h *Handler) gateABPart(d *decoded, b *gateBatch) (gateOutcome, error) {
	testID := d.req.ABTest.TestID
	key := schema.ApprovalKey(d.req.AppID, testID)
	a, found := h.cfg.Approvals.Get(key)
	if w, ok := b.written[key]; ok {
		a, found = a.Merge(w), true
	}
	if found && a.Decision == schema.ApprovalApproved {
		// The test's request as it was approved: the part without its
		// part fields, under the test's task id (or none, when the test's
		// was derived).
		test := *d.req
		t := *d.req.ABTest
		t.Part, t.TestID, t.Winner = "", "", ""
		test.ABTest = &t
		for _, id := range []string{testID, ""} {
			test.TaskID = id
			digest, err := schema.ApprovalDigest(&test)
			if err != nil {
				return gateOutcome{}, err
			}
			if digest == a.Digest {
				return gateOutcome{}, nil
			}
		}
	}
	err := &schema.ValidationError{Code: schema.CodeInvalidParam, Detail: fmt.Sprintf(
		"task %s is part %s of A/B test %s, which the app's approval policy holds, and no operator approved that test with this content",
		d.taskID, d.req.ABTest.Part, testID)}
	partial := schema.Event{Region: h.cfg.Region, AppID: d.req.AppID, WorkspaceID: d.req.WorkspaceID, TaskID: d.taskID, PushType: d.req.Type}
	return gateOutcome{stop: true, rej: workers.Reject(err, partial)}, nil
}

func (h *Handler) approvalOutput(a schema.Approval) pipeline.Output {
	v, err := schema.EncodeRecord(a)
	if err != nil { // plain fields only; cannot happen
		panic(fmt.Sprintf("fanout: encoding approval %s: %v", a.Key(), err))
	}
	return pipeline.Output{Topic: pipeline.ApprovalsTopic(h.cfg.Region), Key: []byte(a.Key()), Value: v}
}

// submitter is the request's schema.SubmitterHeader, if any.
func submitter(m kafka.Message) string {
	for _, hd := range m.Headers {
		if hd.Key == schema.SubmitterHeader {
			return string(hd.Value)
		}
	}
	return ""
}
