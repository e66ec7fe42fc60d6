//go:build unix && !linux

package supervise

import "syscall"

// sysProcAttr: without Pdeathsig outside Linux, the child may outlive us.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
