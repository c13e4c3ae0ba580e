package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/gateway"
)

// abTestsView is the body of the A/B tests page: the app's tests, or one
// test with its figures and decision.
type abTestsView struct {
	Tests []gateway.ABTest
	Test  *gateway.ABTest
}

// abTestList shows the app's A/B tests, newest first
// (gateway.ListABTests), with each variant's figures and the winner.
func (s *Server) abTestList(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	v := view{Title: "A/B copy tests", App: app, Nav: "abtests"}
	body := &abTestsView{}
	v.Body = body
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	list, err := gateway.ListABTests(ctx, s.cfg.ClickHouse, s.cfg.Database, s.cfg.Brokers, s.cfg.KafkaSecurity, s.cfg.Region, app, time.Now())
	if err != nil {
		s.fail(w, r, "abtests", v, "reading A/B tests", err)
		return
	}
	body.Tests = list
	s.render(w, r.Request, http.StatusOK, "abtests", r, v)
}

// abTestPage shows one A/B test (gateway.LoadABTest): the same figures as
// /v1/abtests/{taskId}.
func (s *Server) abTestPage(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	id := r.PathValue("task")
	v := view{Title: "A/B test " + id, App: app, Nav: "abtests"}
	body := &abTestsView{}
	v.Body = body
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	t, err := gateway.LoadABTest(ctx, s.cfg.ClickHouse, s.cfg.Database, s.cfg.Brokers, s.cfg.KafkaSecurity, s.cfg.Region, app, id, time.Now())
	if errors.Is(err, gateway.ErrABTestNotFound) {
		v.Error = "Task " + id + " of app " + app + " started no A/B test in region " + s.cfg.Region + "."
		s.render(w, r.Request, http.StatusNotFound, "abtests", r, v)
		return
	}
	if err != nil {
		s.fail(w, r, "abtests", v, "reading A/B test "+id, err)
		return
	}
	body.Test = t
	s.render(w, r.Request, http.StatusOK, "abtests", r, v)
}

// upper is strings.ToUpper for the templates (variant names A–E).
func upper(s string) string { return strings.ToUpper(s) }
