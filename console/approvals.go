package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/approval"
)

// approvalsView is the approvals page.
type approvalsView struct {
	Items []approvalItem
	// CanDecide shows the approve and reject buttons (operators, admins).
	CanDecide bool
}

// approvalItem is one held request as the page shows it.
type approvalItem struct {
	schema.Approval
	Status string
	Age    string
	// Own is set when the viewing account submitted it (it may not
	// approve it).
	Own bool
}

// submitterOf is the submitter name the console records for an account
// (schema.SubmitterHeader of the pushes it sends).
func submitterOf(account string) string { return gateway.SubmitterConsole + account }

// approvals lists the app's held requests (push.approvals.<region>),
// waiting ones first, newest first: app, type, target count, title,
// submitter, age, expiry, and the decision when taken.
func (s *Server) approvals(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	v := view{Title: "Approvals", App: app, Nav: "approvals"}
	q := r.URL.Query()
	switch {
	case q.Get("approved") != "":
		v.Notice = "Task " + q.Get("approved") + " was approved: it is sent now."
	case q.Get("rejected") != "":
		v.Notice = "Task " + q.Get("rejected") + " was rejected: it will not be sent."
	}
	s.showApprovals(w, r, app, http.StatusOK, v)
}

func (s *Server) showApprovals(w http.ResponseWriter, r *request, app string, status int, v view) {
	av := approvalsView{CanDecide: r.account.Role.CanOperate()}
	v.Body = &av
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	state, err := approval.ReadAll(ctx, s.kafka, s.cfg.Region)
	if err != nil {
		s.fail(w, r, "approvals", v, "reading the held pushes", err)
		return
	}
	now := s.cfg.Now()
	var waiting, decided []approvalItem
	for _, a := range approval.Waiting(state, app) {
		it := approvalItem{Approval: a, Status: a.Status(now), Age: now.Sub(time.UnixMilli(a.HeldAt)).Truncate(time.Second).String(),
			Own: a.Submitter != "" && a.Submitter == submitterOf(r.account.Name)}
		if it.Status == "waiting" {
			waiting = append(waiting, it)
		} else {
			decided = append(decided, it)
		}
	}
	av.Items = append(waiting, decided...)
	s.render(w, r.Request, status, "approvals", r, v)
}

// decide approves or rejects a held request for an operator or admin of
// the app who did not submit it (schema.Approval.Decide), through
// approval.Decide: the decision goes to push.approvals.<region>, then the
// request back to push.requests.<region> for fanout to send or refuse.
// Every decision is logged with who, what and when.
func (s *Server) decide(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok || !s.allowed(w, r, app, r.account.Role.CanOperate(), "operators and admins", "approve or reject pushes") {
		return
	}
	task := strings.TrimSpace(r.PostFormValue("task"))
	var d schema.ApprovalDecision
	switch r.PathValue("decision") {
	case "approve":
		d = schema.ApprovalApproved
	case "reject":
		d = schema.ApprovalRejected
	}
	v := view{Title: "Approvals", App: app, Nav: "approvals"}
	note := strings.TrimSpace(r.PostFormValue("note"))
	switch {
	case d == "":
		s.render(w, r.Request, http.StatusNotFound, "error", r, view{Title: "Not found", Error: "A held push is approved or rejected, nothing else."})
		return
	case task == "":
		v.Error = "Name the task to decide on."
		s.showApprovals(w, r, app, http.StatusBadRequest, v)
		return
	case len(note) > 500:
		v.Error = "The reason has more than 500 bytes: say it shorter."
		s.showApprovals(w, r, app, http.StatusBadRequest, v)
		return
	}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	now := s.cfg.Now()
	a, err := approval.Decide(ctx, s.kafka, s.cfg.Producer, s.cfg.Region, app, task, d, submitterOf(r.account.Name), note, now)
	switch {
	case errors.Is(err, approval.ErrUnknown):
		v.Error = "No push of this app is held as task " + task + "."
		s.showApprovals(w, r, app, http.StatusNotFound, v)
		return
	case errors.Is(err, approval.ErrNotDecidable):
		s.log.Warn().Str("account", r.account.Name).Str("app_id", app).Str("task", task).Str("decision", string(d)).Err(err).Msg("console: approval decision refused")
		v.Error = "Not " + string(d) + ": " + strings.TrimPrefix(err.Error(), approval.ErrNotDecidable.Error()+": ") + "."
		s.showApprovals(w, r, app, http.StatusConflict, v)
		return
	case err != nil:
		s.fail(w, r, "approvals", v, "recording the decision on task "+task, err)
		return
	}
	s.log.Info().Str("account", r.account.Name).Str("role", string(r.account.Role)).Str("app_id", app).Str("task", task).
		Str("decision", string(d)).Str("note", note).Str("submitter", a.Submitter).Time("at", now).Msg("console: approval decision")
	http.Redirect(w, r.Request, "/apps/"+url.PathEscape(app)+"/approvals?"+string(d)+"="+url.QueryEscape(task), http.StatusSeeOther)
}
