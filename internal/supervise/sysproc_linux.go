package supervise

import "syscall"

// sysProcAttr keeps the child in our process group (so systemd's
// KillMode=mixed reaches it as the unit intends) and has the kernel send it
// SIGTERM if the thread that started it dies, so it cannot outlive us.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
