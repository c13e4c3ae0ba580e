package testinfra

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime returns the user and system CPU time of the process (the GC's
// workers included), which, unlike ns/op, other processes on the machine
// do not inflate. It fails tb if the time cannot be read.
func CPUTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchBatches runs handle on batches of batch records of records, one
// batch each b.Loop iteration, walking records round (len(records) must
// exceed batch), with allocations reported per batch (per op) and the
// process's CPU time (CPUTime) and wall time per record as
// "cpu-ns/<unit>" and "ns/<unit>".
func BenchBatches[T any](b *testing.B, records []T, batch int, unit string, handle func([]T)) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := CPUTime(b)
	n := 0
	for b.Loop() {
		first := (n * batch) % (len(records) - batch)
		handle(records[first : first+batch])
		n++
	}
	b.ReportMetric(float64(CPUTime(b)-cpu)/float64(n*batch), "cpu-ns/"+unit)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*batch), "ns/"+unit)
}
