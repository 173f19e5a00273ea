//go:build !linux

package platform

import "syscall"

// procAttr puts a job's process in a process group of its own. Only Linux
// has Pdeathsig: elsewhere a job's process outlives a server that is
// killed, and its lock keeps the next server from starting it twice.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
