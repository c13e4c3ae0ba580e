package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
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
	// chThreads are ClickHouse's threads (procClickHouse), nil when the
	// meter measures no ClickHouse process.
	chThreads map[int]threadSample
	// machine is the whole machine's CPU time (zero where unknown).
	machine machineCPU
}

// newCostMeter measures procs, the ClickHouse server behind conn among
// them (as procClickHouse).
func newCostMeter(conn driver.Conn, procs ...proc) *costMeter {
	return &costMeter{conn: conn, procs: procs}
}

// own returns ctx made to count the ClickHouse work of a query run with it
// as the bench's own, to be left out of the figures.
func (m *costMeter) own(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_comment": ownComment}), clickhouse.WithProfileEvents(func(evs []clickhouse.ProfileEvent) {
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
	s := costSnapshot{at: time.Now(), cpu: map[string]time.Duration{}, machine: readMachineCPU()}
	for _, p := range m.procs {
		ps, err := readProc(p.pid())
		if err != nil {
			return s, fmt.Errorf("measuring the CPU time of %s: %w", p.name, err)
		}
		s.cpu[p.name] = ps.CPU
		if p.name == procClickHouse {
			if s.chThreads, err = readThreads(p.pid()); err != nil {
				return s, fmt.Errorf("measuring the CPU time of %s: %w", p.name, err)
			}
		}
	}
	rows, err := m.conn.Query(m.own(ctx), "SELECT event, value FROM system.events WHERE event IN ('InsertedRows', 'SelectedRows')")
	if err != nil {
		return s, fmt.Errorf("reading the ClickHouse row counters: %w", err)
	}
	defer func() { _ = rows.Close() }()
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
	// machineBusy is the share of the machine's CPU time (every core)
	// that was busy, in percent; 0 where unknown.
	machineBusy float64
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
	if all := b.machine.all - a.machine.all; a.machine.all > 0 && all > 0 {
		c.machineBusy = round(100*float64(b.machine.busy-a.machine.busy)/float64(all), 1)
	}
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

// appendThreadCPU appends to the file at path ClickHouse's CPU time from
// a to b per delivery of n, by thread name, the most first: where the CPU
// time that no query or merge accounts for goes (background schedules,
// system log flushes, part clean-up). The bench's own queries are
// included in the threads that ran them and given apart.
func appendThreadCPU(path string, a, b costSnapshot, n int) error {
	if a.chThreads == nil || b.chThreads == nil {
		return nil
	}
	total := b.cpu[procClickHouse] - a.cpu[procClickHouse]
	byName := threadCPU(a.chThreads, b.chThreads, total)
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return byName[names[i]] > byName[names[j]] })
	var sb strings.Builder
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(n, 1)) }
	fmt.Fprintf(&sb, "\n# ClickHouse CPU by thread name from %s to %s (%.2f cpu_us/dlv in all, the bench's own queries %.2f of it)\n",
		a.at.UTC().Format(time.RFC3339), b.at.UTC().Format(time.RFC3339), per(total), per(b.ownCPU-a.ownCPU))
	fmt.Fprintf(&sb, "%11s  %s\n", "cpu_us/dlv", "thread")
	for _, name := range names {
		if d := byName[name]; d > 0 {
			fmt.Fprintf(&sb, "%11.2f  %s\n", per(d), name)
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("adding ClickHouse's CPU by thread to %s: %w", path, err)
	}
	if _, err := f.WriteString(sb.String()); err != nil {
		_ = f.Close()
		return fmt.Errorf("adding ClickHouse's CPU by thread to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("adding ClickHouse's CPU by thread to %s: %w", path, err)
	}
	return nil
}

// ownComment marks the bench's own queries in system.query_log.
const ownComment = "pushpipe-bench"

// queryReads are the rows ClickHouse read for the workers' queries,
// split by kind: SELECTs (look-ups, audiences) and INSERTs (the
// materialized views reading the blocks inserted into their source).
type queryReads struct{ selects, inserts uint64 }

// readFigures replaces, in figs, <prefix>clickhouse_rows_read_per_delivery<suffix>
// (the SelectedRows counter: every row read, views included) by the rows
// the workers' SELECTs read, and adds the views' rows apart as
// <prefix>clickhouse_rows_read_by_views_per_delivery<suffix>.
func (r queryReads) figures(figs []Figure, prefix, suffix string, n int) []Figure {
	name := prefix + "clickhouse_rows_read_per_delivery" + suffix
	for i := range figs {
		if figs[i].Name == name {
			figs[i].Value = round(float64(r.selects)/float64(max(n, 1)), 2)
		}
	}
	return append(figs, Figure{prefix + "clickhouse_rows_read_by_views_per_delivery" + suffix, round(float64(r.inserts)/float64(max(n, 1)), 2), "rows"})
}

// writeTopReaders writes to path the queries other than the bench's own
// that ClickHouse finished since since, grouped by their normalized form,
// the most rows read first, with rows read and written per delivery of n:
// where the rows read come from. It returns the rows those queries read,
// by kind. It needs the server's query_log (chdb.Config.QueryLog).
func writeTopReaders(ctx context.Context, conn driver.Conn, since time.Time, n int, path string) (queryReads, error) {
	var total queryReads
	if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		return total, fmt.Errorf("flushing ClickHouse's query log: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT count(), sum(read_rows), sum(written_rows), sum(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']),
		any(query_kind), any(substring(replaceRegexpAll(query, '\\s+', ' '), 1, 200))
		FROM system.query_log WHERE type = 'QueryFinish' AND event_time_microseconds >= ? AND log_comment != ?
		GROUP BY normalized_query_hash ORDER BY sum(read_rows) DESC, sum(written_rows) DESC`, since, ownComment)
	if err != nil {
		return total, fmt.Errorf("reading ClickHouse's query log: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var b strings.Builder
	fmt.Fprintf(&b, "# ClickHouse queries of the workers since %s, by rows read (per delivery of %d);\n", since.UTC().Format(time.RFC3339), n)
	b.WriteString("# an INSERT's rows read are its materialized views reading the inserted block\n")
	b.WriteString("# cpu_us/dlv: the queries' user+system CPU time in ClickHouse per delivery (for an INSERT, its views' too)\n")
	fmt.Fprintf(&b, "%8s %14s %10s %14s %10s %11s  %s\n", "queries", "rows_read", "read/dlv", "rows_written", "wrtn/dlv", "cpu_us/dlv", "query")
	for line := 0; rows.Next(); line++ {
		var count, read, written, cpu uint64
		var kind, q string
		if err := rows.Scan(&count, &read, &written, &cpu, &kind, &q); err != nil {
			return total, fmt.Errorf("reading ClickHouse's query log: %w", err)
		}
		switch kind {
		case "Select":
			total.selects += read
		case "Insert":
			total.inserts += read
		}
		if line < 20 {
			fmt.Fprintf(&b, "%8d %14d %10.2f %14d %10.2f %11.2f  %s\n", count, read, float64(read)/float64(max(n, 1)), written, float64(written)/float64(max(n, 1)), float64(cpu)/float64(max(n, 1)), q)
		}
	}
	if err := rows.Err(); err != nil {
		return total, fmt.Errorf("reading ClickHouse's query log: %w", err)
	}
	if err := writeParts(ctx, conn, since, n, &b); err != nil {
		return total, err
	}
	return total, os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeParts appends to b the parts each table got since since, from
// system.part_log: new parts (one per insert and per materialized view
// fed), merges, the rows they rewrote and their CPU time per delivery of
// n.
func writeParts(ctx context.Context, conn driver.Conn, since time.Time, n int, b *strings.Builder) error {
	rows, err := conn.Query(ctx, `SELECT database || '.' || table, countIf(event_type = 'NewPart'), sumIf(rows, event_type = 'NewPart'),
		countIf(event_type = 'MergeParts'), sumIf(rows, event_type = 'MergeParts'),
		sumIf(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds'], event_type = 'MergeParts')
		FROM system.part_log WHERE event_time_microseconds >= ? AND database NOT IN ('system')
		GROUP BY 1 ORDER BY 5 DESC, 2 DESC`, since)
	if err != nil {
		return fmt.Errorf("reading ClickHouse's part log: %w", err)
	}
	defer func() { _ = rows.Close() }()
	fmt.Fprintf(b, "\n# parts since %s: new parts (inserts, views) and merges\n", since.UTC().Format(time.RFC3339))
	fmt.Fprintf(b, "%10s %14s %10s %14s %16s  %s\n", "new_parts", "rows", "merges", "rows_merged", "merge_cpu_us/dlv", "table")
	for rows.Next() {
		var table string
		var parts, partRows, merges, merged, cpu uint64
		if err := rows.Scan(&table, &parts, &partRows, &merges, &merged, &cpu); err != nil {
			return fmt.Errorf("reading ClickHouse's part log: %w", err)
		}
		fmt.Fprintf(b, "%10d %14d %10d %14d %16.2f  %s\n", parts, partRows, merges, merged, float64(cpu)/float64(max(n, 1)), table)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading ClickHouse's part log: %w", err)
	}
	return nil
}
