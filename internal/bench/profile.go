package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"
)

// profileChunk is the length of one CPU profile a profiler fetches over a
// long stretch; the profiles of one process are merged when reported.
const profileChunk = 5 * time.Second

// profiler fetches CPU profiles of processes that serve
// /debug/pprof/profile (the workers' health servers, the broker's), one
// chunk after another, until stopped, into <dir>/<name>-<n>.pb.gz.
type profiler struct {
	dir string
	// chunk is the length of one profile; with once, each process is
	// profiled for one chunk only.
	chunk  time.Duration
	once   bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	files  map[string][]string
	errs   []string
}

// startProfiler starts fetching the profiles of targets (name → host:port,
// or selfProfile) into dir, emptied first, in profiles of chunk; with
// once, one profile of each, which (chunk a little longer than what is
// measured) keeps the end of a profile, when each process writes it out,
// from falling while the figures are taken.
func startProfiler(ctx context.Context, dir string, targets map[string]string, chunk time.Duration, once bool) (*profiler, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &profiler{dir: dir, chunk: chunk, once: once, cancel: cancel, files: map[string][]string{}}
	for name, addr := range targets {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.loop(ctx, name, addr)
		}()
	}
	return p, nil
}

// selfProfile, as a target's address, profiles the bench process itself
// (the vendor simulator and the publishers) through runtime/pprof.
const selfProfile = "self"

// loop fetches chunks of name's profile until ctx ends; the chunk under
// way when it ends is still saved.
func (p *profiler) loop(ctx context.Context, name, addr string) {
	client := &http.Client{Timeout: p.chunk + 30*time.Second}
	for n := 0; ctx.Err() == nil && (n == 0 || !p.once); n++ {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(p.chunk.Seconds()))
		path := filepath.Join(p.dir, fmt.Sprintf("%s-%03d.pb.gz", name, n))
		fetch := func() error { return fetchTo(client, url, path) }
		if addr == selfProfile {
			fetch = func() error { return profileSelf(path, p.chunk) }
		}
		if err := fetch(); err != nil {
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

// profileSelf writes a CPU profile of this process over d to the file at
// path.
func profileSelf(path string, d time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("profiling the bench process: %w", err)
	}
	time.Sleep(d)
	pprof.StopCPUProfile()
	return f.Close()
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

// profileSet is one stretch of a run whose CPU profiles are beside the
// report: the top 10 of each process in <dir>/<Prefix>-<name>.txt, the raw
// profiles in <dir>/<Prefix>/.
type profileSet struct {
	// What the profiles cover, as the report says it: "the end-to-end
	// broadcast".
	What   string
	Prefix string
	// Names are the processes profiled, sorted.
	Names []string
}

// writeTops writes, for every process of files, the top 10 functions by
// CPU of its merged profiles of chunk each (`go tool pprof -top
// -nodecount=10`) to <dir>/<prefix>-<name>.txt, and returns the set
// written. Without a go command each file says where the raw profiles are
// instead.
func writeTops(ctx context.Context, dir, prefix, what string, chunk time.Duration, files map[string][]string) (profileSet, error) {
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
				merged := fmt.Sprintf("%d profiles of %s merged", len(fs), chunk)
				if len(fs) == 1 {
					merged = fmt.Sprintf("one profile of %s", chunk)
				}
				body = fmt.Appendf(nil, "# CPU profile of the %s process during %s (%s: %s)\n%s",
					name, what, merged, strings.Join(relPaths(dir, fs), " "), out)
			}
		}
		path := filepath.Join(dir, prefix+"-"+name+".txt")
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return profileSet{}, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return profileSet{What: what, Prefix: prefix, Names: names}, nil
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
