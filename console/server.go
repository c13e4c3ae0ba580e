// Package console is pushpipe's web console for operators, one region per
// server: login and logout, an overview of an app's push metrics with a
// trend chart (pushed, succeeded, arrived, opened, ignored and their
// rates, by minute, hour or day, filtered by channel, platform, push type
// and app version), the task list with filters and paging, and a task page
// with its funnel chart, its timeline (events per type and period), its
// per-channel figures and a revoke button, a composer that sends a test
// push to chosen devices, users or aliases and previews it per channel,
// an investigation page: a device id or user id → its devices and
// their tokens, and the messages planned to it with each event and where
// each stopped; the app's templates (create, delete), its scheduled and
// loop pushes (cancel), a user's tags and a tag's users, and its dead
// letters, which an admin sends back to their topic after fixing them,
// and the pushes held for approval, which an operator or admin other than
// their submitter approves or rejects (package workers/approval).
//
// Every figure is read with the functions the gateway's query routes use
// (store.QueryStats for /v1/stats, store.ListTasks for /v1/tasks,
// gateway.TaskDetails for /v1/tasks/{taskId} and its funnel,
// gateway.DeviceStatuses for /v1/devices/status, store.Templates for
// /v1/templates/*, scheduler.ReadSchedules and scheduler.Cancel for
// /v1/schedules and /v1/schedules/cancel, store.Devices.UserTags and
// TagUsers for /v1/tags/list and /v1/tags/users), so a page shows what
// the HTTP API answers for the same query; a task's timeline
// (store.TaskTimeline) counts each event id once, so its totals are the
// funnel's. A revoke goes the gateway's way too (gateway.Revoke): a
// control record on push.control.<region>. A composed push is checked
// and published by gateway.Push, the code of /v1/push/<type>, so it is
// refused with the same result code and words; its preview runs the
// same checks (gateway.PreparePush) and then the fanout's own handler
// (fanout.Handler.HandleBatch) on the prepared record, against the
// region's device registry and templates, and shows the events and
// deliveries it would write, per device and per channel with the
// channel's content limits (channels/registry.ContentLimit), so a
// preview cannot differ from what fanout does with the push. Only
// operators and admins compose, preview and send (403 otherwise).
// A dead letter sent back must first pass the decoder of the stage that
// reads its topic, and the resend is logged with who, what and when.
//
// Every asset (templates, stylesheet) is embedded in the binary; charts
// are inline SVG; the pages load nothing from elsewhere and run no script,
// and the Content-Security-Policy says so.
//
// Accounts come from the configuration (Account): a bcrypt password hash,
// a role (viewer, operator, admin) and the apps the account may see. A
// login starts a server-side session (bounded store, fixed lifetime)
// named by a random id in an HttpOnly, SameSite=Strict cookie, Secure
// over TLS. Every form carries a CSRF token (the session's; the login
// form's is bound to a cookie nonce) and a POST without the right one is
// refused with 403. A failed login does not tell whether the name or the
// password was wrong, and a name that failed console.Config.LoginFailures
// times in a row is held (429) before its password is checked. A viewer may not revoke, change templates or cancel
// schedules, only an admin sends dead letters back (403 otherwise), and a page of an app
// outside the account's apps is refused with 403, never shown empty.
//
// Liveness, readiness (Ready) and metrics belong on the process's
// internal address, as for the gateway.
package console

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/workers/fanout"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Server is the console of one region. Create it with New, serve it with
// Start (or mount Handler elsewhere), stop it with Close. Its methods are
// safe for concurrent use.
type Server struct {
	cfg      Config
	apps     []App
	accounts *accounts
	sessions *sessions
	login    loginTokens
	throttle *loginThrottle
	pages    map[string]*template.Template
	log      zerolog.Logger
	handler  http.Handler
	http     *pipeline.HTTPServer
	// kafka reads push.schedules.<region> and push.dlq.<region>.
	kafka *pipeline.LogReader
	// fanout is the fanout handler the composer's previews run.
	fanout *fanout.Handler
}

