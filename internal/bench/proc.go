package bench

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times of /proc/<pid>/stat: Linux reports
// them in clock ticks of 1/100 s on every architecture (USER_HZ).
const userHZ = 100

// procSample is what /proc says about one process at one time.
type procSample struct {
	// CPU is the user plus system time the process used so far, its
	// threads included (10 ms resolution).
	CPU time.Duration
	// PeakRSSMB is the peak resident set (VmHWM) since the process
	// started or since resetPeakRSS; RSSMB is the resident set now.
	PeakRSSMB, RSSMB float64
}

// readProc reads the CPU time and resident sets of process pid.
func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
	}
	s.CPU, err = parseStatCPU(string(stat))
	if err != nil {
		return s, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
		if name == "VmHWM" {
			s.PeakRSSMB = kb / 1024
		} else {
			s.RSSMB = kb / 1024
		}
	}
	return s, sc.Err()
}

// parseStatCPU returns utime+stime of a /proc/<pid>/stat line. The fields
// are counted after the command name's closing parenthesis, since the
// name may hold spaces.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("CPU ticks %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// resetPeakRSS makes the kernel start the peak resident set (VmHWM) of
// process pid again from its resident set now, so that a later reading
// is the peak of what came after.
func resetPeakRSS(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS of process %d: %w", pid, err)
	}
	return nil
}

// freeLoopbackAddr returns a 127.0.0.1 address whose port was free a
// moment ago, for a child process to listen on.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// readThreads reads the CPU time of each thread of process pid, by thread
// id, with the thread's name (/proc/<pid>/task/<tid>/stat). A thread that
// exits while it is read is left out.
func readThreads(pid int) (map[int]threadSample, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing the threads of process %d: %w", pid, err)
	}
	out := make(map[int]threadSample, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(dir + "/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		cpu, err := parseStatCPU(string(stat))
		if err != nil {
			return nil, fmt.Errorf("reading the CPU time of thread %d of process %d: %w", tid, pid, err)
		}
		name := ""
		if i, j := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')'); i >= 0 && j > i {
			name = string(stat[i+1 : j])
		}
		out[tid] = threadSample{name: name, cpu: cpu}
	}
	return out, nil
}

// threadSample is one thread's name and CPU time so far.
type threadSample struct {
	name string
	cpu  time.Duration
}

// threadCPU is the CPU time a process's threads used from a to b, summed
// by thread name, with the rest of the process's CPU time in that stretch
// (threads that exited, or were not yet or no longer listed) under
// "(exited threads)". total is the process's CPU time from a to b.
func threadCPU(a, b map[int]threadSample, total time.Duration) map[string]time.Duration {
	out := map[string]time.Duration{}
	var listed time.Duration
	for tid, t := range b {
		d := t.cpu
		if before, ok := a[tid]; ok && before.name == t.name {
			d -= before.cpu
		}
		out[t.name] += d
		listed += d
	}
	if rest := total - listed; rest > 0 {
		out["(exited threads)"] = rest
	}
	return out
}

// machineCPU is the machine's CPU time so far from the first line of
// /proc/stat, in clock ticks of every core together: busy (user, nice,
// system, irq, softirq, steal) and all (busy plus idle and iowait).
type machineCPU struct {
	busy, all int64
}

// readMachineCPU reads the machine's CPU times; the zero value where
// /proc/stat cannot be read (a machine without it reports no busy share).
func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	return parseMachineCPU(string(b))
}

// parseMachineCPU parses the "cpu" line of /proc/stat: user nice system
// idle iowait irq softirq steal (guest times are within user and nice).
func parseMachineCPU(stat string) machineCPU {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}
	}
	var v [8]int64
	for i := range v {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return machineCPU{}
		}
		v[i] = n
	}
	busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return machineCPU{busy: busy, all: busy + v[3] + v[4]}
}
