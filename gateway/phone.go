package gateway

import (
	"context"
	"net/http"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/producer"
	"github.com/pushpipe/pushpipe/schema"
)

// phoneBody is the body of /v1/client/phone/set and /unset: the user whose
// phone number the SMS supplement of pushes (smsStrategy) goes to.
type phoneBody struct {
	appRef
	UserID string `json:"userId"`
	// Phone is E.164 (+6591234567) or a mainland China mobile number of
	// 11 digits (stored as +86...); set only.
	Phone string `json:"phone"`
}

// setPhone serves /v1/client/phone/set: a set_phone record.
func (s *Server) setPhone(ctx context.Context, c *call) reply {
	return s.phone(ctx, c, schema.OpSetPhone)
}

// unsetPhone serves /v1/client/phone/unset: an unset_phone record.
func (s *Server) unsetPhone(ctx context.Context, c *call) reply {
	return s.phone(ctx, c, schema.OpUnsetPhone)
}

// phone publishes one phone record to push.bindings.R, keyed by the user
// id; Data is the user id. A bad number is refused with 3028.
func (s *Server) phone(ctx context.Context, c *call, op schema.BindingOp) reply {
	var b phoneBody
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	if b.UserID == "" {
		return refuse(http.StatusBadRequest, schema.CodeNeedUserID, "userId is empty: name the user whose phone number this is")
	}
	if op == schema.OpUnsetPhone && b.Phone != "" {
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "phone is not read when removing a user's phone number; leave it out")
	}
	rec := &schema.Binding{Op: op, Region: b.Region, AppID: b.AppID, WorkspaceID: b.WorkspaceID, UserID: b.UserID, Phone: b.Phone}
	out, err := producer.PrepareBinding(rec, s.cfg.Region, c.now)
	if err != nil {
		return failed("validating the "+string(op)+" record", err) // a bad number: 400 with its code
	}
	if err := s.cfg.Producer.Produce(ctx, []pipeline.Output{out}); err != nil {
		return failed("publishing the "+string(op)+" of user "+rec.UserID+" to "+out.Topic, err)
	}
	return ok(rec.UserID)
}