// New returns a console for cfg, or the error of cfg.Validate. Nothing
// listens until Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	as, err := newAccounts(cfg.Accounts)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	kr, err := pipeline.NewLogReader(pipeline.LogReaderConfig{Brokers: cfg.Brokers, Security: cfg.KafkaSecurity, ClientID: "pushpipe-console-" + cfg.Region,
		What: "the console's reads", MaxWait: 200 * time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	fo, err := newPreviewFanout(cfg)
	if err != nil {
		_ = kr.Close() // idempotent, never fails
		return nil, err
	}
	s := &Server{cfg: cfg, kafka: kr, apps: append([]App(nil), cfg.Apps...), accounts: as, sessions: newSessions(cfg.SessionTTL, cfg.MaxSessions),
		login: newLoginTokens(), throttle: newLoginThrottle(cfg.LoginFailures, cfg.LoginFailureEvery), pages: pages, log: cfg.Logger.With().Str("stage", "console").Str("region", cfg.Region).Logger()}
	static, _ := fs.Sub(assets, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginSubmit)
	mux.HandleFunc("POST /logout", s.authed(s.logout))
	mux.HandleFunc("GET /{$}", s.authed(s.home))
	mux.HandleFunc("GET /apps/{app}/{$}", s.authed(s.appHome))
	mux.HandleFunc("GET /apps/{app}/overview", s.authed(s.overview))
	mux.HandleFunc("GET /apps/{app}/tasks", s.authed(s.taskList))
	mux.HandleFunc("GET /apps/{app}/tasks/{task}", s.authed(s.taskPage))
	mux.HandleFunc("POST /apps/{app}/tasks/{task}/revoke", s.authed(s.revoke))
	mux.HandleFunc("GET /apps/{app}/compose", s.authed(s.composer))
	mux.HandleFunc("POST /apps/{app}/compose", s.authed(s.compose))
	mux.HandleFunc("GET /apps/{app}/investigate", s.authed(s.investigate))
	mux.HandleFunc("GET /apps/{app}/templates", s.authed(s.templateList))
	mux.HandleFunc("POST /apps/{app}/templates/create", s.authed(s.createTemplate))
	mux.HandleFunc("POST /apps/{app}/templates/delete", s.authed(s.deleteTemplate))
	mux.HandleFunc("GET /apps/{app}/schedules", s.authed(s.scheduleList))
	mux.HandleFunc("POST /apps/{app}/schedules/cancel", s.authed(s.cancelSchedule))
	mux.HandleFunc("GET /apps/{app}/tags", s.authed(s.tags))
	mux.HandleFunc("GET /apps/{app}/approvals", s.authed(s.approvals))
	mux.HandleFunc("POST /apps/{app}/approvals/{decision}", s.authed(s.decide))
	mux.HandleFunc("GET /apps/{app}/abtests", s.authed(s.abTestList))
	mux.HandleFunc("GET /apps/{app}/abtests/{task}", s.authed(s.abTestPage))
	mux.HandleFunc("GET /apps/{app}/deadletters", s.authed(s.deadLetters))
	mux.HandleFunc("GET /apps/{app}/deadletters/{partition}/{offset}", s.authed(s.deadLetterPage))
	mux.HandleFunc("POST /apps/{app}/deadletters/{partition}/{offset}/resend", s.authedUpTo(MaxResendBytes+maxFormBytes, s.resendDeadLetter))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusNotFound, "error", nil, view{Title: "Not found", Error: "There is no page at " + r.URL.Path + "."})
	})
	s.fanout = fo
	s.handler = secureHeaders(mux)
	s.http = pipeline.NewHTTPServer(pipeline.HTTPServerConfig{Name: "console", Addr: cfg.Addr, Handler: s.handler,
		WriteTimeout: cfg.Timeout + 30*time.Second, ShutdownGrace: cfg.Timeout})
	return s, nil
}

