package channels

import (
	"strings"
	"testing"
	"time"
)

func TestConfigCheckReportsEverySharedProblem(t *testing.T) {
	tests := []struct {
		scenario string
		check    func(c *ConfigCheck)
		want     []string
	}{
		{"a good configuration", func(c *ConfigCheck) {
			c.Region("sg", true)
			c.URL("baseUrl", "https://push.example.com")
			for range Apps(c, map[string]int{"A": 1}) {
			}
			c.Timeout(time.Second)
			c.MaxBatch(10, 100)
			c.Concurrency(1)
		}, nil},
		{"every shared problem, in order", func(c *ConfigCheck) {
			c.Region("mars", false)
			c.URL("authUrl", "ftp://x")
			for range Apps(c, map[string]int{}) {
			}
			c.Timeout(0)
			c.MaxBatch(101, 100)
			c.Concurrency(0)
		}, []string{`x config: unknown region "mars" (want cn, ru, in, eu or sg)`, "x config: authUrl: ",
			"x config: no apps configured", "x config: timeout must be positive, got 0s",
			"x config: maxBatch must be in 1..100, got 101", "x config: maxConcurrentCalls must be at least 1, got 0"}},
		{"an app with an empty id", func(c *ConfigCheck) {
			for id := range Apps(c, map[string]int{"": 1, "B": 2}) {
				if id == "B" {
					c.Bad("app %q: checked", id)
				}
			}
		}, []string{"x config: app with empty id", `x config: app "B": checked`}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			c := NewConfigCheck("x")
			tt.check(c)
			err := c.Err()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Err() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Err() = nil, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Err() = %q, want %d problems", lines, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}
