package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/scheduler"
)

// Paging of the list routes (mPaaS pageNumber, pageSize).
const (
	DefaultPageSize = 500
	MaxPageSize     = 500
	// MaxPageNumber bounds pageNumber, so that the offset of a page never
	// overflows: no list holds more than a million pages.
	MaxPageNumber = 1_000_000
	// MaxCancelIDs is how many scheduled tasks one cancel may name.
	MaxCancelIDs = 30
)

// Stats is the answer of /v1/stats (mPaaS QueryPushAnalysisCoreIndex):
// PushTotalNum the messages pushed (deliveries emitted and messages to
// invalid targets, schema.StatsPoint.Pushed), PushNum those successfully
// pushed (accepted by the vendor or the self-built channel), ArrivalNum,
// OpenNum, IgnoreNum from receipts and the app SDK; rates are fractions
// (arrivals / pushed, opens / arrivals, ignores / arrivals). Series holds
// the same figures per period of the asked granularity.
type Stats struct {
	PushTotalNum uint64              `json:"pushTotalNum"`
	PushNum      uint64              `json:"pushNum"`
	ArrivalNum   uint64              `json:"arrivalNum"`
	ArrivalRate  float64             `json:"arrivalRate"`
	OpenNum      uint64              `json:"openNum"`
	OpenRate     float64             `json:"openRate"`
	IgnoreNum    uint64              `json:"ignoreNum"`
	IgnoreRate   float64             `json:"ignoreRate"`
	Series       []schema.StatsPoint `json:"series"`
}

// statsBody is the body of /v1/stats. Times are Unix ms; channel takes the
// mPaaS names (IOS, FCM, HMS, MIUI, OPPO, VIVO, ANDROID for the self-built
// channel, HONOR) or pushpipe's (apns, mipush, self, ...).
type statsBody struct {
	appRef
	StartTime   int64   `json:"startTime"`
	EndTime     int64   `json:"endTime"`
	Granularity string  `json:"granularity"`
	Platform    string  `json:"platform"`
	Channel     string  `json:"channel"`
	Type        string  `json:"type"`
	TaskID      string  `json:"taskId"`
	AppVersion  *string `json:"appVersion"`
}

// appVersions resolves the appVersion parameter: absent (or null) means
// every version; otherwise one version or several, comma-separated, each
// non-empty (3028 otherwise, as for more than schema.MaxStatsAppVersions).
func appVersions(v *string) ([]string, *reply) {
	if v == nil {
		return nil, nil
	}
	vs := schema.SplitAppVersions(*v)
	if err := schema.ValidateAppVersions(vs); err != nil {
		r := failed("reading appVersion", err)
		return nil, &r
	}
	return vs, nil
}

// mpaasChannel returns the channel of the registry whose mPaaS name
// (Vendor.MPaaSChannel: IOS, FCM, HMS, MIUI, OPPO, VIVO, ANDROID, HONOR)
// is name; ok is false for another name.
func mpaasChannel(name string) (channel string, ok bool) {
	for _, v := range registry.Vendors() {
		if v.MPaaSChannel != "" && v.MPaaSChannel == name {
			return v.Name, true
		}
	}
	return "", false
}

// timeRange resolves startTime and endTime (Unix ms; endTime 0 = now).
func timeRange(start, end int64, now time.Time) (time.Time, time.Time, *reply) {
	if start <= 0 {
		r := refuse(http.StatusBadRequest, schema.CodeInvalidParam, "startTime is required: the start of the range in Unix milliseconds")
		return time.Time{}, time.Time{}, &r
	}
	to := now
	if end > 0 {
		to = time.UnixMilli(end)
	}
	return time.UnixMilli(start), to, nil
}

