package console

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/scheduler"
)

// templatesView is the templates page.
type templatesView struct {
	Templates []schema.Template
	// CanChange shows the create and delete forms.
	CanChange bool
	// Form is what the create form shows back after a refusal.
	Form schema.Template
}

// templateList lists the app's templates by name (store.Templates.List,
// as /v1/templates/list).
func (s *Server) templateList(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	v := view{Title: "Templates", App: app, Nav: "templates"}
	switch {
	case r.URL.Query().Get("created") != "":
		v.Notice = "Template " + r.URL.Query().Get("created") + " was created."
	case r.URL.Query().Get("deleted") != "":
		v.Notice = "Template " + r.URL.Query().Get("deleted") + " was deleted."
	}
	s.showTemplates(w, r, app, http.StatusOK, v, schema.Template{})
}

func (s *Server) showTemplates(w http.ResponseWriter, r *request, app string, status int, v view, form schema.Template) {
	tv := templatesView{CanChange: r.account.Role.CanOperate(), Form: form}
	v.Body = &tv
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	ts, err := store.NewTemplates(s.cfg.ClickHouse, s.cfg.Database).List(ctx, app)
	if err != nil {
		s.fail(w, r, "templates", v, "listing templates", err)
		return
	}
	tv.Templates = ts
	s.render(w, r.Request, status, "templates", r, v)
}

// refusal is the words of a refused change: the result code and detail
// of a *schema.ValidationError (as the gateway answers them), else "".
func refusal(err error) string {
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		return fmt.Sprintf("refused with code %d: %s", ve.Code, ve.Detail)
	}
	return ""
}

// createTemplate stores a template for an operator or admin, through
// store.Templates.Create as /v1/templates/create: what that refuses is
// refused with its code and words.
func (s *Server) createTemplate(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok || !s.allowed(w, r, app, r.account.Role.CanOperate(), "operators and admins", "create templates") {
		return
	}
	t := schema.Template{AppID: app, Name: strings.TrimSpace(r.PostFormValue("name")), Title: r.PostFormValue("title"),
		Content: r.PostFormValue("content"), URI: strings.TrimSpace(r.PostFormValue("uri")), Description: r.PostFormValue("description")}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	err := store.NewTemplates(s.cfg.ClickHouse, s.cfg.Database).Create(ctx, t)
	v := view{Title: "Templates", App: app, Nav: "templates"}
	if words := refusal(err); words != "" {
		v.Error = "The template was " + words
		s.showTemplates(w, r, app, http.StatusBadRequest, v, t)
		return
	}
	if err != nil {
		s.fail(w, r, "templates", v, "creating template "+t.Name, err)
		return
	}
	s.log.Info().Str("account", r.account.Name).Str("app_id", app).Str("template", t.Name).Msg("console: template created")
	http.Redirect(w, r.Request, "/apps/"+url.PathEscape(app)+"/templates?created="+url.QueryEscape(t.Name), http.StatusSeeOther)
}

// deleteTemplate deletes a template for an operator or admin, as
// /v1/templates/delete: one that tasks used within 14 days needs force.
func (s *Server) deleteTemplate(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok || !s.allowed(w, r, app, r.account.Role.CanOperate(), "operators and admins", "delete templates") {
		return
	}
	name := r.PostFormValue("name")
	force := r.PostFormValue("force") != ""
	v := view{Title: "Templates", App: app, Nav: "templates"}
	err := schema.ValidateTemplateName(name)
	if err == nil {
		ctx, cancel := s.queryCtx(r)
		defer cancel()
		err = store.NewTemplates(s.cfg.ClickHouse, s.cfg.Database).Delete(ctx, app, name, force)
	}
	var inUse *store.InUseError
	switch {
	case errors.As(err, &inUse):
		v.Error = "The template was not deleted: " + inUse.Error() + "."
		s.showTemplates(w, r, app, http.StatusConflict, v, schema.Template{})
		return
	case refusal(err) != "":
		v.Error = "The delete was " + refusal(err)
		s.showTemplates(w, r, app, http.StatusBadRequest, v, schema.Template{})
		return
	case err != nil:
		s.fail(w, r, "templates", v, "deleting template "+name, err)
		return
	}
	s.log.Info().Str("account", r.account.Name).Str("app_id", app).Str("template", name).Bool("force", force).Msg("console: template deleted")
	http.Redirect(w, r.Request, "/apps/"+url.PathEscape(app)+"/templates?deleted="+url.QueryEscape(name), http.StatusSeeOther)
}

// schedulesView is the page of scheduled and loop pushes.
type schedulesView struct {
	Page, Size int
	Total      int
	Tasks      []schema.ScheduledTask
	Prev, Next string
	CanCancel  bool
}

// scheduleList lists the occurrences of the app's scheduled and loop
// pushes, as /v1/schedules without filters: read from
// push.schedules.<region> (scheduler.ReadSchedules), each schedule's
// occurrences in order, a page at a time.
func (s *Server) scheduleList(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	v := view{Title: "Scheduled and loop pushes", App: app, Nav: "schedules"}
	if c := r.URL.Query().Get("cancelled"); c != "" {
		v.Notice = "Cancelled " + c + ": its occurrences not sent yet will not be sent."
	}
	s.showSchedules(w, r, app, http.StatusOK, v)
}