// parsePages parses every page with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"pct": pct, "num": num, "when": when, "u64": func(n int) uint64 { return uint64(n) }, "upper": upper}
	out := map[string]*template.Template{}
	for _, name := range []string{"login", "error", "overview", "tasks", "task", "investigate", "templates", "schedules", "tags", "deadletters", "deadletter", "approvals", "composer", "abtests"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parsing page %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// csp allows the console's own stylesheet and inline SVG only: no script,
// no frame, no form posting elsewhere.
const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secureHeaders sets the security headers of every answer.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// Handler is the console's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Ready reports whether the console can show its pages: nil when the
// region's ClickHouse answers a ping within ctx, else the error (for the
// internal readiness probe and the log).
func (s *Server) Ready(ctx context.Context) error {
	if err := s.cfg.ClickHouse.Ping(ctx); err != nil {
		return fmt.Errorf("console of region %s: pinging ClickHouse: %w", s.cfg.Region, err)
	}
	return nil
}

// Start binds Addr and serves in the background until Close is called or
// ctx ends. It returns once the listener is bound (Addr is then the bound
// address), or with an error if it cannot bind or was called before.
func (s *Server) Start(ctx context.Context) error {
	if err := s.http.Start(ctx); err != nil {
		return fmt.Errorf("console of region %s: %w", s.cfg.Region, err)
	}
	s.log.Info().Str("addr", s.http.Addr()).Msg("console listening")
	return nil
}

// Run starts the server and blocks until ctx ends, then closes it (see
// Close), returning Start's or Close's error.
func (s *Server) Run(ctx context.Context) error { return pipeline.RunStarted(ctx, s.Start, s.Close) }

var _ pipeline.Service = (*Server)(nil)

// Addr is the bound address after Start, else the configured one.
func (s *Server) Addr() string { return s.http.Addr() }

// URL is "http://" + Addr() + "/".
func (s *Server) URL() string { return "http://" + s.Addr() + "/" }

// Close stops accepting requests, lets in-flight ones finish within
// Timeout and waits for the server's goroutines. It is idempotent, may be
// called without Start, and returns the error that ended serving, if any.
func (s *Server) Close() error {
	err := s.http.Close()
	_ = s.kafka.Close() // idempotent, never fails
	return err
}

// Cookie names carry the region: browsers do not keep cookies apart by
// port, and `pushpipe dev` serves a console per region on one host.
func (s *Server) sessionCookie() string { return "pushpipe_console_" + s.cfg.Region }
func (s *Server) loginCookie() string   { return "pushpipe_console_login_" + s.cfg.Region }

// secure reports whether the cookies of an answer to r are Secure.
func (s *Server) secure(r *http.Request) bool {
	return s.cfg.SecureCookies || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// setCookie sets an HttpOnly, SameSite=Strict cookie (Secure over TLS);
// maxAge < 0 deletes it.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
}

// request is an authenticated request: its session and account.
type request struct {
	*http.Request
	session session
	account *Account
}

// authed serves h for a request with a live session; without one a GET is
// sent to the login page and anything else refused (403). A POST must
// carry the session's CSRF token in its form field csrf (403 otherwise);
// its body is bounded by maxFormBytes.
func (s *Server) authed(h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return s.authedUpTo(maxFormBytes, h)
}

// authedUpTo is authed with a POST body of at most limit bytes.
func (s *Server) authedUpTo(limit int64, h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var ss session
		ok := false
		if c, err := r.Cookie(s.sessionCookie()); err == nil {
			ss, ok = s.sessions.get(c.Value, s.cfg.Now())
		}
		a := s.accounts.get(ss.account)
		if !ok || a == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.render(w, r, http.StatusForbidden, "error", nil, view{Title: "Forbidden", Error: "You are not logged in (or your session ended): log in again."})
			return
		}
		req := &request{Request: r, session: ss, account: a}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			if !ss.validCSRF(r.PostFormValue("csrf")) {
				s.log.Warn().Str("account", a.Name).Str("path", r.URL.Path).Msg("console: POST without a valid CSRF token refused")
				s.render(w, r, http.StatusForbidden, "error", req, view{Title: "Forbidden", Error: "This form's security token is missing or out of date: reload the page and send it again."})
				return
			}
		}
		h(w, req)
	}
}

// maxFormBytes bounds a form body.
const maxFormBytes = 16 << 10

// view is what every page shows around its content.
type view struct {
	Title   string
	Error   string
	Notice  string
	Region  string
	Account *Account
	CSRF    string
	// Apps are the apps the account may see; App the one shown.
	Apps []string
	App  string
	// Nav is the current section: overview, tasks, composer,
	// investigate, templates, schedules, abtests, tags, deadletters or
	// approvals.
	Nav string
	// Body is the page's own data.
	Body any
}

// render writes page with status. req, when set, fills the account's part
// of the view.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, req *request, v view) {
	v.Region = s.cfg.Region
	if req != nil {
		v.Account, v.CSRF = req.account, req.session.csrf
		for _, a := range s.apps {
			if req.account.MaySee(a.AppID) {
				v.Apps = append(v.Apps, a.AppID)
			}
		}
	}
	var b strings.Builder
	if err := s.pages[page].Execute(&b, v); err != nil {
		s.log.Error().Err(err).Str("page", page).Str("path", r.URL.Path).Msg("console: rendering a page")
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// loginPage shows the login form with a fresh nonce cookie.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, http.StatusOK, "")
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	nonce := randomToken()
	s.setCookie(w, r, s.loginCookie(), nonce, 3600)
	s.render(w, r, status, "login", nil, view{Title: "Log in", Error: problem,
		Body: loginView{CSRF: s.login.token(nonce), Next: safeNext(r.FormValue("next")), Name: r.PostFormValue("name")}})
}

