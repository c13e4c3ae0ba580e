package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// fieldsDoc is the field matrix this test keeps true.
const fieldsDoc = "../docs/fields.md"

// mdTable is one table of the field matrix: its section, header and rows
// of cells.
type mdTable struct {
	section string
	header  []string
	rows    [][]string
}

// parseMarkdownTables returns the tables of a markdown document, each
// with the "## " section it stands in.
func parseMarkdownTables(t *testing.T, path string) []mdTable {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []mdTable
	var cur *mdTable
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		if s, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.TrimSpace(s)
		}
		if !strings.HasPrefix(line, "|") {
			cur = nil
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case cur == nil:
			out = append(out, mdTable{section: section, header: cells})
			cur = &out[len(out)-1]
		case strings.HasPrefix(cells[0], "---"):
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	return out
}

// table returns the table of a section.
func table(t *testing.T, tables []mdTable, section string) mdTable {
	t.Helper()
	for _, tb := range tables {
		if tb.section == section {
			return tb
		}
	}
	t.Fatalf("%s has no table in section %q", fieldsDoc, section)
	return mdTable{}
}

var backticked = regexp.MustCompile("`([^`]*)`")

// fieldOf returns the field a row is about: the first backticked name of
// its first cell ("(any other)" rows name none).
func fieldOf(row []string) string {
	if m := backticked.FindStringSubmatch(row[0]); m != nil {
		return m[1]
	}
	return ""
}

// exampleOf returns the JSON object of a row's example cell.
func exampleOf(t *testing.T, cell string) map[string]any {
	t.Helper()
	m := backticked.FindStringSubmatch(cell)
	if m == nil {
		t.Fatalf("example cell %q holds no `{...}`", cell)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(m[1]), &v); err != nil {
		t.Fatalf("example %s: %v", m[1], err)
	}
	return v
}

// check is one assertion of a wire cell.
type check struct {
	key, op, want string
}

var checkPattern = regexp.MustCompile("^`([^`]+)`(?:\\s*(=|≈|~)\\s*`([^`]*)`|\\s+(absent))?")

// parseChecks reads the assertions of a wire cell (";"-separated outside
// backticks, each optionally followed by a note in brackets).
func parseChecks(t *testing.T, cell string) []check {
	t.Helper()
	var parts []string
	in, depth, start := false, 0, 0
	for i, r := range cell {
		switch {
		case r == '`':
			in = !in
		case r == '(' && !in:
			depth++
		case r == ')' && !in:
			depth--
		case r == ';' && !in && depth == 0:
			parts = append(parts, cell[start:i])
			start = i + 1
		}
	}
	parts = append(parts, cell[start:])
	var out []check
	for _, p := range parts {
		p = strings.TrimSpace(p)
		m := checkPattern.FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("cannot read the check %q of cell %q", p, cell)
		}
		c := check{key: m[1], op: m[2], want: m[3]}
		switch {
		case m[4] == "absent":
			c.op = "absent"
		case c.op == "":
			c.op = "present"
		}
		out = append(out, c)
	}
	return out
}

// flattenJSON adds the leaves of v to out under dotted keys; array
// elements get their index as a key segment.
func flattenJSON(prefix string, v any, out map[string]string) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		if prefix != "" {
			b, _ := json.Marshal(x)
			out[prefix] = string(b)
		}
		for k, e := range x {
			flattenJSON(join(k), e, out)
		}
	case []any:
		for i, e := range x {
			flattenJSON(join(strconv.Itoa(i)), e, out)
		}
	case json.Number:
		out[prefix] = x.String()
	case string:
		out[prefix] = x
	case bool:
		out[prefix] = strconv.FormatBool(x)
	case nil:
		out[prefix] = ""
	}
}