// stats serves /v1/stats.
func (s *Server) stats(ctx context.Context, c *call) reply {
	var b statsBody
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	from, to, rep := timeRange(b.StartTime, b.EndTime, c.now)
	if rep != nil {
		return *rep
	}
	versions, rep := appVersions(b.AppVersion)
	if rep != nil {
		return *rep
	}
	q := schema.StatsQuery{AppID: b.AppID, From: from, To: to, Granularity: b.Granularity,
		Platform: strings.ToLower(b.Platform), Channel: b.Channel, PushType: strings.ToUpper(b.Type), TaskID: b.TaskID, AppVersions: versions}
	if q.Granularity == "" {
		q.Granularity = schema.GranularityDay
	}
	if ch, ok := mpaasChannel(b.Channel); ok {
		q.Channel = ch
	}
	res, err := store.QueryStats(ctx, s.cfg.ClickHouse, s.cfg.Database, q)
	if err != nil {
		return failed("querying statistics", err)
	}
	t := res.Total
	series := res.Series
	if series == nil {
		series = []schema.StatsPoint{}
	}
	return ok(Stats{PushTotalNum: t.Pushed, PushNum: t.Succeeded, ArrivalNum: t.Arrived, ArrivalRate: t.ArrivalRate,
		OpenNum: t.Opened, OpenRate: t.OpenRate, IgnoreNum: t.Ignored, IgnoreRate: t.IgnoreRate, Series: series})
}

// funnel serves /v1/stats/funnel: the funnel of a task or a message.
func (s *Server) funnel(ctx context.Context, c *call) reply {
	var b struct {
		appRef
		TaskID string `json:"taskId"`
		MsgID  string `json:"msgId"`
	}
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	if (b.TaskID == "") == (b.MsgID == "") {
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "give exactly one of taskId and msgId")
	}
	f, err := store.QueryFunnel(ctx, s.cfg.ClickHouse, s.cfg.Database, b.AppID, b.TaskID, b.MsgID)
	if err != nil {
		return failed("querying the funnel", err)
	}
	return ok(f)
}

// Task is one task of /v1/tasks and /v1/tasks/{taskId} (mPaaS task list
// and details): its push type, counts (pushNum messages pushed: deliveries
// emitted and messages to invalid targets; pushSuccessNum accepted by the
// vendor or the self-built channel; pushArrivalNum arrived), first
// and last event (Unix ms; gmtCreate is the first) and the duration
// between them as mPaaS writes it ("00 hours 01 min 36 sec").
// AudienceEmpty is true for a broadcast none of whose devices matched its
// filters (platform, pushStatus, bind period, tags, appVersions, models):
// it was accepted and planned nothing.
type Task struct {
	TaskID         string `json:"taskId"`
	TaskName       string `json:"taskName"`
	TemplateName   string `json:"templateName,omitempty"`
	PushType       string `json:"pushType"`
	GmtCreate      int64  `json:"gmtCreate"`
	PushNum        uint64 `json:"pushNum"`
	PushSuccessNum uint64 `json:"pushSuccessNum"`
	PushArrivalNum uint64 `json:"pushArrivalNum"`
	StartTime      int64  `json:"startTime"`
	EndTime        int64  `json:"endTime"`
	Duration       string `json:"duration"`
	AudienceEmpty  bool   `json:"audienceEmpty,omitempty"`
}

// TaskDetail is a Task with its funnel.
type TaskDetail struct {
	Task
	Funnel schema.Funnel `json:"funnel"`
}

func taskOf(t schema.TaskSummary) Task {
	d := t.Duration.Round(time.Second)
	return Task{TaskID: t.TaskID, TaskName: t.TaskName, TemplateName: t.Template, PushType: t.PushType, GmtCreate: t.Start.UnixMilli(), PushNum: t.PushNum,
		PushSuccessNum: t.PushSuccessNum, PushArrivalNum: t.PushArrivalNum, StartTime: t.Start.UnixMilli(),
		EndTime: t.End.UnixMilli(), Duration: fmt.Sprintf("%02d hours %02d min %02d sec", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60),
		AudienceEmpty: t.AudienceEmpty}
}

