package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// Channels are the channels the overview filters by and the task page
// breaks its figures down by (the channel column of the events).
var Channels = registry.Names()

// Platforms and PushTypes are the other overview filters.
var (
	Platforms = []string{schema.PlatformAndroid, schema.PlatformIOS, schema.PlatformHarmony}
	PushTypes = []string{string(schema.PushSimple), string(schema.PushTemplate), string(schema.PushMultiple), string(schema.PushBroadcast)}
)

// inputTime is the format of the pages' time fields (datetime-local, UTC).
const inputTime = "2006-01-02T15:04"

// ranges are the presets of the range field, with the granularity they
// default to.
var ranges = []struct {
	Name string
	Span time.Duration
	Gran string
}{{"1h", time.Hour, schema.GranularityMinute}, {"24h", 24 * time.Hour, schema.GranularityHour},
	{"7d", 7 * 24 * time.Hour, schema.GranularityDay}, {"30d", 30 * 24 * time.Hour, schema.GranularityDay}}

// timeRange reads the range of a page: the preset last (1h, 24h, 7d,
// 30d) ending with the current minute when given; else from and to
// (datetime-local, UTC) when given; else the preset def. It returns the
// range, the granularity that suits it and the fields to show back.
func timeRange(q url.Values, now time.Time, def string) (from, to time.Time, gran string, f rangeForm, err error) {
	f = rangeForm{Last: q.Get("last"), From: q.Get("from"), To: q.Get("to")}
	if f.Last == "" && (f.From != "" || f.To != "") {
		if from, err = time.Parse(inputTime, f.From); err != nil {
			return from, to, "", f, fmt.Errorf("from %q is not a time such as 2026-12-06T09:00 (UTC)", f.From)
		}
		if to, err = time.Parse(inputTime, f.To); err != nil {
			return from, to, "", f, fmt.Errorf("to %q is not a time such as 2026-12-06T10:00 (UTC)", f.To)
		}
		gran = schema.GranularityDay
		if to.Sub(from) <= 24*time.Hour {
			gran = schema.GranularityHour
		}
		return from, to, gran, f, nil
	}
	if f.Last == "" {
		f.Last = def
	}
	for _, r := range ranges {
		if r.Name == f.Last {
			to = now.UTC().Truncate(time.Minute).Add(time.Minute)
			from = to.Add(-r.Span)
			f.From, f.To = from.Format(inputTime), to.Format(inputTime)
			return from, to, r.Gran, f, nil
		}
	}
	return from, to, "", f, fmt.Errorf("range %q is not one of 1h, 24h, 7d, 30d", f.Last)
}

// rangeForm is the range fields of a page as the page shows them.
type rangeForm struct{ Last, From, To string }

// overviewView is the overview page.
type overviewView struct {
	Range       rangeForm
	Granularity string
	Channel     string
	Platform    string
	Type        string
	AppVersion  string
	Channels    []string
	Platforms   []string
	PushTypes   []string
	Total       schema.StatsPoint
	Series      []schema.StatsPoint
	Chart       template.HTML
}

// queryCtx bounds the work of one page.
func (s *Server) queryCtx(r *request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.Timeout)
}

// overview shows the app's core metrics over a range, with a trend chart.
func (s *Server) overview(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	v := view{Title: "Overview", App: app, Nav: "overview"}
	ov := overviewView{Granularity: q.Get("granularity"), Channel: q.Get("channel"), Platform: q.Get("platform"), Type: q.Get("type"),
		AppVersion: q.Get("appVersion"), Channels: Channels, Platforms: Platforms, PushTypes: PushTypes}
	from, to, gran, rf, err := timeRange(q, s.cfg.Now(), "24h")
	ov.Range = rf
	if ov.Granularity == "" {
		ov.Granularity = gran
	}
	v.Body = &ov
	if err != nil {
		s.badRequest(w, r, "overview", v, err)
		return
	}
	if err := checkFilters(ov); err != nil {
		s.badRequest(w, r, "overview", v, err)
		return
	}
	sq := schema.StatsQuery{AppID: app, From: from, To: to, Granularity: ov.Granularity, Platform: ov.Platform, Channel: ov.Channel, PushType: ov.Type}
	if ov.AppVersion != "" {
		sq.AppVersions = schema.SplitAppVersions(ov.AppVersion)
	}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	res, err := store.QueryStats(ctx, s.cfg.ClickHouse, s.cfg.Database, sq)
	if err != nil {
		s.fail(w, r, "overview", v, "querying statistics", err)
		return
	}
	ov.Total, ov.Series = res.Total, res.Series
	ov.Chart = trendChart(fillSeries(res.Series, from, to, ov.Granularity))
	s.render(w, r.Request, http.StatusOK, "overview", r, v)
}

