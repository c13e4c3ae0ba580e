package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pushpipe/pushpipe/schema"
)

// Templates keeps templates in the templates table of one region
// database. Safe for concurrent use.
type Templates struct {
	conn driver.Conn
	db   string
}

// NewTemplates returns the templates table over conn in database db
// (push_<region>, see Database).
func NewTemplates(conn driver.Conn, db string) *Templates {
	return &Templates{conn: conn, db: db}
}

// Create stores a new template; an existing live template of the same name
// is a *schema.ValidationError 3036 TEMPLATE_ALREADY_EXIST.
func (s *Templates) Create(ctx context.Context, t schema.Template) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if _, ok, err := s.Get(ctx, t.AppID, t.Name); err != nil {
		return err
	} else if ok {
		return invalid(schema.CodeTemplateAlreadyExist, "template %q already exists for app %s", t.Name, t.AppID)
	}
	if n, err := s.count(ctx, t.AppID); err != nil {
		return err
	} else if n >= schema.MaxTemplatesPerApp {
		return invalid(schema.CodeTemplateNumTooMuch, "app %s has %d templates, the most one app may have; delete one first", t.AppID, n)
	}
	return s.write(ctx, t, false)
}

// TemplateInUseWindow is how far back Delete looks for tasks that used a
// template: the longest message validity (14 days).
const TemplateInUseWindow = schema.MaxExpiredSeconds * time.Second

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
func (s *Templates) InUse(ctx context.Context, appID, name string) ([]string, error) {
	rows, err := s.conn.Query(ctx, "SELECT task_id FROM "+s.db+".events WHERE app_id = ? AND event = 'accepted' AND template = ? AND ts >= fromUnixTimestamp64Milli(?) GROUP BY task_id ORDER BY max(ts) DESC LIMIT 10",
		appID, name, time.Now().Add(-TemplateInUseWindow).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("looking up tasks using template %q: %w", name, err)
	}
	defer func() { _ = rows.Close() }()
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
// *schema.ValidationError 3022 TEMPLATE_NOT_EXIST; one that tasks used within
// TemplateInUseWindow is an *InUseError unless force is set.
func (s *Templates) Delete(ctx context.Context, appID, name string, force bool) error {
	t, ok, err := s.Get(ctx, appID, name)
	if err != nil {
		return err
	}
	if !ok {
		return invalid(schema.CodeTemplateNotExist, "template %q does not exist for app %s", name, appID)
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

func (s *Templates) write(ctx context.Context, t schema.Template, deleted bool) error {
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
func (s *Templates) Get(ctx context.Context, appID, name string) (schema.Template, bool, error) {
	ts, err := s.query(ctx, appID, "AND name = ?", name)
	if err != nil || len(ts) == 0 {
		return schema.Template{}, false, err
	}
	return ts[0], true, nil
}

// count returns how many live templates the app has.
func (s *Templates) count(ctx context.Context, appID string) (uint64, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.db+".templates FINAL WHERE app_id = ? AND deleted = 0", appID).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting templates of app %s: %w", appID, err)
	}
	return n, nil
}

// List returns the live templates of an app, by name.
func (s *Templates) List(ctx context.Context, appID string) ([]schema.Template, error) {
	return s.query(ctx, appID, "")
}

func (s *Templates) query(ctx context.Context, appID, where string, args ...any) ([]schema.Template, error) {
	rows, err := s.conn.Query(ctx, "SELECT app_id, name, title, content, uri, description, version FROM "+s.db+
		".templates FINAL WHERE app_id = ? AND deleted = 0 "+where+" ORDER BY name", append([]any{appID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("reading templates of app %s: %w", appID, err)
	}
	defer func() { _ = rows.Close() }()
	var out []schema.Template
	for rows.Next() {
		var t schema.Template
		if err := rows.Scan(&t.AppID, &t.Name, &t.Title, &t.Content, &t.URI, &t.Description, &t.Version); err != nil {
			return nil, fmt.Errorf("reading template row: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
