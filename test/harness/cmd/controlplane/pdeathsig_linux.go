//go:build linux

package main

import (
	"os/exec"
	"syscall"
)

// askSignalOnParentDeath makes the kernel send SIGTERM to this process when the thread
// that started it exits (normally: when the parent process dies).
func askSignalOnParentDeath() {
	const prSetPdeathsig = 1 // PR_SET_PDEATHSIG
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGTERM), 0)
}

// childAttrs puts a child in its own process group (a Ctrl-C on the terminal reaches only
// us; we stop the children in order) and has the kernel SIGKILL it should we die without
// cleaning up (e.g. SIGKILL). Go never ends the OS thread that forked unless it is locked,
// so Pdeathsig fires only on our own death.
func childAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