// checkFilters refuses a channel, platform or push type the console does
// not know, rather than showing zeros for a typo.
func checkFilters(ov overviewView) error {
	for _, f := range []struct {
		name, value string
		valid       []string
	}{{"channel", ov.Channel, Channels}, {"platform", ov.Platform, Platforms}, {"type", ov.Type, PushTypes}} {
		if f.value != "" && !slices.Contains(f.valid, f.value) {
			return fmt.Errorf("%s %q is not one of %s", f.name, f.value, strings.Join(f.valid, ", "))
		}
	}
	return nil
}

// badRequest shows page with the problem of err, the user's (400).
func (s *Server) badRequest(w http.ResponseWriter, r *request, page string, v view, err error) {
	v.Error = err.Error()
	s.render(w, r.Request, http.StatusBadRequest, page, r, v)
}

// fail shows page with the problem of err: a *schema.ValidationError is
// the user's (400, its text shown), anything else ClickHouse or Kafka
// failing (503, logged, not shown).
func (s *Server) fail(w http.ResponseWriter, r *request, page string, v view, what string, err error) {
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		s.badRequest(w, r, page, v, errors.New(ve.Detail))
		return
	}
	s.log.Error().Err(err).Str("account", r.account.Name).Str("path", r.URL.Path).Msg("console: " + what)
	v.Error = what + " failed: ClickHouse or Kafka cannot be reached now; try again"
	s.render(w, r.Request, http.StatusServiceUnavailable, page, r, v)
}

// Paging of the task list.
const (
	DefaultTasksPerPage = 20
	MaxTasksPerPage     = gateway.MaxPageSize
)

// tasksView is the task list.
type tasksView struct {
	Range      rangeForm
	TaskID     string
	TaskName   string
	AppVersion string
	Page, Size int
	Tasks      []schema.TaskSummary
	// Prev and Next are the query strings of the neighbouring pages, ""
	// when there is none.
	Prev, Next string
}

// taskList lists the app's tasks that started in the range, newest first,
// a page at a time: store.ListTasks, as /v1/tasks.
func (s *Server) taskList(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	v := view{Title: "Tasks", App: app, Nav: "tasks"}
	tv := tasksView{TaskID: strings.TrimSpace(q.Get("taskId")), TaskName: q.Get("taskName"), AppVersion: q.Get("appVersion"), Page: 1, Size: DefaultTasksPerPage}
	v.Body = &tv
	from, to, _, rf, err := timeRange(q, s.cfg.Now(), "7d")
	tv.Range = rf
	if err == nil {
		tv.Page, tv.Size, err = pageOf(q)
	}
	if err != nil {
		s.badRequest(w, r, "tasks", v, err)
		return
	}
	tq := schema.TaskQuery{AppID: app, From: from, To: to, TaskID: tv.TaskID, TaskName: tv.TaskName, Limit: tv.Page*tv.Size + 1}
	if tv.AppVersion != "" {
		tq.AppVersions = schema.SplitAppVersions(tv.AppVersion)
	}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	ts, err := store.ListTasks(ctx, s.cfg.ClickHouse, s.cfg.Database, tq)
	if err != nil {
		s.fail(w, r, "tasks", v, "listing tasks", err)
		return
	}
	lo := min((tv.Page-1)*tv.Size, len(ts))
	hi := min(lo+tv.Size, len(ts))
	tv.Tasks = ts[lo:hi]
	pageLink := func(p int) string {
		l := url.Values{"from": {rf.From}, "to": {rf.To}, "page": {strconv.Itoa(p)}, "size": {strconv.Itoa(tv.Size)}}
		for k, val := range map[string]string{"taskId": tv.TaskID, "taskName": tv.TaskName, "appVersion": tv.AppVersion} {
			if val != "" {
				l.Set(k, val)
			}
		}
		return l.Encode()
	}
	tv.Prev, tv.Next = pageLinks(tv.Page, len(ts) > hi, pageLink)
	s.render(w, r.Request, http.StatusOK, "tasks", r, v)
}