// ErrTaskNotFound marks a task id without any stored event. Test with
// errors.Is.
var ErrTaskNotFound = errors.New("no event of the task is stored")

// TaskDetails returns the details and funnel of one task of an app from
// database db, or an error matching ErrTaskNotFound.
func TaskDetails(ctx context.Context, conn driver.Conn, db, appID, taskID string) (*TaskDetail, error) {
	ts, err := store.ListTasks(ctx, conn, db, schema.TaskQuery{AppID: appID, From: time.UnixMilli(0), To: time.Now().Add(24 * time.Hour), TaskID: taskID, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("task %s of app %s: %w", taskID, appID, ErrTaskNotFound)
	}
	f, err := store.QueryFunnel(ctx, conn, db, appID, taskID, "")
	if err != nil {
		return nil, err
	}
	return &TaskDetail{Task: taskOf(ts[0]), Funnel: *f}, nil
}

// page returns the bounds of page pageNumber (from 1) of size pageSize
// (default and cap DefaultPageSize) over n items.
func page(pageNumber, pageSize, n int) (lo, hi int, rep *reply) {
	if pageNumber == 0 {
		pageNumber = 1
	}
	if pageSize == 0 {
		pageSize = DefaultPageSize
	}
	if pageNumber < 1 || pageNumber > MaxPageNumber || pageSize < 1 || pageSize > MaxPageSize {
		r := refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("pageNumber %d and pageSize %d: pages count from 1 to %d and hold 1 to %d items", pageNumber, pageSize, MaxPageNumber, MaxPageSize))
		return 0, 0, &r
	}
	lo = min((pageNumber-1)*pageSize, n)
	return lo, min(lo+pageSize, n), nil
}

// pageParams checks pageNumber and pageSize (see page) and returns them
// with their defaults applied.
func pageParams(pageNumber, pageSize int) (pn, ps int, rep *reply) {
	if _, _, rep := page(pageNumber, pageSize, 0); rep != nil {
		return 0, 0, rep
	}
	pn, ps = max(pageNumber, 1), pageSize
	if ps == 0 {
		ps = DefaultPageSize
	}
	return pn, ps, nil
}

// tasks serves /v1/tasks (mPaaS QueryPushAnalysisTaskList): the tasks that
// started in [startTime, endTime), newest first, optionally only those with
// taskId or with the exact taskName, and with appVersion only those that
// reached a device of these versions, counting only its events.
func (s *Server) tasks(ctx context.Context, c *call) reply {
	var b struct {
		appRef
		StartTime  int64   `json:"startTime"`
		EndTime    int64   `json:"endTime"`
		TaskID     string  `json:"taskId"`
		TaskName   string  `json:"taskName"`
		AppVersion *string `json:"appVersion"`
		PageNumber int     `json:"pageNumber"`
		PageSize   int     `json:"pageSize"`
	}
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	from, to, rep := timeRange(b.StartTime, b.EndTime, c.now)
	if rep != nil {
		return *rep
	}
	versions, rep := appVersions(b.AppVersion)
	if rep != nil {
		return *rep
	}
	if b.EndTime == 0 {
		// Times reach ClickHouse as whole seconds, compared with the
		// millisecond ts of events: a minute of margin makes "until now"
		// include the tasks of the last seconds.
		to = to.Add(time.Minute)
	}
	pn, ps, rep := pageParams(b.PageNumber, b.PageSize)
	if rep != nil {
		return *rep
	}
	ts, err := store.ListTasks(ctx, s.cfg.ClickHouse, s.cfg.Database, schema.TaskQuery{AppID: b.AppID, From: from, To: to, TaskID: b.TaskID, TaskName: b.TaskName,
		AppVersions: versions, Limit: pn * ps})
	if err != nil {
		return failed("listing tasks", err)
	}
	lo, hi, _ := page(pn, ps, len(ts))
	out := make([]Task, 0, hi-lo)
	for _, t := range ts[lo:hi] {
		out = append(out, taskOf(t))
	}
	return ok(out)
}