// wireDoc is what a recorded vendor call carried for one token, by key:
// every form field and header the simulator recorded, and the leaves of
// the JSON it holds (the body at top level, JSON form fields below their
// name). When the call carries a list of messages (OPPO, the self-built
// channel), the token's own message is messages.0, whether the call
// carried one message or many.
func wireDoc(r vendorsim.Request, token string) map[string]string {
	doc := rawWireDoc(r)
	if r.Vendor == "oppo" {
		for k, v := range doc {
			if rest, ok := strings.CutPrefix(k, "message."); ok {
				doc["messages.0."+rest] = v
			}
		}
	}
	own := ""
	for k, v := range doc {
		if v != token || !strings.HasPrefix(k, "messages.") {
			continue
		}
		if parts := strings.SplitN(k, ".", 3); len(parts) == 3 {
			own = parts[1]
		}
	}
	if own == "" {
		return doc
	}
	out := map[string]string{}
	for k, v := range doc {
		parts := strings.SplitN(k, ".", 3)
		switch {
		case parts[0] != "messages" || len(parts) < 2:
			out[k] = v
		case parts[1] == own && len(parts) == 3:
			out["messages.0."+parts[2]] = v
		case parts[1] == own:
			out["messages.0"] = v
		}
	}
	return out
}

// rawWireDoc is wireDoc before the token's own message is picked.
func rawWireDoc(r vendorsim.Request) map[string]string {
	doc := map[string]string{}
	for k, v := range r.Form {
		if len(v) > 0 {
			doc[k] = v[0]
		}
	}
	for k, v := range r.Form {
		if len(v) == 0 || (!strings.HasPrefix(v[0], "{") && !strings.HasPrefix(v[0], "[")) {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(v[0])))
		dec.UseNumber()
		var parsed any
		if dec.Decode(&parsed) != nil {
			continue
		}
		prefix := k
		if k == "body" || (k == "payload" && r.Vendor == "apns") {
			prefix = ""
		}
		flattenJSON(prefix, parsed, doc)
	}
	return doc
}

// holds reports whether doc satisfies c, and what it found.
func (c check) holds(doc map[string]string) (bool, string) {
	got, ok := doc[c.key]
	switch c.op {
	case "absent":
		return !ok, got
	case "present":
		return ok && got != "", got
	case "=":
		return ok && got == c.want, got
	case "~":
		return ok && strings.Contains(got, c.want), got
	case "≈":
		want, err1 := strconv.ParseFloat(c.want, 64)
		n, err2 := strconv.ParseFloat(strings.TrimSuffix(got, "s"), 64)
		return ok && err1 == nil && err2 == nil && n <= want*1.1 && n >= want*0.9, got
	}
	return false, got
}

// matrixDevice is one row's device on one channel.
func matrixDevice(row int, channel string) schema.Binding {
	id := fmt.Sprintf("fm%02d-%s", row, channel)
	b := schema.Binding{Op: schema.OpReport, Region: "sg", AppID: testApp, WorkspaceID: "default", DeviceID: id,
		Platform: schema.PlatformAndroid, Vendor: channel, VendorToken: id + "-token", AppVersion: "1.0", Model: "Matrix"}
	switch channel {
	case "apns":
		sum := sha256.Sum256([]byte(id))
		b.Platform, b.VendorToken = schema.PlatformIOS, hex.EncodeToString(sum[:])
	case "self":
		b.Vendor, b.VendorToken, b.SelfToken = "", "", id+"-self"
	case "harmonyos":
		b.Platform = schema.PlatformHarmony
	}
	return b
}

func tokenOf(b schema.Binding) string {
	if b.VendorToken != "" {
		return b.VendorToken
	}
	return b.SelfToken
}

