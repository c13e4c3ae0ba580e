package console

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/crypto/bcrypt"

	"context"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// noClickHouse stands in for ClickHouse in the tests of what the console
// decides before it queries anything; a query would panic.
type noClickHouse struct{ driver.Conn }

// recordingProducer records what would be published.
type recordingProducer struct {
	mu   sync.Mutex
	outs []pipeline.Output
}

func (p *recordingProducer) Produce(_ context.Context, outs []pipeline.Output) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outs = append(p.outs, outs...)
	return nil
}

func mustHash(t *testing.T, password string) channels.Secret {
	t.Helper()
	h, err := hashPassword(password, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return channels.Secret(h)
}

func TestHashPassword(t *testing.T) {
	for _, tc := range []struct {
		name, password, wantErr string
	}{
		{"ordinary", "correct horse battery", ""},
		{"shortest", "12345678", ""},
		{"too short", "1234567", "at least 8"},
		{"longest", strings.Repeat("a", 72), ""},
		{"too long for bcrypt", strings.Repeat("a", 73), "at most 72"},
		{"not UTF-8", "abcdefg\xff", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := hashPassword(tc.password, bcrypt.MinCost)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bcrypt.CompareHashAndPassword([]byte(h), []byte(tc.password)) != nil {
				t.Fatal("the hash does not match its password")
			}
		})
	}
}

func TestPasswordCheck(t *testing.T) {
	as, err := newAccounts([]Account{{Name: "olga", PasswordHash: mustHash(t, "olga-password"), Role: RoleOperator, Apps: []string{"A"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"right", "olga", "olga-password", true},
		{"wrong password", "olga", "olga-passwore", false},
		{"empty password", "olga", "", false},
		{"unknown name", "oleg", "olga-password", false},
		{"name differs in case", "Olga", "olga-password", false},
		{"password beyond bcrypt's 72 bytes", "olga", "olga-password" + strings.Repeat("x", 72), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := as.check(tc.user, tc.password)
			if (a != nil) != tc.ok {
				t.Fatalf("check(%q, %q) = %v, want ok %v", tc.user, tc.password, a, tc.ok)
			}
		})
	}
}

func TestGeneratePassword(t *testing.T) {
	a, b := GeneratePassword(), GeneratePassword()
	if len(a) != 20 || a == b || !regexp.MustCompile(`^[a-zA-Z2-9]{20}$`).MatchString(a) {
		t.Fatalf("GeneratePassword gave %q and %q", a, b)
	}
	if _, err := HashPassword(a); err != nil {
		t.Fatal(err)
	}
}

func TestSessions(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s *sessions)
	}{
		{"a session is found until it expires", func(t *testing.T, s *sessions) {
			ss := s.create("olga", t0)
			if got, ok := s.get(ss.id, t0.Add(time.Hour-time.Second)); !ok || got.account != "olga" || got.csrf != ss.csrf {
				t.Fatalf("get before expiry = %+v, %v", got, ok)
			}
			if _, ok := s.get(ss.id, t0.Add(time.Hour)); ok {
				t.Fatal("the session is still found at its expiry")
			}
			if s.len() != 0 {
				t.Fatal("the expired session was kept")
			}
		}},
		{"ids and tokens are random and distinct", func(t *testing.T, s *sessions) {
			a, b := s.create("olga", t0), s.create("olga", t0)
			if a.id == b.id || a.csrf == b.csrf || a.id == a.csrf || len(a.id) < 40 {
				t.Fatalf("sessions %+v and %+v", a, b)
			}
		}},
		{"an unknown id is not found", func(t *testing.T, s *sessions) {
			s.create("olga", t0)
			if _, ok := s.get("forged", t0); ok {
				t.Fatal("a forged id was found")
			}
		}},
		{"logout ends the session", func(t *testing.T, s *sessions) {
			ss := s.create("olga", t0)
			s.end(ss.id)
			if _, ok := s.get(ss.id, t0); ok {
				t.Fatal("the session survived its end")
			}
		}},
		{"a full store drops the expired sessions first", func(t *testing.T, s *sessions) {
			old := s.create("a", t0)
			live := []session{s.create("b", t0.Add(30*time.Minute)), s.create("c", t0.Add(40*time.Minute))}
			n := s.create("d", t0.Add(61*time.Minute)) // old has expired
			for _, ss := range append(live, n) {
				if _, ok := s.get(ss.id, t0.Add(61*time.Minute)); !ok {
					t.Fatalf("session of %s was dropped", ss.account)
				}
			}
			if _, ok := s.get(old.id, t0.Add(61*time.Minute)); ok {
				t.Fatal("the expired session is still there")
			}
		}},
		{"a full store drops the session closest to its expiry", func(t *testing.T, s *sessions) {
			a := s.create("a", t0)
			b := s.create("b", t0.Add(time.Minute))
			c := s.create("c", t0.Add(2*time.Minute))
			d := s.create("d", t0.Add(3*time.Minute))
			if s.len() != 3 {
				t.Fatalf("%d sessions kept, want the bound 3", s.len())
			}
			now := t0.Add(3 * time.Minute)
			if _, ok := s.get(a.id, now); ok {
				t.Fatal("the oldest session was kept")
			}
			for _, ss := range []session{b, c, d} {
				if _, ok := s.get(ss.id, now); !ok {
					t.Fatalf("session of %s was dropped", ss.account)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newSessions(time.Hour, 3)) })
	}
}