// pageLinks are the links of the pages around page (from 1), "" where
// there is none: more says whether a next page has rows.
func pageLinks(page int, more bool, link func(int) string) (prev, next string) {
	if page > 1 {
		prev = link(page - 1)
	}
	if more {
		next = link(page + 1)
	}
	return prev, next
}

// pageOf reads page (from 1) and size (1..MaxTasksPerPage).
func pageOf(q url.Values) (pageNumber, size int, err error) {
	pageNumber, size = 1, DefaultTasksPerPage
	if p := q.Get("page"); p != "" {
		if pageNumber, err = strconv.Atoi(p); err != nil || pageNumber < 1 || pageNumber > gateway.MaxPageNumber {
			return 0, 0, fmt.Errorf("page %q is not a page number from 1 to %d", p, gateway.MaxPageNumber)
		}
	}
	if sz := q.Get("size"); sz != "" {
		if size, err = strconv.Atoi(sz); err != nil || size < 1 || size > MaxTasksPerPage {
			return 0, 0, fmt.Errorf("size %q is not a page size from 1 to %d", sz, MaxTasksPerPage)
		}
	}
	return pageNumber, size, nil
}

// taskView is the task page.
type taskView struct {
	Task     *gateway.TaskDetail
	Start    time.Time
	Funnel   template.HTML
	Stages   []funnelRow
	Channels []channelRow
	// Timeline is the task's events over time.
	Timeline *timelineView
	// CanRevoke shows the revoke form.
	CanRevoke bool
	Reason    string
}

// channelRow is the figures of a task on one channel: store.QueryStats
// with the task and the channel, as /v1/stats with taskId and channel.
type channelRow struct {
	Channel string
	Stats   schema.StatsPoint
}

// taskPage shows a task's summary and funnel (gateway.TaskDetails, as
// /v1/tasks/{taskId}), its figures per channel and the revoke form.
func (s *Server) taskPage(w http.ResponseWriter, r *request) {
	s.showTask(w, r, http.StatusOK, "")
}

