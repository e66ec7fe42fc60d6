package member

import (
	"strings"
	"sync"
)

// warnedScheme remembers the URLs already warned about, so that each is
// named once per process, not at every look.
var warnedScheme sync.Map

// sameScheme drops the URLs whose scheme is not o.ClientScheme.
func (o Options) sameScheme(urls []string) []string {
	if o.ClientScheme == "" {
		return urls
	}
	var out []string
	for _, u := range urls {
		if strings.HasPrefix(strings.ToLower(u), o.ClientScheme+"://") {
			out = append(out, u)
			continue
		}
		if _, seen := warnedScheme.LoadOrStore(u, true); !seen {
			o.Log.Warn("ignoring a client URL of another scheme than the configured one", "url", u, "scheme", o.ClientScheme)
		}
	}
	return out
}
