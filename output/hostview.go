package output

import "sync"

// HostView is the host view (dthost): one block per host, its name on a
// line, then each of its records as "  STATUS  MESSAGE":
//
//	web1
//	  okay  Linux 6.1.0-18-amd64
//	web2
//	  fail  exit 1: grep: /etc/foo: No such file or directory
//
// It prints each record as it comes and starts a new block whenever the
// host changes, so records must come host by host: dt sorts them into
// selection order for this view, and "dt view host" groups a file's
// records by host first.
type HostView struct {
	people
	mu   sync.Mutex
	last string
	any  bool
}

// hostIndent lines up a message's later lines under its first.
const hostIndent = "        "

// Write prints r; a --stream line prints as "HOST: LINE".
func (v *HostView) Write(r Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.Line {
		v.any = false // the next record starts a new block
		return v.live(r)
	}
	if !v.any || r.Host != v.last {
		v.host(r.Host)
		v.buf = append(v.buf, '\n')
		v.last, v.any = r.Host, true
	}
	v.buf = append(v.buf, "  "...)
	v.status(r.Status)
	if emptyText(r) {
		v.buf = append(v.buf, '\n')
	} else {
		v.buf = append(v.buf, "  "...)
		v.text(r, hostIndent)
	}
	return v.flush()
}

// Close has nothing to print: every record printed as it came.
func (v *HostView) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.flush()
}