type loginView struct{ CSRF, Next, Name string }

// safeNext keeps a redirect target only when it is a path of this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}

// loginSubmit checks the form token, then the name and password; a
// success starts a session and goes to next.
func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	nonce := ""
	if c, err := r.Cookie(s.loginCookie()); err == nil {
		nonce = c.Value
	}
	if !s.login.valid(nonce, r.PostFormValue("csrf")) {
		s.log.Warn().Msg("console: login without a valid form token refused")
		s.showLogin(w, r, http.StatusForbidden, "The login form's security token is missing or out of date: log in again.")
		return
	}
	name := r.PostFormValue("name")
	if len(name) > MaxNameBytes {
		name = name[:MaxNameBytes] // longer names match no account; the throttle keys the cut name
	}
	now := s.cfg.Now()
	if d := s.throttle.wait(name, now); d > 0 {
		secs := int((d + time.Second - 1) / time.Second)
		s.log.Warn().Str("name", name).Str("remote", r.RemoteAddr).Int("retry_after_s", secs).Msg("console: login held after repeated failures")
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.showLogin(w, r, http.StatusTooManyRequests, fmt.Sprintf("Too many failed logins under this name: try again in %d seconds.", secs))
		return
	}
	a := s.accounts.check(r.PostFormValue("name"), r.PostFormValue("password"))
	if a == nil {
		s.throttle.failed(name, now)
		s.log.Warn().Str("name", name).Str("remote", r.RemoteAddr).Msg("console: login refused")
		s.showLogin(w, r, http.StatusUnauthorized, "Wrong name or password.")
		return
	}
	s.throttle.succeeded(name)
	ss := s.sessions.create(a.Name, s.cfg.Now())
	s.setCookie(w, r, s.sessionCookie(), ss.id, int(s.cfg.SessionTTL/time.Second))
	s.setCookie(w, r, s.loginCookie(), "", -1)
	s.log.Info().Str("account", a.Name).Str("role", string(a.Role)).Msg("console: logged in")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *request) {
	s.sessions.end(r.session.id)
	s.setCookie(w, r.Request, s.sessionCookie(), "", -1)
	http.Redirect(w, r.Request, "/login", http.StatusSeeOther)
}

// home goes to the overview of the account's first app.
func (s *Server) home(w http.ResponseWriter, r *request) {
	for _, a := range s.apps {
		if r.account.MaySee(a.AppID) {
			http.Redirect(w, r.Request, "/apps/"+url.PathEscape(a.AppID)+"/overview", http.StatusSeeOther)
			return
		}
	}
	s.render(w, r.Request, http.StatusForbidden, "error", r, view{Title: "No apps", Error: "Your account may see none of this console's apps."})
}

func (s *Server) appHome(w http.ResponseWriter, r *request) {
	if app, ok := s.app(w, r); ok {
		http.Redirect(w, r.Request, "/apps/"+url.PathEscape(app)+"/overview", http.StatusSeeOther)
	}
}

// app returns the {app} of the path when the console shows it (404
// otherwise) and the account may see it (403 otherwise, never an empty
// page).
func (s *Server) app(w http.ResponseWriter, r *request) (string, bool) {
	id := r.PathValue("app")
	known := false
	for _, a := range s.apps {
		known = known || a.AppID == id
	}
	switch {
	case !known:
		s.render(w, r.Request, http.StatusNotFound, "error", r, view{Title: "Not found", Error: fmt.Sprintf("This console (region %s) has no app %q.", s.cfg.Region, id)})
		return "", false
	case !r.account.MaySee(id):
		s.log.Warn().Str("account", r.account.Name).Str("app_id", id).Msg("console: app outside the account's apps refused")
		s.render(w, r.Request, http.StatusForbidden, "error", r, view{Title: "Forbidden", Error: fmt.Sprintf("Account %s may not see app %s.", r.account.Name, id)})
		return "", false
	}
	return id, true
}
