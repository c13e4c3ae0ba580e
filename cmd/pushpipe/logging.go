package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/internal/config"
)

// logStyle is how a command writes its log lines.
type logStyle struct {
	// console writes human-readable lines (zerolog's ConsoleWriter)
	// instead of one JSON object a line.
	console bool
	// color colours the console lines' levels and keys.
	color bool
}

// chooseLogStyle decides the log lines of a command from the format (auto,
// console or json; "" is auto), whether stderr is a terminal and whether
// NO_COLOR is set: auto is console on a terminal and JSON otherwise; console
// lines are coloured only on a terminal without NO_COLOR. An unknown format
// is an error saying what to use.
func chooseLogStyle(format string, tty, noColor bool) (logStyle, error) {
	switch format {
	case config.LogFormatAuto, "":
		return logStyle{console: tty, color: tty && !noColor}, nil
	case config.LogFormatConsole:
		return logStyle{console: true, color: tty && !noColor}, nil
	case config.LogFormatJSON:
		return logStyle{}, nil
	}
	return logStyle{}, fmt.Errorf("log format %q: use %s", format, strings.Join(config.LogFormats(), ", "))
}

// newLogger returns the logger writing to w in style st at level, every
// line with its time (to the second: zerolog's time field has seconds). The keys stay the fixed snake_case ones in either
// style; the console style writes them as key=value after the message.
func newLogger(w io.Writer, st logStyle, level zerolog.Level) zerolog.Logger {
	if st.console {
		w = zerolog.ConsoleWriter{Out: w, NoColor: !st.color, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// stderrLogger is the logger of a command: format and level as configured,
// to stderr.
func stderrLogger(format string, level zerolog.Level) (zerolog.Logger, error) {
	_, noColor := os.LookupEnv("NO_COLOR")
	fd := os.Stderr.Fd()
	st, err := chooseLogStyle(format, isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd), noColor)
	if err != nil {
		return zerolog.Logger{}, err
	}
	return newLogger(os.Stderr, st, level), nil
}

// readiness is something that reports whether it is up: a stage or a
// scheduler (a pipeline.Service).
type readiness interface {
	Ready(ctx context.Context) error
}

// regionWorker is one stage or scheduler of a region, with its worker's
// name.
type regionWorker struct {
	kind  string
	r     readiness
	stage bool
}

// regionsUp announces each region once, with one log line, when every
// worker of it is ready: the regions in the order given. It is not safe
// for concurrent use.
type regionsUp struct {
	regions   []string
	workers   map[string][]regionWorker
	announced map[string]bool
	start     time.Time
}

func newRegionsUp(regions []string, start time.Time) *regionsUp {
	return &regionsUp{regions: regions, workers: map[string][]regionWorker{}, announced: map[string]bool{}, start: start}
}

// add counts r as a worker of kind in region: a pipeline stage when stage
// is set, else a scheduler.
func (u *regionsUp) add(region, kind string, r readiness, stage bool) {
	u.workers[region] = append(u.workers[region], regionWorker{kind: kind, r: r, stage: stage})
}

// check logs "region up" for every region not announced yet whose workers
// are all ready, with its number of pipeline stages and the workers
// running, and reports whether every region is up.
func (u *regionsUp) check(log zerolog.Logger, now time.Time) bool {
	all := true
	for _, region := range u.regions {
		if u.announced[region] {
			continue
		}
		ws := u.workers[region]
		var kinds []string
		up, stages := true, 0
		for _, w := range ws {
			up = up && w.r.Ready(context.Background()) == nil
			if w.stage {
				stages++
			}
			if !slices.Contains(kinds, w.kind) {
				kinds = append(kinds, w.kind)
			}
		}
		if !up {
			all = false
			continue
		}
		u.announced[region] = true
		log.Info().Str("region", region).Int("stages", stages).Str("workers", strings.Join(kinds, ",")).
			Int64("took_ms", now.Sub(u.start).Milliseconds()).Msgf("region %s up", region)
	}
	return all
}
