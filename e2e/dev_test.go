package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDevCommandServesTheReadme runs `pushpipe dev` as a newcomer does
// after `make run` (one region, its own ports and state folder) and walks
// the README's first steps against it: the banner names the console and
// its login, `pushpipe publish` of configs/examples/simple-push.json is
// accepted, `pushpipe events` lists what the README says it lists, the
// simulated MiPush received the three known devices, the console's login
// page answers, and Ctrl-C (SIGINT) ends the process with status 0.
func TestDevCommandServesTheReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole pipeline with its embedded broker and ClickHouse")
	}
	bin := buildBinary(t)
	state := t.TempDir()
	ports := map[string]int{}
	for _, k := range []string{"kafka", "chTCP", "chHTTP", "sim", "health", "receipts", "gateway", "console"} {
		ports[k] = freePort(t)
	}
	cfgPath := filepath.Join(t.TempDir(), "pushpipe.yaml")
	cfg := fmt.Sprintf(`stateDir: %s
regions: [sg]
kafka:
  embeddedPort: %d
clickhouse:
  embeddedTcpPort: %d
  embeddedHttpPort: %d
vendors:
  simulator: true
  simulatorAddr: 127.0.0.1:%d
healthAddr: 127.0.0.1:%d
receipts:
  addr: 127.0.0.1:%d
gateway:
  addr: 127.0.0.1:%d
console:
  addr: 127.0.0.1:%d
`, state, ports["kafka"], ports["chTCP"], ports["chHTTP"], ports["sim"], ports["health"], ports["receipts"], ports["gateway"], ports["console"])
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr lockedBuffer
	dev := exec.Command(bin, "dev", "--config", cfgPath, "--log-format", "json")
	dev.Dir = ".." // the README's commands run from the repository root
	dev.Stdout, dev.Stderr = &stdout, &stderr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- dev.Wait() }()
	t.Cleanup(func() {
		select {
		case <-exited: //nolint:errcheck // it has ended; the test reports its output below if it failed
		default:
			_ = dev.Process.Kill()
			<-exited //nolint:errcheck // the exit status of a process we killed says nothing
		}
		if t.Failed() {
			t.Logf("pushpipe dev stdout:\n%s\nstderr (last 4 KiB):\n%s", stdout.String(), tail(stderr.String(), 4096))
		}
	})

	health := fmt.Sprintf("http://127.0.0.1:%d", ports["health"])
	waitUntil(t, "pushpipe dev to be ready", 4*time.Minute, exited, func() (bool, string) {
		code, _, err := getURL(health + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK && strings.Contains(stdout.String(), "Stop with Ctrl-C."), fmt.Sprintf("readyz %d", code)
	})

	banner := stdout.String()
	consoleURL := fmt.Sprintf("http://127.0.0.1:%d", ports["console"])
	login := readDemoLogin(t, filepath.Join(state, "console-demo-login.json"))
	for _, want := range []string{"pushpipe is running — regions sg", consoleURL, login.User, login.Password,
		fmt.Sprintf("127.0.0.1:%d", ports["kafka"]), "./bin/pushpipe publish --region sg configs/examples/simple-push.json"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner does not show %q:\n%s", want, banner)
		}
	}

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--config", cfgPath, "--log-format", "json")...)
		cmd.Dir = ".."
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("pushpipe %s: %v\n%s%s", strings.Join(args, " "), err, out, ee.Stderr)
			}
			t.Fatalf("pushpipe %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	if out := run("publish", "--region", "sg", "configs/examples/simple-push.json"); !strings.Contains(out, "demo-task-1") {
		t.Errorf("publish does not name the task demo-task-1:\n%s", out)
	}

	// What the README promises `pushpipe events` lists.
	want := map[string]int{"accepted": 1, "planned": 4, "invalid_device": 1, "valid": 3, "sent": 3, "acked": 3}
	var counts map[string]int
	waitUntil(t, "the README's events of demo-task-1", 2*time.Minute, exited, func() (bool, string) {
		var rows []struct {
			Event string `json:"event"`
		}
		if err := json.Unmarshal([]byte(run("events", "--region", "sg", "--task", "demo-task-1", "--json")), &rows); err != nil {
			return false, err.Error()
		}
		counts = map[string]int{}
		for _, r := range rows {
			counts[r.Event]++
		}
		for ev, n := range want {
			if counts[ev] < n {
				return false, fmt.Sprint(counts)
			}
		}
		return true, ""
	})
	for ev, n := range want {
		if counts[ev] != n {
			t.Errorf("events lists %s %d times, the README says %d (all: %v)", ev, counts[ev], n, counts)
		}
	}

	// What the simulated MiPush received: the three registered devices'
	// tokens, with the request's title.
	_, body, err := getURL(fmt.Sprintf("http://127.0.0.1:%d/admin/requests?vendor=mipush&region=sg", ports["sim"]))
	if err != nil {
		t.Fatal(err)
	}
	var recorded struct {
		Requests []struct {
			Form   map[string][]string `json:"form"`
			RegIDs []string            `json:"regIds"`
		} `json:"requests"`
	}
	if err := json.Unmarshal([]byte(body), &recorded); err != nil {
		t.Fatalf("decoding the simulator's recorded requests: %v\n%s", err, tail(body, 1024))
	}
	got := map[string]string{}
	for _, c := range recorded.Requests {
		for _, id := range c.RegIDs {
			got[id] = strings.Join(c.Form["title"], ",")
		}
	}
	for _, id := range []string{"demo-regid-1", "demo-regid-2", "demo-regid-3"} {
		if got[id] != "Hello from pushpipe" {
			t.Errorf("the simulated MiPush got %s with title %q, want \"Hello from pushpipe\" (all: %v)", id, got[id], got)
		}
	}
	if len(got) != 3 {
		t.Errorf("the simulated MiPush got %d tokens, want the 3 registered devices': %v", len(got), got)
	}

	code, page, err := getURL(consoleURL + "/login")
	if err != nil || code != http.StatusOK || !strings.Contains(page, "<form") {
		t.Errorf("console login page: %d %v\n%s", code, err, tail(page, 512))
	}

	if err := dev.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("pushpipe dev ended with %v after SIGINT, want status 0", err)
		}
		exited <- err // for the cleanup
	case <-time.After(2 * time.Minute):
		t.Fatal("pushpipe dev did not stop within 2 minutes of SIGINT")
	}
}

// demoLogin is the console login `pushpipe dev` generates.
type demoLogin struct {
	User     string `json:"name"`
	Password string `json:"password"`
}

func readDemoLogin(t *testing.T, path string) demoLogin {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the console's demo login: %v", err)
	}
	var l demoLogin
	if err := json.Unmarshal(b, &l); err != nil || l.User == "" || l.Password == "" {
		t.Fatalf("the console's demo login %s is not {user, password}: %v\n%s", path, err, b)
	}
	return l
}

// waitUntil polls cond every half second until it holds, failing the test
// after timeout or as soon as the process behind exited ends.
func waitUntil(t *testing.T, what string, timeout time.Duration, exited chan error, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("waiting for %s: the process ended (%v); last: %s", what, err, last)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %s; last: %s", what, timeout, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func getURL(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// lockedBuffer is a bytes.Buffer a child process writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
