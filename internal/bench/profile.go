package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// profileChunk is the length of one CPU profile a profiler fetches; the
// profiles of one process over a stretch are merged when reported.
const profileChunk = 5 * time.Second

// profiler fetches CPU profiles of processes that serve
// /debug/pprof/profile (the workers' health servers, the broker's), one
// chunk after another, until stopped, into <dir>/<name>-<n>.pb.gz.
type profiler struct {
	dir    string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	files  map[string][]string
	errs   []string
}

// startProfiler starts fetching the profiles of targets (name → host:port)
// into dir, emptied first.
func startProfiler(ctx context.Context, dir string, targets map[string]string) (*profiler, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &profiler{dir: dir, cancel: cancel, files: map[string][]string{}}
	for name, addr := range targets {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.loop(ctx, name, addr)
		}()
	}
	return p, nil
}

// loop fetches chunks of name's profile until ctx ends; the chunk under
// way when it ends is still saved.
func (p *profiler) loop(ctx context.Context, name, addr string) {
	client := &http.Client{Timeout: profileChunk + 30*time.Second}
	for n := 0; ctx.Err() == nil; n++ {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(profileChunk.Seconds()))
		path := filepath.Join(p.dir, fmt.Sprintf("%s-%03d.pb.gz", name, n))
		if err := fetchTo(client, url, path); err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, fmt.Sprintf("%s: %v", name, err))
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		p.files[name] = append(p.files[name], path)
		p.mu.Unlock()
	}
}

// fetchTo GETs url into the file at path.
func fetchTo(client *http.Client, url, path string) error {
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// stop ends the fetching after the chunks under way and returns the
// profiles saved per process, and the failures.
func (p *profiler) stop() (map[string][]string, []string) {
	p.cancel()
	p.wg.Wait()
	return p.files, p.errs
}

// writeTops writes, for every process of files, the top 10 functions by
// CPU of its merged profiles (`go tool pprof -top -nodecount=10`) to
// <dir>/pprof-<name>.txt, and returns the names written. Without a go
// command each file says where the raw profiles are instead.
func writeTops(ctx context.Context, dir string, files map[string][]string) ([]string, error) {
	goCmd, lookErr := exec.LookPath("go")
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fs := files[name]
		var body []byte
		if lookErr != nil {
			body = fmt.Appendf(nil, "go tool pprof is not available (%v); the raw profiles are %s\n", lookErr, strings.Join(fs, " "))
		} else {
			cmd := exec.CommandContext(ctx, goCmd, append([]string{"tool", "pprof", "-top", "-nodecount=10"}, fs...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				body = fmt.Appendf(nil, "go tool pprof failed: %v\n%s", err, out)
			} else {
				body = fmt.Appendf(nil, "# CPU profile of the %s process during the end-to-end broadcast (%d profiles of %s merged: %s)\n%s",
					name, len(fs), profileChunk, strings.Join(relPaths(dir, fs), " "), out)
			}
		}
		path := filepath.Join(dir, "pprof-"+name+".txt")
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return names, nil
}

// relPaths returns paths relative to dir where they are below it.
func relPaths(dir string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if r, err := filepath.Rel(dir, p); err == nil {
			p = r
		}
		out[i] = p
	}
	return out
}