func TestCSRFTokens(t *testing.T) {
	ss := newSessions(time.Hour, 10).create("olga", time.Now())
	lt := newLoginTokens()
	other := newLoginTokens()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"session token", ss.validCSRF(ss.csrf)},
		{"!empty session token", ss.validCSRF("")},
		{"!another session's token", ss.validCSRF(newSessions(time.Hour, 10).create("olga", time.Now()).csrf)},
		{"!session id as token", ss.validCSRF(ss.id)},
		{"login token of the nonce", lt.valid("n1", lt.token("n1"))},
		{"!login token of another nonce", lt.valid("n2", lt.token("n1"))},
		{"!login token of another server", lt.valid("n1", other.token("n1"))},
		{"!no nonce cookie", lt.valid("", lt.token(""))},
		{"!no token", lt.valid("n1", "")},
		{"!nonce as token", lt.valid("n1", "n1")},
	} {
		want := !strings.HasPrefix(tc.name, "!")
		if tc.ok != want {
			t.Errorf("%s: valid = %v, want %v", strings.TrimPrefix(tc.name, "!"), tc.ok, want)
		}
	}
}

func TestRolesAndScopes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		account   Account
		app       string
		maySee    bool
		canRevoke bool
	}{
		{"viewer of the app", Account{Role: RoleViewer, Apps: []string{"A"}}, "A", true, false},
		{"viewer of another app", Account{Role: RoleViewer, Apps: []string{"B"}}, "A", false, false},
		{"operator of the app", Account{Role: RoleOperator, Apps: []string{"B", "A"}}, "A", true, true},
		{"operator of another app", Account{Role: RoleOperator, Apps: []string{"B"}}, "A", false, true},
		{"admin of every app", Account{Role: RoleAdmin, Apps: []string{AllApps}}, "A", true, true},
		{"app ids are exact", Account{Role: RoleAdmin, Apps: []string{"a"}}, "A", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.account.MaySee(tc.app); got != tc.maySee {
				t.Errorf("MaySee(%s) = %v, want %v", tc.app, got, tc.maySee)
			}
			if got := tc.account.Role.CanRevoke(); got != tc.canRevoke {
				t.Errorf("CanRevoke = %v, want %v", got, tc.canRevoke)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	hash := mustHash(t, "olga-password")
	valid := func() Config {
		return Config{Region: "sg", Apps: []App{{AppID: "A"}, {AppID: "B"}}, ClickHouse: noClickHouse{}, Database: "push_sg", Producer: &recordingProducer{},
			Brokers: []string{"127.0.0.1:1"}, Accounts: []Account{{Name: "olga", PasswordHash: hash, Role: RoleOperator, Apps: []string{"A"}}}}
	}
	for _, tc := range []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"loopback address", func(c *Config) { c.Addr = "127.0.0.1:18300" }, ""},
		{"open address without secure cookies", func(c *Config) { c.Addr = "0.0.0.0:18300" }, "not a loopback address"},
		{"open address behind TLS", func(c *Config) { c.Addr, c.SecureCookies = "0.0.0.0:18300", true }, ""},
		{"bad region", func(c *Config) { c.Region = "us" }, "region"},
		{"no accounts", func(c *Config) { c.Accounts = nil }, "no accounts"},
		{"no name", func(c *Config) { c.Accounts[0].Name = "" }, "name is empty"},
		{"plain password instead of a hash", func(c *Config) { c.Accounts[0].PasswordHash = "olga-password" }, "not a bcrypt hash"},
		{"unknown role", func(c *Config) { c.Accounts[0].Role = "root" }, "role"},
		{"no apps", func(c *Config) { c.Accounts[0].Apps = nil }, "apps is empty"},
		{"unknown app", func(c *Config) { c.Accounts[0].Apps = []string{"C"} }, `app "C" is not one of`},
		{"every app", func(c *Config) { c.Accounts[0].Apps = []string{AllApps} }, ""},
		{"account twice", func(c *Config) { c.Accounts = append(c.Accounts, c.Accounts[0]) }, "listed twice"},
		{"short session", func(c *Config) { c.SessionTTL = time.Second }, "sessionTtl"},
		{"no producer", func(c *Config) { c.Producer = nil }, "Producer"},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "Brokers"},
		{"an empty broker", func(c *Config) { c.Brokers = []string{""} }, "Brokers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			err := c.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// client is a browser-like client of a test console: it keeps cookies
// and does not follow redirects.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newTestConsole(t *testing.T, p Producer) *client {
	t.Helper()
	s, err := New(Config{Region: "sg", Apps: []App{{AppID: "A", WorkspaceID: "default"}, {AppID: "B", WorkspaceID: "default"}}, ClickHouse: noClickHouse{}, Database: "push_sg", Producer: p,
		Brokers: []string{"127.0.0.1:1"}, Accounts: []Account{
			{Name: "olga", PasswordHash: mustHash(t, "olga-password"), Role: RoleOperator, Apps: []string{"A"}},
			{Name: "vera", PasswordHash: mustHash(t, "vera-password"), Role: RoleViewer, Apps: []string{"A"}},
			{Name: "ada", PasswordHash: mustHash(t, "ada-password"), Role: RoleAdmin, Apps: []string{"A"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: srv.URL, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, form url.Values, header ...string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var hiddenCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken returns the csrf field of a page.
func (c *client) formToken(page string) string {
	c.t.Helper()
	m := hiddenCSRF.FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no csrf field in the page:\n%s", page)
	}
	return m[1]
}

// login logs in and returns the session's CSRF token.
func (c *client) login(name, password string) (*http.Response, string) {
	c.t.Helper()
	_, page := c.do(http.MethodGet, "/login", nil)
	res, body := c.do(http.MethodPost, "/login", url.Values{"csrf": {c.formToken(page)}, "name": {name}, "password": {password}, "next": {"/apps/A/tasks"}})
	if res.StatusCode != http.StatusSeeOther {
		return res, body
	}
	_, page = c.do(http.MethodGet, "/apps/C/overview", nil) // a 404 page with the logout form
	return res, c.formToken(page)
}

func TestLoginAndSessionCookie(t *testing.T) {
	for _, tc := range []struct {
		name, user, password string
		header               []string
		status               int
		secure               bool
	}{
		{"right password", "olga", "olga-password", nil, http.StatusSeeOther, false},
		{"right password behind a TLS proxy", "olga", "olga-password", []string{"X-Forwarded-Proto", "https"}, http.StatusSeeOther, true},
		{"wrong password", "olga", "vera-password", nil, http.StatusUnauthorized, false},
		{"unknown name", "oleg", "olga-password", nil, http.StatusUnauthorized, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestConsole(t, &recordingProducer{})
			_, page := c.do(http.MethodGet, "/login", nil)
			res, body := c.do(http.MethodPost, "/login", url.Values{"csrf": {c.formToken(page)}, "name": {tc.user}, "password": {tc.password}, "next": {"/apps/A/tasks"}}, tc.header...)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d:\n%s", res.StatusCode, tc.status, body)
			}
			if tc.status != http.StatusSeeOther {
				// The same words whichever was wrong, and no session.
				if !strings.Contains(body, "Wrong name or password.") || strings.Contains(body, "unknown") {
					t.Fatalf("the refusal says:\n%s", body)
				}
				for _, ck := range res.Cookies() {
					if ck.Name == "pushpipe_console_sg" {
						t.Fatal("a refused login set a session cookie")
					}
				}
				return
			}
			if loc := res.Header.Get("Location"); loc != "/apps/A/tasks" {
				t.Fatalf("redirected to %q, want next", loc)
			}
			var session *http.Cookie
			for _, ck := range res.Cookies() {
				if ck.Name == "pushpipe_console_sg" {
					session = ck
				}
			}
			if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure != tc.secure || session.MaxAge != int(DefaultSessionTTL/time.Second) {
				t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Secure %v, MaxAge of the session", session, tc.secure)
			}
		})
	}
}

func TestLoginFormNeedsItsToken(t *testing.T) {
	c := newTestConsole(t, &recordingProducer{})
	_, page := c.do(http.MethodGet, "/login", nil)
	for _, tc := range []struct {
		name  string
		token string
	}{{"no token", ""}, {"a made-up token", "AAAA"}, {"the nonce itself", "x"}} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := c.do(http.MethodPost, "/login", url.Values{"csrf": {tc.token}, "name": {"olga"}, "password": {"olga-password"}})
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", res.StatusCode)
			}
		})
	}
	// A fresh client without the nonce cookie cannot use a stolen token.
	other := newTestConsole(t, &recordingProducer{})
	other.base = c.base
	res, _ := other.do(http.MethodPost, "/login", url.Values{"csrf": {c.formToken(page)}, "name": {"olga"}, "password": {"olga-password"}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("a token without its cookie: status %d, want 403", res.StatusCode)
	}
}

func TestAccessRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		user   string
		method string
		path   string
		csrf   string // "session": the session's token
		status int
		says   string
	}{
		{"not logged in: a page sends to the login", "", http.MethodGet, "/apps/A/overview", "", http.StatusSeeOther, ""},
		{"not logged in: a POST is refused", "", http.MethodPost, "/apps/A/tasks/t1/revoke", "", http.StatusForbidden, "not logged in"},
		{"an app outside the account's apps", "olga", http.MethodGet, "/apps/B/overview", "", http.StatusForbidden, "may not see app B"},
		{"tasks of an app outside the account's apps", "olga", http.MethodGet, "/apps/B/tasks/t1", "", http.StatusForbidden, "may not see app B"},
		{"an app the console does not show", "olga", http.MethodGet, "/apps/C/overview", "", http.StatusNotFound, "has no app"},
		{"revoke without a CSRF token", "olga", http.MethodPost, "/apps/A/tasks/t1/revoke", "", http.StatusForbidden, "security token"},
		{"revoke with a wrong CSRF token", "olga", http.MethodPost, "/apps/A/tasks/t1/revoke", "forged", http.StatusForbidden, "security token"},
		{"revoke in another app", "olga", http.MethodPost, "/apps/B/tasks/t1/revoke", "session", http.StatusForbidden, "may not see app B"},
		{"revoke by a viewer", "vera", http.MethodPost, "/apps/A/tasks/t1/revoke", "session", http.StatusForbidden, "only operators and admins may revoke"},
		{"logout without a CSRF token", "olga", http.MethodPost, "/logout", "", http.StatusForbidden, "security token"},
		{"a bad filter", "olga", http.MethodGet, "/apps/A/overview?channel=mipsuh", "", http.StatusBadRequest, "channel &#34;mipsuh&#34; is not one of"},
		{"a bad range", "olga", http.MethodGet, "/apps/A/tasks?last=2y", "", http.StatusBadRequest, "not one of 1h, 24h, 7d, 30d"},
		{"investigate in another app", "olga", http.MethodGet, "/apps/B/investigate?id=d1", "", http.StatusForbidden, "may not see app B"},
		{"investigate by neither device nor user", "olga", http.MethodGet, "/apps/A/investigate?by=phone&id=d1", "", http.StatusBadRequest, "by &#34;phone&#34; is not device or user"},
		{"investigate an overlong id", "olga", http.MethodGet, "/apps/A/investigate?id=" + strings.Repeat("d", 257), "", http.StatusBadRequest, "ids have at most 256"},
		{"a viewer may investigate", "vera", http.MethodGet, "/apps/A/investigate", "", http.StatusOK, `id="investigate-form"`},
		{"templates of another app", "olga", http.MethodGet, "/apps/B/templates", "", http.StatusForbidden, "may not see app B"},
		{"a template created by a viewer", "vera", http.MethodPost, "/apps/A/templates/create", "session", http.StatusForbidden, "only operators and admins may create templates"},
		{"a template created without a CSRF token", "olga", http.MethodPost, "/apps/A/templates/create", "", http.StatusForbidden, "security token"},
		{"a template deleted by a viewer", "vera", http.MethodPost, "/apps/A/templates/delete", "session", http.StatusForbidden, "only operators and admins may delete templates"},
		{"a template deleted in another app", "olga", http.MethodPost, "/apps/B/templates/delete", "session", http.StatusForbidden, "may not see app B"},
		{"a schedule cancelled by a viewer", "vera", http.MethodPost, "/apps/A/schedules/cancel", "session", http.StatusForbidden, "only operators and admins may cancel scheduled pushes"},
		{"a schedule cancelled without a CSRF token", "olga", http.MethodPost, "/apps/A/schedules/cancel", "forged", http.StatusForbidden, "security token"},
		{"a schedule cancelled without an id", "olga", http.MethodPost, "/apps/A/schedules/cancel", "session", http.StatusBadRequest, "Name the schedule or occurrence to cancel"},
		{"schedules of another app", "olga", http.MethodGet, "/apps/B/schedules", "", http.StatusForbidden, "may not see app B"},
		{"schedules with a bad page size", "olga", http.MethodGet, "/apps/A/schedules?size=0", "", http.StatusBadRequest, "is not a page size"},
		{"tags with a bad page", "vera", http.MethodGet, "/apps/A/tags?tag=vip&page=x", "", http.StatusBadRequest, "is not a page number"},
		{"tags of an overlong user", "vera", http.MethodGet, "/apps/A/tags?user=" + strings.Repeat("u", 257), "", http.StatusBadRequest, "ids have at most 256"},
		{"a viewer sees the tags form", "vera", http.MethodGet, "/apps/A/tags", "", http.StatusOK, `id="tags-form"`},
		{"dead letters of another app", "olga", http.MethodGet, "/apps/B/deadletters", "", http.StatusForbidden, "may not see app B"},
		{"a dead letter sent back by an operator", "olga", http.MethodPost, "/apps/A/deadletters/0/0/resend", "session", http.StatusForbidden, "only admins may send dead letters back"},
		{"a dead letter sent back without a CSRF token", "ada", http.MethodPost, "/apps/A/deadletters/0/0/resend", "", http.StatusForbidden, "security token"},
		{"a dead letter sent back in another app", "ada", http.MethodPost, "/apps/B/deadletters/0/0/resend", "session", http.StatusForbidden, "may not see app B"},
		{"a dead letter named by no number", "ada", http.MethodGet, "/apps/A/deadletters/x/0", "", http.StatusNotFound, "partition and offset, two numbers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &recordingProducer{}
			c := newTestConsole(t, p)
			token := ""
			if tc.user != "" {
				res, tok := c.login(tc.user, tc.user+"-password")
				if res.StatusCode != http.StatusSeeOther {
					t.Fatalf("login: status %d", res.StatusCode)
				}
				token = tok
			}
			form := url.Values{}
			switch tc.csrf {
			case "session":
				form.Set("csrf", token)
			case "":
			default:
				form.Set("csrf", tc.csrf)
			}
			res, body := c.do(tc.method, tc.path, form)
			if res.StatusCode != tc.status || !strings.Contains(body, tc.says) {
				t.Fatalf("status %d, want %d saying %q:\n%s", res.StatusCode, tc.status, tc.says, body)
			}
			if len(p.outs) != 0 {
				t.Fatalf("a refused request published %v", p.outs)
			}
		})
	}
}

