//go:build linux && amd64

package chdb

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/ebitengine/purego"
)

// library is libchdb.so as loaded into a server child process. Only the
// child loads it (see child_linux_amd64.go), once, for its whole life.
type library struct {
	queryCmdline             func(argc int32, argv **byte) uintptr
	resultError              func(result uintptr) string
	destroyQueryResult       func(result uintptr)
	setSignalHandlersEnabled func(enabled int32)
}

// loadLibrary loads libchdb from path and disables its crash handlers.
func loadLibrary(path string) (*library, error) {
	// RTLD_LOCAL keeps libchdb's symbols (it bundles its own allocator and
	// C++ runtime) out of the global namespace.
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	l := &library{}
	for _, f := range []struct {
		fn   any
		name string
	}{
		{&l.queryCmdline, "chdb_query_cmdline"},
		{&l.resultError, "chdb_result_error"},
		{&l.destroyQueryResult, "chdb_destroy_query_result"},
		{&l.setSignalHandlersEnabled, "chdb_set_signal_handlers_enabled"},
	} {
		if _, err := purego.Dlsym(h, f.name); err != nil {
			return nil, fmt.Errorf("loading %s: symbol %s missing (is it libchdb %s?): %w", path, f.name, LibVersion, err)
		}
		purego.RegisterLibFunc(f.fn, h, f.name)
	}

	// Left enabled, libchdb installs handlers for SIGSEGV, SIGBUS, SIGFPE,
	// SIGILL, SIGABRT, SIGTRAP, SIGSYS and SIGTSTP when a query starts,
	// replacing the Go runtime's (and without SA_ONSTACK): a nil dereference
	// in Go code then kills the process from ClickHouse's crash handler
	// instead of panicking. The opt-out call itself may reset those signals
	// to SIG_DFL, so Go's dispositions are saved around it and put back.
	saved := snapshotSignals()
	l.setSignalHandlersEnabled(0)
	restoreSignals(saved)
	return l, nil
}

// runCmdline calls chdb_query_cmdline with args and returns the error text
// of its result ("" when it reports none). It blocks until the command
// line's queries have finished; for a server that is its whole life.
func (l *library) runCmdline(args []string) string {
	var pin runtime.Pinner
	defer pin.Unpin()
	argv := make([]*byte, len(args)+1)
	for i, a := range args {
		b := append([]byte(a), 0)
		pin.Pin(&b[0])
		argv[i] = &b[0]
	}
	pin.Pin(&argv[0])
	res := l.queryCmdline(int32(len(args)), &argv[0])
	if res == 0 {
		return "chdb_query_cmdline returned no result"
	}
	defer l.destroyQueryResult(res)
	return l.resultError(res)
}

// sigaction is the kernel's struct sigaction on linux/amd64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// signalSet holds the dispositions of signals 1..64, indexed by number.
type signalSet [65]sigaction

const sigsetSize = 8 // bytes in the kernel's sigset_t on amd64

func snapshotSignals() *signalSet {
	var s signalSet
	for sig := 1; sig < len(s); sig++ {
		// Errors (SIGKILL, SIGSTOP, numbers the kernel reserves) leave the
		// zero value, which restoreSignals skips.
		_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&s[sig])), sigsetSize, 0, 0)
	}
	return &s
}

// restoreSignals reinstates every handler in saved that was a real handler
// (not SIG_DFL or SIG_IGN) and has since been replaced, and returns the
// signal numbers it reinstated. Signals that had no handler in saved are
// left alone: libchdb uses some of them (SIGRTMIN) for its own threads.
func restoreSignals(saved *signalSet) []int {
	now := snapshotSignals()
	var restored []int
	for sig := 1; sig < len(saved); sig++ {
		if saved[sig].handler <= 1 || saved[sig] == now[sig] {
			continue
		}
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&saved[sig])), 0, sigsetSize, 0, 0)
		if errno == 0 {
			restored = append(restored, sig)
		}
	}
	return restored
}
