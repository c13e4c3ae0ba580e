package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestSendCommandWith100kTargets runs the `pushpipe send` binary with a
// file of 100,000 registered devices: it splits them into 1,000 MULTIPLE
// requests of 100 and publishes them through the producer package, and
// fanout records 100,000 planned targets, once each.
func TestSendCommandWith100kTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000-target send skipped in -short mode")
	}
	const total = 100_000
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Fanout, app.Eventsink)
	bin := buildBinary(t)
	ctx := context.Background()
	if err := store.NewTemplates(e.conn, e.db("sg")).Create(ctx, schema.Template{AppID: testApp, Name: "bulk", Title: "Hello #name#", Content: "News for you"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	rows := make([]schema.Device, total)
	var ids strings.Builder
	for i := range rows {
		id := fmt.Sprintf("bulk-%06d", i)
		rows[i] = schema.Device{AppID: testApp, DeviceID: id, Platform: schema.PlatformAndroid, Vendor: "mipush",
			VendorToken: "tok-" + id, TokenValid: true, UpdatedAt: now}
		ids.WriteString(id + "\n")
	}
	if err := store.NewDevices(e.conn, e.db("sg")).Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(file, []byte(ids.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(runCtx, bin, "send", "--region", "sg", "--brokers", strings.Join(e.brokers, ","),
		"--app", testApp, "--workspace", "default", "--template", "bulk", "--kv", "name=friend",
		"--targets-file", file, "--task-id", "bulk", "--output", "json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pushpipe send: %v\n%s", err, stderr.String())
	}
	var sum struct {
		Type     schema.PushType `json:"type"`
		Requests int             `json:"requests"`
		Targets  int             `json:"targets"`
		TaskIDs  []string        `json:"taskIds"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	if sum.Type != schema.PushMultiple || sum.Requests != total/100 || sum.Targets != total || len(sum.TaskIDs) != total/100 || sum.TaskIDs[0] != "bulk-00001" {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(stderr.String(), "1000/1000 requests (100%)") {
		t.Errorf("stderr shows no finished progress bar:\n%.500s", stderr.String())
	}
	e.waitFor("100,000 planned targets", 4*time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id LIKE 'bulk-%' AND event IN ('accepted','planned','valid')")
		return got["planned"] == total && got["valid"] == total && got["accepted"] == total/100, fmt.Sprint(got)
	})
}