func TestLogoutEndsTheSession(t *testing.T) {
	c := newTestConsole(t, &recordingProducer{})
	_, token := c.login("olga", "olga-password")
	if res, _ := c.do(http.MethodPost, "/logout", url.Values{"csrf": {token}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: status %d", res.StatusCode)
	}
	res, _ := c.do(http.MethodGet, "/apps/A/overview", nil)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("after logout: status %d to %q, want the login page", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestSecurityHeadersAndAssets(t *testing.T) {
	c := newTestConsole(t, &recordingProducer{})
	res, body := c.do(http.MethodGet, "/login", nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "http") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "<script") {
		t.Fatalf("the login page loads something from elsewhere or runs a script:\n%s", body)
	}
	res, css := c.do(http.MethodGet, "/static/console.css", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(css, "system-ui") || strings.Contains(css, "url(") {
		t.Fatalf("stylesheet: status %d, %d bytes (no font or image from elsewhere expected)", res.StatusCode, len(css))
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/apps/A/tasks": "/apps/A/tasks", "": "/", "//evil.example/": "/", "https://evil.example/": "/", "/\\evil": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFillSeries(t *testing.T) {
	from := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	pts := fillSeries([]schema.StatsPoint{{Time: from.Add(2 * time.Hour), Pushed: 5}}, from, from.Add(4*time.Hour), schema.GranularityHour)
	if len(pts) != 4 || pts[2].Pushed != 5 || pts[0].Pushed+pts[1].Pushed+pts[3].Pushed != 0 || !pts[3].Time.Equal(from.Add(3*time.Hour)) {
		t.Fatalf("filled series %+v", pts)
	}
}
