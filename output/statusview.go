package output

import "sync"

// StatusView is the status view (dtstatus): records grouped by status,
// failures first, each as "  HOST  MESSAGE" in the order they came, with a
// header naming the status and how many hosts it has:
//
//	fail  (2 hosts)
//	  web2  exit 1: grep: /etc/foo: No such file or directory
//	  db3   connect: dial tcp 127.0.0.3:22: connection refused
//
//	okay  (397 hosts)
//	  web1  Linux 6.1.0-18-amd64
//	  ...
//
// It prints nothing before Close. It holds every record, but a command's
// output beyond SpoolLimit stays in its spool file.
type StatusView struct {
	people
	mu   sync.Mutex
	recs []Record
}

// maxHostColumn caps the width of the host column.
const maxHostColumn = 24

// Write holds r until Close; a --stream line prints at once.
func (v *StatusView) Write(r Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.Line {
		return v.live(r)
	}
	r.Retain()
	v.recs = append(v.recs, r)
	return nil
}

// Close prints the groups.
func (v *StatusView) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.print(v.recs)
	for _, r := range v.recs {
		r.Release()
	}
	v.recs = nil
	return v.flush()
}

// print writes recs grouped by status.
func (v *StatusView) print(recs []Record) {
	first := true
	for rank := 0; rank <= len(Statuses); rank++ {
		var group []Record
		var names []string
		width := 0
		for _, r := range recs {
			if statusRank(r.Status) == rank {
				group = append(group, r)
				names = append(names, r.Host)
				width = max(width, min(len(r.Host), maxHostColumn))
			}
		}
		if len(group) == 0 {
			continue
		}
		if !first {
			v.buf = append(v.buf, '\n')
		}
		first = false
		v.status(group[0].Status)
		v.buf = append(v.buf, "  ("...)
		v.buf = append(v.buf, plural(countHosts(names), "host")...)
		v.buf = append(v.buf, ")\n"...)
		indent := make([]byte, 2+width+2)
		for i := range indent {
			indent[i] = ' '
		}
		for _, r := range group {
			v.buf = append(v.buf, "  "...)
			v.host(r.Host)
			if emptyText(r) {
				v.buf = append(v.buf, '\n')
				continue
			}
			for n := len(r.Host); n < width+2; n++ {
				v.buf = append(v.buf, ' ')
			}
			if len(r.Host) >= width+2 {
				v.buf = append(v.buf, ' ')
			}
			v.text(r, string(indent))
		}
	}
}
