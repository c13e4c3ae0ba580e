package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// buildBinary builds cmd/pushpipe into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pushpipe")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/pushpipe/pushpipe/cmd/pushpipe")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building pushpipe: %v\n%s", err, out)
	}
	return bin
}

// startSender runs `pushpipe sender` as its own process.
func (e *env) startSender(t *testing.T, bin, configPath string, log *os.File) *exec.Cmd {
	t.Helper()
	return e.startWorker(bin, app.Sender, configPath, log).cmd
}

// TestSenderSIGKILLMidStream kills the sender process with SIGKILL while it
// works through 5,000 deliveries, starts it again, and checks that every
// delivery ends with exactly one terminal event (acked, or failed for the
// tokens the vendor calls invalid), that statistics count each once, and
// reports how many vendor calls the replay duplicated.
func TestSenderSIGKILLMidStream(t *testing.T) {
	const total = 5000
	e := newEnvWith(t, func(c *config.Config) { c.Stage.BatchSize = 200 }, "sg")
	e.run([]string{"sg"}, app.Eventsink, app.Retry)
	bin := buildBinary(t)
	cfgPath := e.workerConfig()

	// 5,000 deliveries straight onto push.deliveries.sg; every 20th token
	// is one the vendor reports invalid.
	expire := time.Now().Add(10 * time.Minute).UnixMilli()
	var outs []pipeline.Output
	wantFailed := 0
	for i := 0; i < total; i++ {
		dev := fmt.Sprintf("kdev-%05d", i)
		token := "regid-" + dev
		if i%20 == 0 {
			token = "bad-" + dev
			wantFailed++
		}
		msgID := fmt.Sprintf("kmsg-%05d", i)
		d := schema.Delivery{DeliveryID: e.deliveryID(msgID, dev), MsgID: msgID, TaskID: "task-kill", AppID: testApp,
			Region: "sg", PushType: schema.PushSimple, Target: dev, DeviceID: dev, Platform: "android", Channel: "mipush",
			Token: token, Title: "T", Body: "B", ExpireAt: expire, AcceptedAt: time.Now().UnixMilli()}
		outs = append(outs, jsonOut(pipeline.DeliveriesTopic("sg"), d.KafkaKey(), d))
	}
	e.publish(outs...)

	logf, err := os.Create(filepath.Join(t.TempDir(), "sender.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logf.Close() }()
	first := e.startSender(t, bin, cfgPath, logf)
	e.waitFor("the first sender to be mid-stream", 2*time.Minute, func() (bool, string) {
		n := e.sim.Stats().Requests
		return n >= total/5, fmt.Sprintf("%d vendor calls", n)
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	callsAtKill := e.sim.Stats().Requests
	if callsAtKill >= total {
		t.Fatalf("the sender finished all %d deliveries before it was killed; the test proves nothing", total)
	}

	second := e.startSender(t, bin, cfgPath, logf)
	defer func() { _ = second.Process.Signal(syscall.SIGTERM); _ = second.Wait() }()

	e.waitFor("a terminal event for every delivery", 3*time.Minute, func() (bool, string) {
		var n uint64
		err := e.conn.QueryRow(context.Background(), "SELECT uniqExact(device_id) FROM "+e.db("sg")+".events WHERE task_id = 'task-kill' AND event IN ('acked','failed')").Scan(&n)
		return err == nil && n == total, fmt.Sprintf("%d of %d deliveries terminal (err %v)", n, total, err)
	})

	// Exactly one terminal event id per delivery: a replayed send produced
	// the same ids, not new ones.
	var multi uint64
	if err := e.conn.QueryRow(context.Background(), `SELECT count() FROM (
		SELECT device_id, uniqExact(event_id) AS n FROM `+e.db("sg")+`.events
		WHERE task_id = 'task-kill' AND event IN ('acked','failed','expired') GROUP BY device_id HAVING n > 1)`).Scan(&multi); err != nil {
		t.Fatal(err)
	}
	if multi != 0 {
		t.Fatalf("%d deliveries have more than one terminal event", multi)
	}
	counts := e.eventCounts("sg", "task_id = 'task-kill'")
	if counts["acked"] != uint64(total-wantFailed) || counts["failed"] != uint64(wantFailed) {
		t.Fatalf("acked %d failed %d, want %d and %d", counts["acked"], counts["failed"], total-wantFailed, wantFailed)
	}
	// The per-minute aggregate (what statistics read) counts each once too.
	agg := e.settledMinuteCounts("sg", "task_id = 'task-kill'", func(c map[string]uint64) bool { return c["acked"] >= uint64(total-wantFailed) })
	if aggAcked := agg["acked"]; aggAcked != uint64(total-wantFailed) {
		t.Fatalf("per-minute aggregate counts %d acked, want %d", aggAcked, total-wantFailed)
	}
	calls := e.sim.Stats().Requests
	t.Logf("vendor calls: %d for %d deliveries (%d at the kill); duplicate vendor calls caused by the replay: %d",
		calls, total, callsAtKill, calls-total)
}
