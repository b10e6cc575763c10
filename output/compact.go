package output

import "sync"

// Compact is the compact view (dtcompact): a '.' for each okay record, a
// '!' for each failed one and a '-' for each skipped one, on one line as
// they come, then the failures (and skips) in full, as the status view
// prints them:
//
//	..........!.....!....
//	fail  (2 hosts)
//	  web2  exit 1: grep: /etc/foo: No such file or directory
//	  db3   connect: dial tcp 127.0.0.3:22: connection refused
//
// Only the records that are not okay are held until Close.
type Compact struct {
	status StatusView
	mu     sync.Mutex
	dots   bool // a line of dots is open
}

// Write prints r's mark, holding it when it failed. A --stream line
// prints as "HOST: LINE" on a line of its own.
func (c *Compact) Write(r Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := &c.status.people
	if r.Line {
		if c.dots {
			p.buf = append(p.buf, '\n')
			c.dots = false
		}
		return p.live(r)
	}
	c.dots = true
	switch r.Status {
	case Okay:
		p.paint(colorOkay, ".")
		return p.flush()
	case Skip:
		p.paint(colorSkip, "-")
	default:
		p.paint(colorFail, "!")
	}
	r.Retain()
	c.status.recs = append(c.status.recs, r)
	return p.flush()
}

// Close ends the line of marks and prints the failures.
func (c *Compact) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := &c.status.people
	if c.dots {
		p.buf = append(p.buf, '\n')
		c.dots = false
	}
	if err := p.flush(); err != nil {
		return err
	}
	return c.status.Close()
}
