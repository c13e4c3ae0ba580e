package schema

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Template is a stored message template: Title and Content may hold #name#
// placeholders, filled from a request's templateKeyValue.
type Template struct {
	AppID       string    `json:"appId"`
	Name        string    `json:"name"`
	Title       string    `json:"title"`
	Content     string    `json:"content"`
	URI         string    `json:"uri,omitempty"`
	Description string    `json:"description,omitempty"`
	Version     time.Time `json:"version"`
}

var placeholder = regexp.MustCompile(`#([^#\s]+)#`)

// eachPlaceholder calls fn with the name and the byte range of every
// placeholder of s, as placeholder matches them (leftmost, not
// overlapping), without allocating.
func eachPlaceholder(s string, fn func(name string, start, end int)) {
	for i := 0; i < len(s); i++ {
		if s[i] != '#' {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] != '#' && !isSpace(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '#' && j > i+1 {
			fn(s[i+1:j], i, j+1)
			i = j
		}
	}
}

// isSpace is \s of the placeholder pattern (RE2: tab, newline, form feed,
// carriage return, space).
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

// Placeholders lists the distinct placeholder names of the template, sorted.
func (t Template) Placeholders() []string {
	seen := map[string]bool{}
	for _, s := range []string{t.Title, t.Content, t.URI} {
		eachPlaceholder(s, func(name string, _, _ int) { seen[name] = true })
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Render fills the placeholders from kv. A placeholder without a value is
// a *ValidationError 3023 TEMPLATEKV_NOT_ENOUGH naming it. The size of the
// result is computed before anything is built: one that would exceed
// MaxRenderedBytes is a *ValidationError 3050 MSG_PAYLOAD_TOO_LONG, so a
// short template with a large value repeated many times never becomes a
// large string.
func (t Template) Render(kv StringMap) (title, content, uri string, err error) {
	for _, p := range t.Placeholders() {
		if _, ok := kv[p]; !ok {
			return "", "", "", invalid(CodeTemplateKVNotEnough, "template %q needs a value for #%s#", t.Name, p)
		}
	}
	if n := t.renderedSize(kv); n > MaxRenderedBytes {
		return "", "", "", invalid(CodeMsgPayloadTooLong, "template %q rendered with these values is %d bytes, at most %d are allowed", t.Name, n, MaxRenderedBytes)
	}
	fill := func(s string) string {
		return placeholder.ReplaceAllStringFunc(s, func(m string) string { return kv[strings.Trim(m, "#")] })
	}
	return fill(t.Title), fill(t.Content), fill(t.URI), nil
}

// renderedSize returns the size in bytes of the rendered title, content
// and uri without rendering them.
func (t Template) renderedSize(kv StringMap) int {
	n := 0
	for _, s := range []string{t.Title, t.Content, t.URI} {
		n += len(s)
		eachPlaceholder(s, func(name string, start, end int) { n += len(kv[name]) - (end - start) })
	}
	return n
}

// Validate checks a template before it is stored.
func (t Template) Validate() error {
	if err := ValidateTemplateName(t.Name); err != nil {
		return err
	}
	if t.AppID == "" {
		return invalid(CodeNeedAppIDWorkspaceID, "appId is empty")
	}
	if strings.TrimSpace(t.Title) == "" {
		return invalid(CodeTemplateTitleInvalid, "template %q has an empty title", t.Name)
	}
	if strings.TrimSpace(t.Content) == "" {
		return invalid(CodeTemplateContentInvalid, "template %q has empty content", t.Name)
	}
	if n := utf8.RuneCountInString(t.Title); n > MaxTemplateTitle {
		return invalid(CodeTemplateTitleInvalid, "template %q has a title of %d characters, at most %d are allowed", t.Name, n, MaxTemplateTitle)
	}
	if n := utf8.RuneCountInString(t.Content); n > MaxContentChars {
		return invalid(CodeTemplateContentInvalid, "template %q has content of %d characters, at most %d are allowed", t.Name, n, MaxContentChars)
	}
	if n := utf8.RuneCountInString(t.Description); n > MaxTemplateDescription {
		return invalid(CodeTemplateDescInvalid, "template %q has a description of %d characters, at most %d are allowed", t.Name, n, MaxTemplateDescription)
	}
	if t.URI != "" {
		// Placeholders are filled at push time; check the address with
		// stand-in values.
		u := placeholder.ReplaceAllString(t.URI, "x")
		parsed, err := url.Parse(u)
		if err != nil || parsed.Scheme == "" || strings.ContainsAny(u, " \t\r\n") || len(t.URI) > MaxURLLength {
			return invalid(CodeTemplateURIInvalid, "template %q has uri %q, which is not an address with a scheme (https://..., intent://...) of at most %d bytes", t.Name, t.URI, MaxURLLength)
		}
	}
	return nil
}

// Limits of templates.
const (
	// MaxTemplateDescription is the longest template description, in
	// characters (3041).
	MaxTemplateDescription = 200
	// MaxTemplatesPerApp is how many live templates one app may have
	// (3056).
	MaxTemplatesPerApp = 1000
	// MaxTemplateTitle is the longest template title, in characters
	// (3040); content is bounded by MaxContentChars (3039).
	MaxTemplateTitle = 256
	// MaxRenderedBytes bounds a rendered template (title, content and
	// uri): the largest payload any channel takes (3050).
	MaxRenderedBytes = MaxPayloadBytes
)

// TemplateStore keeps templates in the templates table of one region
// database. Safe for concurrent use.
type TemplateStore struct {
	conn driver.Conn
	db   string
}

// NewTemplateStore returns a store over conn for database db.
func NewTemplateStore(conn driver.Conn, db string) *TemplateStore {
	return &TemplateStore{conn: conn, db: db}
}

// Create stores a new template; an existing live template of the same name
// is a *ValidationError 3036 TEMPLATE_ALREADY_EXIST.
func (s *TemplateStore) Create(ctx context.Context, t Template) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if _, ok, err := s.Get(ctx, t.AppID, t.Name); err != nil {
		return err
	} else if ok {
		return invalid(CodeTemplateAlreadyExist, "template %q already exists for app %s", t.Name, t.AppID)
	}
	if n, err := s.count(ctx, t.AppID); err != nil {
		return err
	} else if n >= MaxTemplatesPerApp {
		return invalid(CodeTemplateNumTooMuch, "app %s has %d templates, the most one app may have; delete one first", t.AppID, n)
	}
	return s.write(ctx, t, false)
}

// TemplateInUseWindow is how far back Delete looks for tasks that used a
// template: the longest message validity (14 days).
const TemplateInUseWindow = MaxExpiredSeconds * time.Second

// InUseError reports a template that tasks used within TemplateInUseWindow;
// deletion needs force. Tasks lists up to ten of them, newest first.
type InUseError struct {
	Name  string
	Tasks []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("template %q is in use by task(s) %s within the last 14 days; delete it anyway with force", e.Name, strings.Join(e.Tasks, ", "))
}

// InUse lists up to ten tasks that rendered the template within
// TemplateInUseWindow, newest first.
func (s *TemplateStore) InUse(ctx context.Context, appID, name string) ([]string, error) {
	rows, err := s.conn.Query(ctx, "SELECT task_id FROM "+s.db+".events WHERE app_id = ? AND event = 'accepted' AND template = ? AND ts >= fromUnixTimestamp64Milli(?) GROUP BY task_id ORDER BY max(ts) DESC LIMIT 10",
		appID, name, time.Now().Add(-TemplateInUseWindow).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("looking up tasks using template %q: %w", name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("reading task id: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Delete removes a template. Deleting an unknown one is a
// *ValidationError 3022 TEMPLATE_NOT_EXIST; one that tasks used within
// TemplateInUseWindow is an *InUseError unless force is set.
func (s *TemplateStore) Delete(ctx context.Context, appID, name string, force bool) error {
	t, ok, err := s.Get(ctx, appID, name)
	if err != nil {
		return err
	}
	if !ok {
		return invalid(CodeTemplateNotExist, "template %q does not exist for app %s", name, appID)
	}
	if !force {
		tasks, err := s.InUse(ctx, appID, name)
		if err != nil {
			return err
		}
		if len(tasks) > 0 {
			return &InUseError{Name: name, Tasks: tasks}
		}
	}
	return s.write(ctx, t, true)
}

func (s *TemplateStore) write(ctx context.Context, t Template, deleted bool) error {
	del := uint8(0)
	if deleted {
		del = 1
	}
	// The version in milliseconds: a time.Time parameter would be sent as
	// whole seconds, and a delete in the same second as the create could
	// then lose to it.
	err := s.conn.Exec(ctx, "INSERT INTO "+s.db+".templates (app_id, name, title, content, uri, description, deleted, version) VALUES (?, ?, ?, ?, ?, ?, ?, fromUnixTimestamp64Milli(?))",
		t.AppID, t.Name, t.Title, t.Content, t.URI, t.Description, del, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("writing template %q of app %s: %w", t.Name, t.AppID, err)
	}
	return nil
}

// Get returns the live template of that name, and whether there is one.
func (s *TemplateStore) Get(ctx context.Context, appID, name string) (Template, bool, error) {
	ts, err := s.query(ctx, appID, "AND name = ?", name)
	if err != nil || len(ts) == 0 {
		return Template{}, false, err
	}
	return ts[0], true, nil
}

// count returns how many live templates the app has.
func (s *TemplateStore) count(ctx context.Context, appID string) (uint64, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.db+".templates FINAL WHERE app_id = ? AND deleted = 0", appID).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting templates of app %s: %w", appID, err)
	}
	return n, nil
}

// List returns the live templates of an app, by name.
func (s *TemplateStore) List(ctx context.Context, appID string) ([]Template, error) {
	return s.query(ctx, appID, "")
}

func (s *TemplateStore) query(ctx context.Context, appID, where string, args ...any) ([]Template, error) {
	rows, err := s.conn.Query(ctx, "SELECT app_id, name, title, content, uri, description, version FROM "+s.db+
		".templates FINAL WHERE app_id = ? AND deleted = 0 "+where+" ORDER BY name", append([]any{appID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("reading templates of app %s: %w", appID, err)
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		var t Template
		if err := rows.Scan(&t.AppID, &t.Name, &t.Title, &t.Content, &t.URI, &t.Description, &t.Version); err != nil {
			return nil, fmt.Errorf("reading template row: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