func (s *Server) showTask(w http.ResponseWriter, r *request, status int, problem string) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	id := r.PathValue("task")
	v := view{Title: "Task " + id, App: app, Nav: "tasks", Error: problem}
	if r.URL.Query().Get("revoked") != "" {
		v.Notice = "The revoke of task " + id + " was published: deliveries not sent yet end as revoked, those already accepted by a vendor are recalled where the vendor can."
	}
	tv := taskView{CanRevoke: r.account.Role.CanRevoke(), Reason: r.PostFormValue("reason")}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	d, err := gateway.TaskDetails(ctx, s.cfg.ClickHouse, s.cfg.Database, app, id)
	if errors.Is(err, gateway.ErrTaskNotFound) {
		v.Error = fmt.Sprintf("Task %q of app %s has no events in region %s.", id, app, s.cfg.Region)
		s.render(w, r.Request, http.StatusNotFound, "error", r, v)
		return
	}
	v.Body = &tv
	if err != nil {
		s.fail(w, r, "error", v, "reading task "+id, err)
		return
	}
	tv.Task, tv.Start = d, time.UnixMilli(d.StartTime).UTC()
	tv.Funnel, tv.Stages = funnelChart(d.Funnel), funnelRows(d.Funnel)
	if tv.Timeline, err = s.taskTimeline(ctx, app, id, tv.Start, time.UnixMilli(d.EndTime)); err != nil {
		s.fail(w, r, "task", v, "reading the timeline of task "+id, err)
		return
	}
	// The channels' figures count from the task's first minute until now
	// (arrivals and opens come later), within the longest range a
	// statistics query may cover.
	from := tv.Start.Truncate(time.Minute)
	to := s.cfg.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	if to.Sub(from) > schema.MaxStatsRange {
		to = from.Add(schema.MaxStatsRange)
	}
	for _, ch := range Channels {
		res, err := store.QueryStats(ctx, s.cfg.ClickHouse, s.cfg.Database, schema.StatsQuery{AppID: app, From: from, To: to,
			Granularity: schema.GranularityDay, Channel: ch, TaskID: id})
		if err != nil {
			s.fail(w, r, "task", v, "querying the channels of task "+id, err)
			return
		}
		if t := res.Total; t.Pushed+t.Succeeded+t.Arrived+t.Opened+t.Ignored > 0 {
			tv.Channels = append(tv.Channels, channelRow{Channel: ch, Stats: t})
		}
	}
	s.render(w, r.Request, status, "task", r, v)
}

// MaxReasonBytes bounds the reason of a revoke.
const MaxReasonBytes = 256

// revoke publishes the revoke of a task (gateway.Revoke, as
// /v1/push/revoke/task) for an operator or admin.
func (s *Server) revoke(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	id := r.PathValue("task")
	if !s.allowed(w, r, app, r.account.Role.CanRevoke(), "operators and admins", "revoke") {
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if len(reason) > MaxReasonBytes {
		s.showTask(w, r, http.StatusBadRequest, fmt.Sprintf("The reason has %d bytes; at most %d are allowed.", len(reason), MaxReasonBytes))
		return
	}
	ctl := &schema.Control{AppID: app, TaskID: id, Reason: reason}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	err := gateway.Revoke(ctx, s.cfg.ClickHouse, s.cfg.Database, s.cfg.Producer, s.cfg.Region, ctl, s.cfg.Now())
	var ve *schema.ValidationError
	switch {
	case errors.As(err, &ve):
		s.showTask(w, r, http.StatusBadRequest, "The revoke was refused: "+ve.Detail)
		return
	case err != nil:
		s.log.Error().Err(err).Str("account", r.account.Name).Str("app_id", app).Str("task_id", id).Msg("console: revoking a task")
		s.showTask(w, r, http.StatusServiceUnavailable, "The revoke could not be published: Kafka or ClickHouse cannot be reached now; try again.")
		return
	}
	s.log.Info().Str("account", r.account.Name).Str("app_id", app).Str("task_id", id).Str("control_key", ctl.ControlKey()).Str("reason", reason).Msg("console: task revoked")
	http.Redirect(w, r.Request, "/apps/"+url.PathEscape(app)+"/tasks/"+url.PathEscape(id)+"?revoked=1", http.StatusSeeOther)
}

// allowed reports may; when it is false it logs the refusal and shows a
// 403 page saying that only who may do what.
func (s *Server) allowed(w http.ResponseWriter, r *request, app string, may bool, who, what string) bool {
	if may {
		return true
	}
	s.log.Warn().Str("account", r.account.Name).Str("role", string(r.account.Role)).Str("app_id", app).Str("path", r.URL.Path).Msg("console: " + what + " refused by role")
	s.render(w, r.Request, http.StatusForbidden, "error", r, view{Title: "Forbidden", App: app,
		Error: fmt.Sprintf("Account %s is a %s: only %s may %s.", r.account.Name, r.account.Role, who, what)})
	return false
}

// pct formats a fraction as a percentage with one decimal.
func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }

// num formats a count with thin groups: 12,345.
func num(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// when formats Unix ms as UTC.
func when(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05") + " UTC" }
