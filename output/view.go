package output

import (
	"fmt"
	"io"
	"strings"
)

// View is a Writer for people. It may print records as they come (host,
// compact) or hold them until Close (gather, status). Write and Close are
// safe for concurrent use with each other's Writes. A view that keeps a
// record after Write returns calls Record.Retain, and Release once printed.
type View interface {
	Writer
	// Close prints what the view held back. Call it once, after the last
	// Write.
	Close() error
}

// ViewOptions says how a view prints.
type ViewOptions struct {
	// Color puts ANSI colours on statuses and hosts (see ColorWanted).
	Color bool
	// Fold writes a set of host names compactly, "web[01-20],db1"; dt
	// passes hosts.Fold. Nil joins the names with commas.
	Fold func(names []string) string
}

// ViewNames are the views --view and "dt view" accept. "lines" is dt's
// line format (Omni, or JSON with --json); the others are NewView's.
var ViewNames = []string{"lines", "gather", "host", "status", "compact"}

// NewView returns the view for people called name, printing to w:
//
//   - gather: records with the same status and message form one group,
//     printed once under its folded host set and count; the smallest
//     groups first (the odd ones out), failures before okay among equal
//     sizes, then by host set. Nothing prints before Close.
//   - host: for each host, its name on a line, then each of its records as
//     "  STATUS  MESSAGE", printed as they come: feed it records host by
//     host (dt sorts them by selection order for this view).
//   - status: records grouped by status, failures first, each record as
//     "  HOST  MESSAGE" in the order it came. Nothing prints before Close.
//   - compact: a '.' for each okay record and a '!' for each failure as
//     they come, then at Close the failures as in status.
//
// Every view shows Message(r), multi-line output indented under its
// first line, with control bytes escaped as in the OMNI line except
// newline and tab. Records marked Line (--stream) are printed at once in
// every view, as "HOST: LINE".
func NewView(name string, w io.Writer, o ViewOptions) (View, error) {
	p := people{w: w, opts: o}
	switch name {
	case "gather":
		return &Gather{people: p, groups: map[[32]byte]*gatherGroup{}}, nil
	case "host":
		return &HostView{people: p}, nil
	case "status":
		return &StatusView{people: p}, nil
	case "compact":
		return &Compact{status: StatusView{people: p}}, nil
	}
	return nil, fmt.Errorf("unknown view %q; views: %s", name, strings.Join(ViewNames, ", "))
}

// live appends a --stream line as "HOST: LINE".
func (p *people) live(r Record) error {
	p.host(r.Host)
	p.buf = append(p.buf, ": "...)
	if err := p.text(r, "  "); err != nil {
		return err
	}
	return p.flush()
}

// emptyText reports whether Message(r) is empty.
func emptyText(r Record) bool { return !prefixed(r) && textLimit(r) == 0 }
