package supervise

import (
	"maps"
	"slices"
	"strings"
)

// etcdPrefix marks etcd's own settings in the environment.
const etcdPrefix = "ETCD_"

// denied are variables the etcd child never sees, from either source: the
// service manager's (the child must not talk to systemd or claim its
// sockets) and etcd-rejoin's own.
var denied = map[string]bool{
	"NOTIFY_SOCKET":                true,
	"WATCHDOG_USEC":                true,
	"WATCHDOG_PID":                 true,
	"LISTEN_FDS":                   true,
	"LISTEN_PID":                   true,
	"LISTEN_FDNAMES":               true,
	"ETCD_OTHER_PEERS_CLIENT_URLS": true,
}

// ownPrefix marks etcd-rejoin's own variables.
const ownPrefix = "ETCD_REJOIN_"

// BuildEnv returns the etcd child's environment, sorted by name. From base
// (os.Environ() in main) it keeps everything except ETCD_* variables, the
// service manager's variables and etcd-rejoin's own; etcd's settings come only
// from settings (ETCD_* name -> value). Denied names in settings are dropped
// too. Malformed entries (no '=', empty name) are dropped; for a name given
// twice in base the last one wins.
func BuildEnv(base []string, settings map[string]string) []string {
	vars := make(map[string]string, len(base)+len(settings))
	for _, kv := range base {
		name, value, ok := strings.Cut(kv, "=")
		if ok && validName(name) && !strings.HasPrefix(name, etcdPrefix) && !isDenied(name) {
			vars[name] = value
		}
	}
	for name, value := range settings {
		if validName(name) && !isDenied(name) {
			vars[name] = value
		}
	}
	return render(vars)
}

// isDenied reports whether name must never reach the child.
func isDenied(name string) bool {
	return denied[name] || strings.HasPrefix(name, ownPrefix)
}

// validName rejects names the kernel's NAME=value format cannot carry.
func validName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "=\x00")
}

// render turns vars into sorted NAME=value entries.
func render(vars map[string]string) []string {
	names := slices.Sorted(maps.Keys(vars))
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = name + "=" + vars[name]
	}
	return out
}
