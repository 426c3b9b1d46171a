//go:build unix && !linux

package main

import (
	"os/exec"
	"syscall"
)

func askSignalOnParentDeath() {}

func childAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
