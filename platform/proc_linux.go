package platform

import "syscall"

// procAttr makes a job's process die with the server (SIGKILL when the
// thread that started it ends, which supervise keeps alive while the
// process runs) and puts it in a process group of its own, so that a
// Ctrl-C at the server's terminal reaches the server, which stops the jobs
// in order, and not the jobs directly.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
