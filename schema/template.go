package schema

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
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
