package pipeline

import (
	"strings"
	"testing"
	"time"
)

func TestLogReaderConfigValidate(t *testing.T) {
	good := LogReaderConfig{Brokers: []string{"127.0.0.1:9092"}, ClientID: "pushpipe-test"}
	for _, tc := range []struct {
		name string
		edit func(c *LogReaderConfig)
		want string // "" means valid
	}{
		{"defaults", func(*LogReaderConfig) {}, ""},
		{"no brokers", func(c *LogReaderConfig) { c.Brokers = nil }, "Brokers is empty"},
		{"empty broker", func(c *LogReaderConfig) { c.Brokers = []string{""} }, "empty address"},
		{"no client id", func(c *LogReaderConfig) { c.ClientID = "" }, "ClientID is empty"},
		{"negative wait", func(c *LogReaderConfig) { c.MaxWait = -time.Second }, "negative duration"},
		{"tiny fetch", func(c *LogReaderConfig) { c.MaxBytes = 100 }, "MaxBytes 100 is too small"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			_, err := NewLogReader(c)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("NewLogReader: %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("NewLogReader: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
