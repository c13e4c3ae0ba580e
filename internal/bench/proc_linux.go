package bench

import "syscall"

// childAttr makes a child process of the bench get SIGTERM when the bench
// dies, so that no broker or worker outlives an interrupted run.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} }