func (s *Server) showSchedules(w http.ResponseWriter, r *request, app string, status int, v view) {
	sv := schedulesView{CanCancel: r.account.Role.CanOperate()}
	v.Body = &sv
	var err error
	if sv.Page, sv.Size, err = pageOf(r.URL.Query()); err != nil {
		s.badRequest(w, r, "schedules", v, err)
		return
	}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	all, err := scheduler.ReadSchedules(ctx, s.cfg.Brokers, s.cfg.KafkaSecurity, s.cfg.Region)
	if err != nil {
		s.fail(w, r, "schedules", v, "reading scheduled pushes", err)
		return
	}
	var list []schema.ScheduledTask
	for _, sc := range all {
		if sc.AppID != app {
			continue
		}
		p, err := sc.Plan(s.cfg.Location)
		if err != nil {
			continue // a schedule without a valid plan has no occurrences
		}
		list = append(list, sc.Tasks(p, math.MaxInt)...)
	}
	sv.Total = len(list)
	lo := min((sv.Page-1)*sv.Size, len(list))
	hi := min(lo+sv.Size, len(list))
	sv.Tasks = list[lo:hi]
	link := func(p int) string {
		return url.Values{"page": {strconv.Itoa(p)}, "size": {strconv.Itoa(sv.Size)}}.Encode()
	}
	sv.Prev, sv.Next = pageLinks(sv.Page, hi < len(list), link)
	s.render(w, r.Request, status, "schedules", r, v)
}

// cancelSchedule cancels, for an operator or admin, a schedule (its id:
// every occurrence not sent yet) or one occurrence (its uniqueId), the
// way /v1/schedules/cancel does (scheduler.Cancel).
func (s *Server) cancelSchedule(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok || !s.allowed(w, r, app, r.account.Role.CanOperate(), "operators and admins", "cancel scheduled pushes") {
		return
	}
	id := strings.TrimSpace(r.PostFormValue("id"))
	v := view{Title: "Scheduled and loop pushes", App: app, Nav: "schedules"}
	if id == "" {
		v.Error = "Name the schedule or occurrence to cancel (its id)."
		s.render(w, r.Request, http.StatusBadRequest, "error", r, v)
		return
	}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	res, err := scheduler.Cancel(ctx, s.cfg.Brokers, s.cfg.KafkaSecurity, s.cfg.Producer, s.cfg.Region, app, id, s.cfg.Now(), s.cfg.Location)
	switch {
	case errors.Is(err, scheduler.ErrUnknownTask), errors.Is(err, scheduler.ErrNotCancellable):
		v.Error = "Not cancelled: " + strings.TrimPrefix(err.Error(), "scheduler: ") + "."
		s.showSchedules(w, r, app, http.StatusConflict, v)
		return
	case err != nil:
		s.fail(w, r, "schedules", v, "cancelling "+id, err)
		return
	}
	s.log.Info().Str("account", r.account.Name).Str("app_id", app).Str("schedule", id).Bool("already", res.AlreadyCancelled).Msg("console: scheduled push cancelled")
	http.Redirect(w, r.Request, "/apps/"+url.PathEscape(app)+"/schedules?cancelled="+url.QueryEscape(id), http.StatusSeeOther)
}

// MaxTagIDBytes bounds the user id and tag the tags page asks about.
const MaxTagIDBytes = 256

// tagsView is the tags and users page.
type tagsView struct {
	// User is the user whose tags are shown (UserTags, as /v1/tags/list).
	User     string
	UserTags []string
	// Tag is the tag whose users are shown, a page at a time (as
	// /v1/tags/users).
	Tag        string
	Users      []string
	UsersTotal uint64
	Page, Size int
	Prev, Next string
	// Looked is set once a user or a tag was looked up.
	LookedUser, LookedTag bool
}

// tags shows a user's tags and a tag's users (store.Devices.UserTags and
// TagUsers, as /v1/tags/list and /v1/tags/users).
func (s *Server) tags(w http.ResponseWriter, r *request) {
	app, ok := s.app(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	v := view{Title: "Tags and users", App: app, Nav: "tags"}
	tv := tagsView{User: strings.TrimSpace(q.Get("user")), Tag: strings.TrimSpace(q.Get("tag"))}
	v.Body = &tv
	var err error
	tv.Page, tv.Size, err = pageOf(q)
	switch {
	case err != nil:
	case len(tv.User) > MaxTagIDBytes:
		err = fmt.Errorf("the user id has %d bytes; ids have at most %d", len(tv.User), MaxTagIDBytes)
	case len(tv.Tag) > MaxTagIDBytes:
		err = fmt.Errorf("the tag has %d bytes; tags have at most %d", len(tv.Tag), MaxTagIDBytes)
	}
	if err != nil {
		s.badRequest(w, r, "tags", v, err)
		return
	}
	ctx, cancel := s.queryCtx(r)
	defer cancel()
	devices := store.NewDevices(s.cfg.ClickHouse, s.cfg.Database)
	if tv.User != "" {
		if tv.UserTags, err = devices.UserTags(ctx, app, tv.User); err != nil {
			s.fail(w, r, "tags", v, "listing the tags of user "+tv.User, err)
			return
		}
		tv.LookedUser = true
	}
	if tv.Tag != "" {
		if tv.Users, tv.UsersTotal, err = devices.TagUsers(ctx, app, tv.Tag, (tv.Page-1)*tv.Size, tv.Size); err != nil {
			s.fail(w, r, "tags", v, "listing the users of tag "+tv.Tag, err)
			return
		}
		tv.LookedTag = true
		link := func(p int) string {
			l := url.Values{"tag": {tv.Tag}, "page": {strconv.Itoa(p)}, "size": {strconv.Itoa(tv.Size)}}
			if tv.User != "" {
				l.Set("user", tv.User)
			}
			return l.Encode()
		}
		tv.Prev, tv.Next = pageLinks(tv.Page, uint64(tv.Page*tv.Size) < tv.UsersTotal, link)
	}
	s.render(w, r.Request, http.StatusOK, "tags", r, v)
}
