package output

import (
	"cmp"
	"slices"
	"sync"
)

// Gather is the gather view (clush -b, dshbak -c): hosts whose records
// print the same form one group, shown once under the folded host set:
//
//	fail  db3  (1 host)
//	    connect: dial tcp 127.0.0.3:22: connection refused
//
//	okay  h[001-020,022],db1  (21 hosts)
//	    Linux 6.1.0-18-amd64
//
// Groups are ordered smallest first, so the odd ones are on top and the
// majority at the bottom; among equal sizes failures come first, then by
// host set. The order does not depend on the order records came in. It
// keeps one record per group (Retain), so memory grows with the number of
// different outputs, not hosts.
type Gather struct {
	people
	mu     sync.Mutex
	groups map[[32]byte]*gatherGroup
}

type gatherGroup struct {
	rec   Record
	hosts []string
}

// Write adds r to its group; a --stream line prints at once.
func (g *Gather) Write(r Record) error {
	if r.Line {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.live(r)
	}
	key, err := textKey(r)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if gr, ok := g.groups[key]; ok {
		gr.hosts = append(gr.hosts, r.Host)
		return nil
	}
	r.Retain()
	g.groups[key] = &gatherGroup{rec: r, hosts: []string{r.Host}}
	return nil
}

// Close prints the groups.
func (g *Gather) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	type shown struct {
		gr     *gatherGroup
		n      int
		folded string
	}
	list := make([]shown, 0, len(g.groups))
	for _, gr := range g.groups {
		list = append(list, shown{gr, countHosts(gr.hosts), g.fold(gr.hosts)})
	}
	slices.SortFunc(list, func(a, b shown) int {
		if c := cmp.Compare(a.n, b.n); c != 0 {
			return c
		}
		if c := cmp.Compare(statusRank(a.gr.rec.Status), statusRank(b.gr.rec.Status)); c != 0 {
			return c
		}
		return cmp.Compare(a.folded, b.folded)
	})
	for i, s := range list {
		if i > 0 {
			g.buf = append(g.buf, '\n')
		}
		g.status(s.gr.rec.Status)
		g.buf = append(g.buf, "  "...)
		g.host(s.folded)
		g.buf = append(g.buf, "  ("...)
		g.buf = append(g.buf, plural(s.n, "host")...)
		g.buf = append(g.buf, ")\n"...)
		if !emptyText(s.gr.rec) {
			g.buf = append(g.buf, "    "...)
			g.text(s.gr.rec, "    ")
		}
		s.gr.rec.Release()
	}
	g.groups = map[[32]byte]*gatherGroup{}
	return g.flush()
}