// TestFieldMatrix keeps docs/fields.md true (see the top of that page):
// every field has a row; every example of the vendor table reaches one
// device per channel through the running pipeline and the simulator
// recorded what each cell says (or the delivery was filtered with the
// cell's code); every example of the refusal table is rejected with its
// code and dead-lettered; every pipeline field names a test that exists
// and uses it. It prints the matrix it checked.
func TestFieldMatrix(t *testing.T) {
	tables := parseMarkdownTables(t, fieldsDoc)
	wire := table(t, tables, "Fields that reach the vendors")
	refused := table(t, tables, "Refused at acceptance")
	pipelineFields := table(t, tables, "Fields the pipeline acts on")

	t.Run("every field has a row", func(t *testing.T) {
		cases := []struct {
			section string
			fields  []string
		}{
			{"", schema.JSONFields(schema.Request{})},
			{"Fields of a MULTIPLE target (`targetMsgs[]`)", schema.JSONFields(schema.TargetMsg{})},
			{"Fields of `StrategyContent`", schema.JSONFields(schema.StrategyContent{})},
			{"Template fields", schema.JSONFields(schema.Template{})},
			{"Device binding fields (`push.bindings.R`)", schema.JSONFields(schema.Binding{})},
			{"Revoke record fields (`push.control.R`)", schema.JSONFields(schema.Control{})},
		}
		for _, c := range cases {
			have := map[string]bool{}
			if c.section == "" {
				// A request field is covered by the vendor or the pipeline
				// table; a refusal alone does not say what the field does.
				for _, tb := range []mdTable{wire, pipelineFields} {
					for _, r := range tb.rows {
						for _, m := range backticked.FindAllStringSubmatch(r[0], -1) {
							have[m[1]] = true
						}
					}
				}
			} else {
				for _, r := range table(t, tables, c.section).rows {
					have[fieldOf(r)] = true
				}
			}
			for _, f := range c.fields {
				if !have[f] {
					t.Errorf("field %q has no row in %s (section %q)", f, fieldsDoc, cmpOr(c.section, "vendor or pipeline table"))
				}
			}
			for f := range have {
				if !slices.Contains(c.fields, f) && c.section != "" {
					t.Errorf("%s section %q has a row for %q, which is not a field", fieldsDoc, c.section, f)
				}
			}
		}
	})

	t.Run("result codes are the project's", func(t *testing.T) {
		for _, r := range table(t, tables, "Result codes").rows {
			n, err := strconv.Atoi(r[0])
			if err != nil {
				t.Fatalf("result code %q is not a number", r[0])
			}
			if strings.HasPrefix(r[2], "never") {
				continue
			}
			if got := schema.ResultCode(n).Name(); got != r[1] {
				t.Errorf("result code %d is %s in the matrix but %s in schema (or schema does not define it)", n, r[1], got)
			}
		}
	})

	t.Run("pipeline fields name a test that uses them", func(t *testing.T) {
		sources := testSources(t)
		goFields := map[string][]string{}
		for _, v := range []any{schema.Request{}, schema.TargetMsg{}, schema.StrategyContent{}, schema.Template{}, schema.Binding{}, schema.Control{}} {
			rt := reflect.TypeOf(v)
			for i := range rt.NumField() {
				f := rt.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				goFields[name] = append(goFields[name], f.Name)
			}
		}
		for _, sec := range []string{"Fields the pipeline acts on", "Fields of a MULTIPLE target (`targetMsgs[]`)",
			"Fields of `StrategyContent`", "Template fields", "Device binding fields (`push.bindings.R`)", "Revoke record fields (`push.control.R`)"} {
			for _, r := range table(t, tables, sec).rows {
				name := strings.Fields(r[len(r)-1])[0]
				if name == "TestFieldMatrix" {
					// This test proves the field (or the request field named
					// in the proof cell) through its own tables.
					f := fieldOf(r)
					if m := backticked.FindStringSubmatch(r[len(r)-1]); m != nil {
						f = m[1]
					}
					found := false
					for _, rr := range append(slices.Clone(refused.rows), wire.rows...) {
						found = found || fieldOf(rr) == f
					}
					if !found {
						t.Errorf("%s: field %q is proved by this test's tables, which have no row for %q", sec, fieldOf(r), f)
					}
					continue
				}
				src, ok := sources[name]
				if !ok {
					t.Errorf("%s: field %q is proved by %s, which no test file defines", sec, fieldOf(r), name)
					continue
				}
				if f := fieldOf(r); !strings.Contains(src, `"`+f+`"`) && !namesGoField(src, goFields[f]) {
					t.Errorf("%s: field %q is proved by %s, whose file never names it", sec, f, name)
				}
			}
		}
	})

	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	channelsOf := wire.header[2:]

	// One user per row with one device on every channel.
	var devs []pipeline.Output
	var ids []string
	for i := range wire.rows {
		for _, ch := range channelsOf {
			d := matrixDevice(i, ch)
			devs = append(devs, jsonOut(pipeline.BindingsTopic("sg"), d.DeviceID, d))
			bind := schema.Binding{Op: schema.OpBind, Region: "sg", AppID: testApp, WorkspaceID: "default", DeviceID: d.DeviceID,
				UserID: fmt.Sprintf("fm-user-%02d", i)}
			devs = append(devs, jsonOut(pipeline.BindingsTopic("sg"), d.DeviceID, bind))
			ids = append(ids, d.DeviceID)
		}
	}
	e.publish(devs...)
	devices := store.NewDevices(e.conn, e.db("sg"))
	e.waitFor("matrix devices bound", 2*time.Minute, func() (bool, string) {
		got, err := devices.ByUser(context.Background(), testApp, userIDs(len(wire.rows)))
		return err == nil && len(got) == len(ids), fmt.Sprintf("%d of %d bound, err %v", len(got), len(ids), err)
	})

	base := func(task string) map[string]any {
		return map[string]any{
			"type": "SIMPLE", "region": "sg", "appId": testApp, "workspaceId": "default", "taskId": task,
			"taskName": "field matrix", "deliverType": schema.DeliverUser, "title": "Field matrix",
			"content": "Every field is honoured", "expiredSeconds": 300, "acceptedAt": time.Now().UnixMilli(),
		}
	}
	var outs []pipeline.Output
	for i, r := range wire.rows {
		task := fmt.Sprintf("fm-task-%02d", i)
		req := base(task)
		req["targetMsgkey"] = map[string]string{fmt.Sprintf("fm-user-%02d", i): fmt.Sprintf("fm-msg-%02d", i)}
		maps.Copy(req, exampleOf(t, r[1]))
		outs = append(outs, jsonOut(pipeline.RequestsTopic("sg"), task, req))
	}
	for j, r := range refused.rows {
		task := fmt.Sprintf("fm-refused-%02d", j)
		req := base(task)
		req["targetMsgkey"] = map[string]string{"fm-user-00": fmt.Sprintf("fm-refused-msg-%02d", j)}
		maps.Copy(req, exampleOf(t, r[1]))
		outs = append(outs, jsonOut(pipeline.RequestsTopic("sg"), task, req))
	}
	e.publish(outs...)

	// Every delivery of the vendor table ends: acked, or filtered where the
	// cell says so.
	type outcome struct {
		event string
		code  int64
		desc  string
	}
	ended := map[string]outcome{} // device id -> its ending
	e.waitFor("every matrix delivery ended", 3*time.Minute, func() (bool, string) {
		rows, err := e.conn.Query(context.Background(), "SELECT device_id, event, status_code, status_desc FROM "+e.db("sg")+
			".events WHERE startsWith(task_id, 'fm-task-') AND event IN ('acked', 'filtered', 'failed', 'invalid_device', 'expired')")
		if err != nil {
			return false, err.Error()
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var dev, ev, desc string
			var code int64
			if err := rows.Scan(&dev, &ev, &code, &desc); err != nil {
				return false, err.Error()
			}
			ended[dev] = outcome{ev, code, desc}
		}
		return len(ended) == len(ids), fmt.Sprintf("%d of %d deliveries ended", len(ended), len(ids))
	})

	// No delivery ends twice.
	twice, err := e.conn.Query(context.Background(), "SELECT device_id, groupArray(event) FROM "+e.db("sg")+
		".events WHERE startsWith(task_id, 'fm-task-') AND event IN ('acked', 'filtered', 'failed', 'invalid_device', 'expired', 'revoked') "+
		"GROUP BY device_id HAVING uniqExact(event_id) > 1")
	if err != nil {
		t.Fatal(err)
	}
	for twice.Next() {
		var dev string
		var evs []string
		if err := twice.Scan(&dev, &evs); err != nil {
			t.Fatal(err)
		}
		t.Errorf("device %s ended more than once: %v", dev, evs)
	}
	_ = twice.Close()

	// The simulator's records, by token.
	recorded := map[string]vendorsim.Request{}
	for _, ch := range channelsOf {
		for _, r := range e.sim.Requests(ch, "sg") {
			if r.Status != 200 {
				continue
			}
			for _, tok := range r.RegIDs {
				recorded[tok] = r
			}
		}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "\n%-40s", "field \\ channel")
	for _, ch := range channelsOf {
		fmt.Fprintf(&report, " | %-6s", ch)
	}
	report.WriteString("\n")
	for i, r := range wire.rows {
		label := strings.Join(allBackticked(r[0]), " ")
		fmt.Fprintf(&report, "%-40s", label)
		for c, ch := range channelsOf {
			cell := r[2+c]
			dev := matrixDevice(i, ch)
			got := ended[dev.DeviceID]
			mark := "ok"
			switch {
			case strings.HasPrefix(cell, "n/a"):
				mark = "n/a"
				if got.event != "acked" {
					t.Errorf("%s on %s (n/a): delivery ended %s %d %q, want acked", label, ch, got.event, got.code, got.desc)
					mark = "FAIL"
				}
			case strings.HasPrefix(cell, "filtered"):
				code, _ := strconv.ParseInt(strings.TrimSuffix(strings.Fields(cell)[1], ":"), 10, 64)
				mark = "filt " + strconv.FormatInt(code, 10)
				if got.event != "filtered" || got.code != code {
					t.Errorf("%s on %s: delivery ended %s %d %q, want filtered %d", label, ch, got.event, got.code, got.desc, code)
					mark = "FAIL"
				}
			default:
				if got.event != "acked" {
					t.Errorf("%s on %s: delivery ended %s %d %q, want acked", label, ch, got.event, got.code, got.desc)
					mark = "FAIL"
					break
				}
				rec, ok := recorded[tokenOf(dev)]
				if !ok {
					t.Errorf("%s on %s: the simulator recorded no accepted call for token %s", label, ch, tokenOf(dev))
					mark = "FAIL"
					break
				}
				doc := wireDoc(rec, tokenOf(dev))
				for _, c := range parseChecks(t, cell) {
					if ok, found := c.holds(doc); !ok {
						t.Errorf("%s on %s: %s %s %q does not hold, found %q; the call carried %s", label, ch, c.key, c.op, c.want, found, docString(doc))
						mark = "FAIL"
					}
				}
				if mark == "ok" {
					mark = parseChecks(t, cell)[0].key
				}
			}
			fmt.Fprintf(&report, " | %s", mark)
		}
		report.WriteString("\n")
	}

	// Every refused example: a rejected event with its code and a DLQ
	// record naming the reason.
	dlq := readTopic(t, e.brokers, pipeline.DLQTopic("sg"), len(refused.rows), time.Minute)
	byKey := map[string]map[string]string{}
	for _, m := range dlq {
		byKey[string(m.Key)] = headers(m)
	}
	fmt.Fprintf(&report, "\n%-40s | code | refused with\n", "refused field")
	for j, r := range refused.rows {
		task := fmt.Sprintf("fm-refused-%02d", j)
		h, ok := byKey[task]
		label := strings.Join(allBackticked(r[0]), " ")
		if label == "" {
			label = r[0]
		}
		if !ok {
			t.Errorf("refused %s %s: no DLQ record", label, r[1])
			continue
		}
		if h[pipeline.HeaderResultCode] != r[2] {
			t.Errorf("refused %s %s: DLQ result code %s (%s), want %s", label, r[1], h[pipeline.HeaderResultCode], h[pipeline.HeaderReason], r[2])
		}
		fmt.Fprintf(&report, "%-40s | %s | %s\n", label, h[pipeline.HeaderResultCode], h[pipeline.HeaderReason])
	}
	wantRejected := uint64(len(refused.rows))
	e.waitFor("rejected events of the refused examples", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "event = 'rejected'")
		return got["rejected"] == wantRejected, fmt.Sprintf("%d rejected events, want %d", got["rejected"], wantRejected)
	})
	t.Log(report.String())
}

func userIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("fm-user-%02d", i)
	}
	return out
}

func allBackticked(s string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

func docString(doc map[string]string) string {
	keys := slices.Sorted(maps.Keys(doc))
	var b strings.Builder
	for _, k := range keys {
		v := doc[k]
		if len(v) > 80 {
			v = v[:80] + "…"
		}
		fmt.Fprintf(&b, "\n    %s = %q", k, v)
	}
	return b.String()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// namesGoField reports whether src sets or reads one of the Go fields
// ("Name:" in a composite literal, ".Name" in a selector).
func namesGoField(src string, names []string) bool {
	for _, n := range names {
		if regexp.MustCompile(`\b` + n + `:|\.` + n + `\b`).MatchString(src) {
			return true
		}
	}
	return false
}

// testSources maps every test function of the module to the text of the
// file that defines it.
func testSources(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	def := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range def.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