// taskDetails serves /v1/tasks/{taskId} (mPaaS QueryPushAnalysisTaskDetail).
func (s *Server) taskDetails(ctx context.Context, c *call) reply {
	var b appRef
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	id := c.taskID
	d, err := TaskDetails(ctx, s.cfg.ClickHouse, s.cfg.Database, b.AppID, id)
	if errors.Is(err, ErrTaskNotFound) {
		return refuse(http.StatusNotFound, schema.CodeInvalidParam, fmt.Sprintf("task %q of app %s has no events in region %s", id, b.AppID, s.cfg.Region))
	}
	if err != nil {
		return failed("reading task "+id, err)
	}
	return ok(d)
}

// ScheduleList is the answer of /v1/schedules (mPaaS
// QueryPushSchedulerList): the matching occurrences of scheduled and loop
// pushes and how many matched before paging.
type ScheduleList struct {
	TotalCount int                    `json:"totalCount"`
	List       []schema.ScheduledTask `json:"list"`
}

// mpaasPushTypes maps the mPaaS scheduled-task type numbers.
var mpaasPushTypes = []schema.PushType{schema.PushSimple, schema.PushTemplate, schema.PushMultiple, schema.PushBroadcast}

// schedules serves /v1/schedules: the occurrences whose push time is in
// [startTime, endTime] (0: unbounded), of push type type (0 simple, 1
// template, 2 multiple, 3 broadcast), of the schedule or occurrence
// uniqueId, read from push.schedules.<region>.
func (s *Server) schedules(ctx context.Context, c *call) reply {
	var b struct {
		appRef
		StartTime  int64  `json:"startTime"`
		EndTime    int64  `json:"endTime"`
		Type       *int   `json:"type"`
		UniqueID   string `json:"uniqueId"`
		PageNumber int    `json:"pageNumber"`
		PageSize   int    `json:"pageSize"`
	}
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	var pushType schema.PushType
	if b.Type != nil {
		if *b.Type < 0 || *b.Type >= len(mpaasPushTypes) {
			return refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("type %d is not 0 (simple), 1 (template), 2 (multiple) or 3 (broadcast)", *b.Type))
		}
		pushType = mpaasPushTypes[*b.Type]
	}
	if _, _, rep := page(b.PageNumber, b.PageSize, 0); rep != nil {
		return *rep
	}
	all, err := scheduler.ReadSchedules(ctx, s.cfg.Brokers, s.cfg.KafkaSecurity, s.cfg.Region)
	if err != nil {
		return failed("reading scheduled pushes", err)
	}
	end := int64(math.MaxInt64)
	if b.EndTime > 0 {
		end = b.EndTime
	}
	scheduleID := b.UniqueID
	if sid, _, isOccurrence := schema.ParseOccurrenceID(b.UniqueID); isOccurrence {
		scheduleID = sid
	}
	list := []schema.ScheduledTask{}
	for _, sc := range all {
		if sc.AppID != b.AppID || (scheduleID != "" && sc.ScheduleID != scheduleID) {
			continue
		}
		p, err := sc.Plan(s.cfg.Location)
		if err != nil {
			continue // a schedule without a valid plan has no occurrences
		}
		for _, t := range sc.Tasks(p, math.MaxInt) {
			if t.PushTime < b.StartTime || t.PushTime > end || (pushType != "" && t.Type != pushType) ||
				(scheduleID != b.UniqueID && t.UniqueID != b.UniqueID) {
				continue
			}
			list = append(list, t)
		}
	}
	lo, hi, _ := page(b.PageNumber, b.PageSize, len(list))
	return ok(ScheduleList{TotalCount: len(list), List: list[lo:hi]})
}

