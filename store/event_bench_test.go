package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/bench"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// BenchmarkInsertEvents measures store.InsertEvents of one batch of
// synthetic events (bench.SyntheticDelivery's mix, of the last hour) on
// the real ClickHouse, at the event sink's batch sizes; events/s is the
// rate of an inserter that does nothing else.
func BenchmarkInsertEvents(b *testing.B) {
	conn := ch.Conn(b)
	db := testinfra.DBPrefix(b) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{2000, 30000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var events []schema.Event
			for i := 0; len(events) < n; i++ {
				events = bench.SyntheticDelivery(events, i, n, time.Now().Add(-time.Hour), time.Hour)
			}
			events = events[:n]
			b.ReportAllocs()
			for b.Loop() {
				if err := store.InsertEvents(ctx, conn, db, events); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkInsertEventsCPU measures the CPU time of store.InsertEvents
// of 20,000-event batches (the event sink's batch) on both sides of the
// connection: the inserting process (getrusage) and the ClickHouse child
// process of the test binary (/proc/<pid>/stat, merges included), each
// per event. Run it with -benchtime as a count (e.g. 30x).
func BenchmarkInsertEventsCPU(b *testing.B) {
	conn := ch.Conn(b)
	db := testinfra.DBPrefix(b) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		b.Fatal(err)
	}
	chPID, err := childPID()
	if err != nil {
		b.Fatal(err)
	}
	const n = 20000
	var events []schema.Event
	for i := 0; len(events) < n; i++ {
		events = bench.SyntheticDelivery(events, i, n, time.Now().Add(-time.Hour), time.Hour)
	}
	events = events[:n]
	b.ReportAllocs()
	self0, ch0 := selfCPU(b), procCPU(b, chPID)
	for b.Loop() {
		if err := store.InsertEvents(ctx, conn, db, events); err != nil {
			b.Fatal(err)
		}
	}
	self1, ch1 := selfCPU(b), procCPU(b, chPID)
	rows := float64(b.N * n)
	b.ReportMetric(float64((self1-self0).Microseconds())/rows, "client-cpu-µs/event")
	b.ReportMetric(float64((ch1-ch0).Microseconds())/rows, "clickhouse-cpu-µs/event")
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childPID returns the test binary's child process (the embedded ClickHouse).
func childPID() (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(st)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == me {
			return strconv.Atoi(e.Name())
		}
	}
	return 0, fmt.Errorf("no child process of %s", me)
}

func procCPU(b *testing.B, pid int) time.Duration {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stm, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stm) * time.Second / 100
}
