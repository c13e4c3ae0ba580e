package pipeline

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(url string) (string, error) {
	res, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

func TestHTTPServerLifecycle(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		stop     func(s *HTTPServer, cancel context.CancelFunc) error
	}{
		{scenario: "stopped by Close", stop: func(s *HTTPServer, _ context.CancelFunc) error { return s.Close() }},
		{scenario: "stopped by its context, then Close", stop: func(s *HTTPServer, cancel context.CancelFunc) error {
			cancel()
			return s.Close()
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			started, release := make(chan struct{}), make(chan struct{})
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") })
			mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
				close(started)
				<-release
				_, _ = io.WriteString(w, "finished")
			})
			s := NewHTTPServer(HTTPServerConfig{Name: "test", Addr: "127.0.0.1:0", Handler: mux})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(ctx); err == nil || !strings.Contains(err.Error(), "test: Start called twice") {
				t.Fatalf("second Start = %v", err)
			}
			if strings.HasSuffix(s.Addr(), ":0") {
				t.Fatalf("Addr %s is not the bound address", s.Addr())
			}
			if got, err := get("http://" + s.Addr() + "/"); err != nil || got != "hello" {
				t.Fatalf("GET / = %q, %v", got, err)
			}
			// A request in flight when the server stops is still answered.
			answer := make(chan string, 1)
			go func() {
				got, err := get("http://" + s.Addr() + "/slow")
				if err != nil {
					got = err.Error()
				}
				answer <- got
			}()
			<-started
			stopped := make(chan error, 1)
			go func() { stopped <- tc.stop(s, cancel) }()
			close(release)
			if got := <-answer; got != "finished" {
				t.Fatalf("the request in flight got %q", got)
			}
			if err := <-stopped; err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close = %v", err)
			}
			if _, err := get("http://" + s.Addr() + "/"); err == nil {
				t.Fatal("the server still answers after Close")
			}
		})
	}
}

func TestHTTPServerCloseWithoutStart(t *testing.T) {
	s := NewHTTPServer(HTTPServerConfig{Name: "test", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

// TestHTTPServerServing proves that Serving, the readiness of the HTTP
// services, is nil exactly while the server listens: not before Start,
// and not once it was stopped by Close or by the end of Start's context.
func TestHTTPServerServing(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		stop     func(s *HTTPServer, cancel context.CancelFunc)
	}{
		{scenario: "stopped by Close", stop: func(s *HTTPServer, _ context.CancelFunc) { _ = s.Close() }},
		{scenario: "stopped by its context", stop: func(s *HTTPServer, cancel context.CancelFunc) {
			cancel()
			s.wg.Wait()
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			s := NewHTTPServer(HTTPServerConfig{Name: "test", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
			if err := s.Serving(); err == nil || !strings.Contains(err.Error(), "not started") {
				t.Fatalf("Serving before Start = %v, want a not-started error", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			if err := s.Serving(); err != nil {
				t.Fatalf("Serving while listening = %v, want nil", err)
			}
			tc.stop(s, cancel)
			if err := s.Serving(); err == nil || !strings.Contains(err.Error(), "stopped") {
				t.Fatalf("Serving after stopping = %v, want a stopped error", err)
			}
		})
	}
}