// cancelSchedules serves /v1/schedules/cancel (mPaaS CancelPushScheduler):
// uniqueIds, comma-separated (at most MaxCancelIDs), are schedule ids
// (type 0, every occurrence not yet sent) or occurrence ids (type 1). Data
// maps each id to 1 (cancelled, or cancelled before) or 0 (unknown, or
// already run).
func (s *Server) cancelSchedules(ctx context.Context, c *call) reply {
	var b struct {
		appRef
		Type      int    `json:"type"`
		UniqueIDs string `json:"uniqueIds"`
	}
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	var ids []string
	for _, id := range strings.Split(b.UniqueIDs, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	switch {
	case b.Type != 0 && b.Type != 1:
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("type %d is not 0 (schedule ids, parentId) or 1 (occurrence ids, uniqueId)", b.Type))
	case len(ids) == 0:
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "uniqueIds is empty: give the ids to cancel, comma-separated")
	case len(ids) > MaxCancelIDs:
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("uniqueIds names %d ids; at most %d are allowed", len(ids), MaxCancelIDs))
	}
	res := make(map[string]int, len(ids))
	for _, id := range ids {
		res[id] = 0
		if _, _, isOccurrence := schema.ParseOccurrenceID(id); isOccurrence != (b.Type == 1) {
			continue
		}
		_, err := scheduler.Cancel(ctx, s.cfg.Brokers, s.cfg.KafkaSecurity, s.cfg.Producer, s.cfg.Region, b.AppID, id, c.now, s.cfg.Location)
		switch {
		case err == nil:
			res[id] = 1
		case errors.Is(err, scheduler.ErrUnknownTask), errors.Is(err, scheduler.ErrNotCancellable):
		default:
			return failed("cancelling scheduled push "+id, err)
		}
	}
	return ok(res)
}

// templateBody is the body of the template routes.
type templateBody struct {
	appRef
	TemplateName string `json:"templateName"`
	Title        string `json:"title"`
	Content      string `json:"content"`
	URI          string `json:"uri"`
	Description  string `json:"description"`
	// Force deletes a template that tasks used within the last 14 days.
	Force bool `json:"force"`
}

func (s *Server) templateCall(c *call) (templateBody, *store.Templates, *reply) {
	var b templateBody
	if rep := s.decode(c, &b); rep != nil {
		return b, nil, rep
	}
	return b, store.NewTemplates(s.cfg.ClickHouse, s.cfg.Database), nil
}

// createTemplate serves /v1/templates/create; Data is the template name.
func (s *Server) createTemplate(ctx context.Context, c *call) reply {
	b, templates, rep := s.templateCall(c)
	if rep != nil {
		return *rep
	}
	t := schema.Template{AppID: b.AppID, Name: b.TemplateName, Title: b.Title, Content: b.Content, URI: b.URI, Description: b.Description}
	if err := templates.Create(ctx, t); err != nil {
		return failed("creating template "+b.TemplateName, err)
	}
	return ok(b.TemplateName)
}

// listTemplates serves /v1/templates/list: the app's templates by name.
func (s *Server) listTemplates(ctx context.Context, c *call) reply {
	b, templates, rep := s.templateCall(c)
	if rep != nil {
		return *rep
	}
	ts, err := templates.List(ctx, b.AppID)
	if err != nil {
		return failed("listing templates", err)
	}
	if ts == nil {
		ts = []schema.Template{}
	}
	return ok(ts)
}

// deleteTemplate serves /v1/templates/delete; a template used within 14
// days needs force (409 otherwise).
func (s *Server) deleteTemplate(ctx context.Context, c *call) reply {
	b, templates, rep := s.templateCall(c)
	if rep != nil {
		return *rep
	}
	if err := schema.ValidateTemplateName(b.TemplateName); err != nil {
		return failed("deleting template", err)
	}
	err := templates.Delete(ctx, b.AppID, b.TemplateName, b.Force)
	var inUse *store.InUseError
	if errors.As(err, &inUse) {
		return refuse(http.StatusConflict, schema.CodeInvalidParam, inUse.Error())
	}
	if err != nil {
		return failed("deleting template "+b.TemplateName, err)
	}
	return ok(b.TemplateName)
}
