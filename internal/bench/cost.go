package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Names of the processes the cost figures split the CPU time by, besides
// the worker kinds.
const (
	procKafka      = "broker"
	procClickHouse = "clickhouse"
	// procBench is the bench process: the vendor simulator and the
	// bench's own publishing and polling. It is reported but not counted
	// in the cost of a delivery (the vendor's side is not pushpipe's).
	procBench = "bench"
)

// proc is one process whose cost is measured.
type proc struct {
	name string
	pid  func() int // the current pid (ClickHouse's child may restart)
}

// costMeter measures what a stretch of the bench costs: the CPU time of
// every process involved and the rows ClickHouse wrote and read (its
// InsertedRows and SelectedRows counters), minus what the bench's own
// ClickHouse queries in that stretch cost, which it learns from their
// profile events. Safe for concurrent use.
type costMeter struct {
	conn  driver.Conn
	procs []proc
	// The bench's own ClickHouse work since the meter was made.
	ownSelected, ownInserted, ownCPUus atomic.Int64
}

// costSnapshot is the state of the counters at one time.
type costSnapshot struct {
	at                 time.Time
	cpu                map[string]time.Duration
	inserted, selected int64
	ownSelected        int64
	ownInserted        int64
	ownCPU             time.Duration
}

// newCostMeter measures procs, the ClickHouse server behind conn among
// them (as procClickHouse).
func newCostMeter(conn driver.Conn, procs ...proc) *costMeter {
	return &costMeter{conn: conn, procs: procs}
}

// own returns ctx made to count the ClickHouse work of a query run with it
// as the bench's own, to be left out of the figures.
func (m *costMeter) own(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithProfileEvents(func(evs []clickhouse.ProfileEvent) {
		for _, e := range evs {
			if e.Type != "increment" {
				continue
			}
			switch e.Name {
			case "SelectedRows":
				m.ownSelected.Add(e.Value)
			case "InsertedRows":
				m.ownInserted.Add(e.Value)
			case "UserTimeMicroseconds", "SystemTimeMicroseconds":
				m.ownCPUus.Add(e.Value)
			}
		}
	}))
}

// snapshot reads the counters now.
func (m *costMeter) snapshot(ctx context.Context) (costSnapshot, error) {
	s := costSnapshot{at: time.Now(), cpu: map[string]time.Duration{}}
	for _, p := range m.procs {
		ps, err := readProc(p.pid())
		if err != nil {
			return s, fmt.Errorf("measuring the CPU time of %s: %w", p.name, err)
		}
		s.cpu[p.name] = ps.CPU
	}
	rows, err := m.conn.Query(m.own(ctx), "SELECT event, value FROM system.events WHERE event IN ('InsertedRows', 'SelectedRows')")
	if err != nil {
		return s, fmt.Errorf("reading the ClickHouse row counters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v uint64
		if err := rows.Scan(&name, &v); err != nil {
			return s, fmt.Errorf("reading the ClickHouse row counters: %w", err)
		}
		if name == "InsertedRows" {
			s.inserted = int64(v)
		} else {
			s.selected = int64(v)
		}
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("reading the ClickHouse row counters: %w", err)
	}
	s.ownSelected, s.ownInserted = m.ownSelected.Load(), m.ownInserted.Load()
	s.ownCPU = time.Duration(m.ownCPUus.Load()) * time.Microsecond
	return s, nil
}

// cost is what happened between two snapshots.
type cost struct {
	elapsed time.Duration
	// cpu is each process's CPU time, ClickHouse's without the bench's
	// own queries.
	cpu map[string]time.Duration
	// written and read are ClickHouse's rows, the bench's own left out.
	written, read int64
}

// between returns the cost from a to b.
func between(a, b costSnapshot) cost {
	c := cost{elapsed: b.at.Sub(a.at), cpu: map[string]time.Duration{},
		written: (b.inserted - a.inserted) - (b.ownInserted - a.ownInserted),
		read:    (b.selected - a.selected) - (b.ownSelected - a.ownSelected)}
	for name, t := range b.cpu {
		c.cpu[name] = t - a.cpu[name]
	}
	if _, ok := c.cpu[procClickHouse]; ok {
		c.cpu[procClickHouse] = max(0, c.cpu[procClickHouse]-(b.ownCPU-a.ownCPU))
	}
	c.written, c.read = max(0, c.written), max(0, c.read)
	return c
}

// figures returns the cost of one of n deliveries as figures named
// <prefix>cpu_us_per_delivery<suffix> (every process but the bench's),
// <prefix>cpu_us_per_delivery_<process><suffix> for each process (the
// bench's included, apart), and <prefix>clickhouse_rows_written_per_delivery<suffix>
// and ..._read_... .
func (c cost) figures(prefix, suffix string, n int, order []string) []Figure {
	if n <= 0 {
		return nil
	}
	per := func(d time.Duration) float64 { return round(float64(d.Microseconds())/float64(n), 1) }
	var total time.Duration
	for name, d := range c.cpu {
		if name != procBench {
			total += d
		}
	}
	figs := []Figure{{prefix + "cpu_us_per_delivery" + suffix, per(total), "µs"}}
	for _, name := range order {
		if d, ok := c.cpu[name]; ok {
			figs = append(figs, Figure{prefix + "cpu_us_per_delivery_" + name + suffix, per(d), "µs"})
		}
	}
	return append(figs,
		Figure{prefix + "clickhouse_rows_written_per_delivery" + suffix, round(float64(c.written)/float64(n), 2), "rows"},
		Figure{prefix + "clickhouse_rows_read_per_delivery" + suffix, round(float64(c.read)/float64(n), 2), "rows"})
}
