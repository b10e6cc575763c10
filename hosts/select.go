package hosts

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strconv"
)

// Env is what Select evaluates a pattern against.
type Env struct {
	Inv   *Inventory // the host database; nil means an empty one
	Stdin io.Reader  // read (once, fully) only if the pattern has an out: term
	// EC2 lists the running instances an ec2: term selects, as hosts
	// with their AWS tags as Tags (see package ec2); it is called once
	// per distinct term. Nil: ec2: terms are an error.
	EC2 func(q EC2) ([]Host, error)
}

// Select returns the hosts matched by p.
//
// Hosts are deduplicated by Name. Inventory hosts come first, in inventory
// order, then hosts that are not in the inventory (from sys: or out:) in
// the order the pattern first names them. Inventory hosts are returned
// as stored (their Tags and Jump slices are shared with the inventory),
// except that a user or port given explicitly by sys: or out: replaces the
// inventory's; if several are given for one host the first one wins. Hosts
// read from standard input have Where "stdin:LINE".
//
// Matching no host is not an error: the result is then empty. Errors come
// from reading standard input (a bad line is a *ParseError with File
// "stdin").
func Select(p Pattern, env Env) ([]Host, error) {
	if p == nil {
		return nil, errors.New("hosts: nil pattern")
	}
	s := newSelector(p, env)
	set, err := p.eval(s, universe{open: true})
	if err != nil {
		return nil, err
	}
	out := make([]Host, 0, set.count())
	set.each(func(i int) {
		if i >= s.n {
			out = append(out, s.extras[i-s.n])
			return
		}
		h := s.hosts[i]
		if s.dups && s.nameIndex()[h.Name] != i {
			return
		}
		if o, ok := s.over[i]; ok {
			if o.User != "" {
				h.User = o.User
			}
			if o.Port != "" {
				h.Port = o.Port
			}
		}
		if more, ok := s.moreTags[i]; ok {
			h.Tags = appendNewTags(append([]string(nil), h.Tags...), more)
		}
		out = append(out, h)
	})
	return out, nil
}

// selector is the state of one Select call. Host i < n is inventory host
// i; host n+j is extras[j], a host named by sys: or out: that is not in the
// inventory.
type selector struct {
	env   Env
	inv   *Inventory
	hosts []Host
	n     int

	names    map[string]int // inventory name index, built on first use
	dups     bool
	allBits  bitset
	tagBits  map[string]bitset
	extras   []Host
	extraIdx map[string]int
	over     map[int]Hop       // explicit user/port for inventory hosts
	moreTags map[int][]string  // tags an ec2: term gave inventory hosts
	ec2      map[string][]Host // instances by ec2: term, asked once

	stdinDone  bool
	stdinHosts []stdinHost
	stdinErr   error
}

func newSelector(p Pattern, env Env) *selector {
	s := &selector{env: env, inv: env.Inv}
	if s.inv != nil {
		s.hosts = s.inv.Hosts
		s.n = len(s.hosts)
		_, s.dups = s.inv.index()
	}
	// One pass over the inventory for the tags the pattern uses.
	walk(p, func(q Pattern) {
		if t, ok := q.(Tag); ok {
			for _, op := range t {
				if s.tagBits == nil {
					s.tagBits = make(map[string]bitset)
				}
				if _, ok := s.tagBits[op.Tag]; !ok {
					s.tagBits[op.Tag] = newBitset(s.n)
				}
			}
		}
	})
	if s.tagBits != nil {
		for i := range s.hosts {
			for _, t := range s.hosts[i].Tags {
				if b, ok := s.tagBits[t]; ok {
					b.add(i)
				}
			}
		}
	}
	return s
}

func (s *selector) nameIndex() map[string]int {
	if s.names == nil && s.inv != nil {
		s.names, s.dups = s.inv.index()
	}
	return s.names
}

// all returns the set of every inventory host. It must not be modified.
func (s *selector) all() bitset {
	if s.allBits == nil {
		b := newBitset(s.n)
		for i := range b {
			b[i] = ^uint64(0)
		}
		if r := s.n % 64; r != 0 {
			b[len(b)-1] = 1<<r - 1
		}
		s.allBits = b
	}
	return s.allBits
}

// name returns the Name of host i.
func (s *selector) name(i int) string {
	if i < s.n {
		return s.hosts[i].Name
	}
	return s.extras[i-s.n].Name
}

// universe is the set of hosts a term is evaluated over. At the top of a
// pattern it is open: every inventory host, plus any host sys: or out:
// names. Inside a chain or not: it is set, a closed set of hosts.
type universe struct {
	open bool
	set  bitset
}

// base returns the hosts a term that selects from existing hosts ranges
// over. It must not be modified.
func (s *selector) base(u universe) bitset {
	if u.open {
		return s.all()
	}
	return u.set
}

// named returns the host index for an explicitly named hop, adding a host
// outside the inventory when u is open, or -1 when the host is not in u.
// An explicit user or port is recorded for an inventory host.
func (s *selector) named(h Hop, where string, u universe) int {
	i, ok := s.nameIndex()[h.Name]
	if !ok {
		j, ok := s.extraIdx[h.Name]
		if !ok {
			if !u.open {
				return -1
			}
			if s.extraIdx == nil {
				s.extraIdx = make(map[string]int)
			}
			j = len(s.extras)
			s.extraIdx[h.Name] = j
			s.extras = append(s.extras, Host{Hop: h, Where: where})
		}
		i = s.n + j
	}
	if !u.open && !u.set.has(i) {
		return -1
	}
	if i < s.n && (h.User != "" || h.Port != "") {
		if _, done := s.over[i]; !done {
			if s.over == nil {
				s.over = make(map[int]Hop)
			}
			s.over[i] = h
		}
	}
	return i
}

// tagged records that host i (named by an ec2: term) carries tags, for
// the tag: terms evaluated after it and for the result.
func (s *selector) tagged(i int, tags []string) {
	for _, t := range tags {
		if b, ok := s.tagBits[t]; ok {
			s.tagBits[t] = b.add(i)
		}
	}
	if i < s.n {
		if s.moreTags == nil {
			s.moreTags = make(map[int][]string)
		}
		s.moreTags[i] = appendNewTags(s.moreTags[i], tags)
	} else {
		e := &s.extras[i-s.n]
		e.Tags = appendNewTags(e.Tags, tags)
	}
}

func (p EC2) eval(s *selector, u universe) (bitset, error) {
	found, ok := s.ec2[p.Text]
	if !ok {
		if s.env.EC2 == nil {
			return nil, errors.New("ec2: no access to AWS configured")
		}
		var err error
		if found, err = s.env.EC2(p); err != nil {
			return nil, err
		}
		if s.ec2 == nil {
			s.ec2 = make(map[string][]Host)
		}
		s.ec2[p.Text] = found
	}
	var r bitset
	for _, h := range found {
		if i := s.named(h.Hop, h.Where, u); i >= 0 {
			s.tagged(i, h.Tags)
			r = r.add(i)
		}
	}
	return r, nil
}

func (p Union) eval(s *selector, u universe) (bitset, error) {
	var r bitset
	for _, t := range p {
		x, err := t.eval(s, u)
		if err != nil {
			return nil, err
		}
		r = r.or(x)
	}
	return r, nil
}

func (p Chain) eval(s *selector, u universe) (bitset, error) {
	if len(p) == 0 {
		return nil, nil
	}
	for _, t := range p {
		r, err := t.eval(s, u)
		if err != nil {
			return nil, err
		}
		u = universe{set: r}
	}
	return u.set, nil
}

func (p Sys) eval(s *selector, u universe) (bitset, error) {
	var r bitset
	for _, h := range p.Hosts {
		if i := s.named(h, "", u); i >= 0 {
			r = r.add(i)
		}
	}
	return r, nil
}

func (p Exp) eval(s *selector, u universe) (bitset, error) {
	if p.Re == nil {
		return nil, errors.New("hosts: exp: pattern without a regexp")
	}
	base := s.base(u)
	r := make(bitset, len(base))
	base.each(func(i int) {
		if p.Re.MatchString(s.name(i)) {
			r.add(i)
		}
	})
	return r, nil
}

func (p Tag) eval(s *selector, u universe) (bitset, error) {
	base := s.base(u)
	r := make(bitset, len(base))
	if len(p) > 0 && p[0].Op == '-' {
		copy(r, base)
	}
	for _, op := range p {
		t := s.tagBits[op.Tag] // nil for a tag no host has
		switch op.Op {
		case ',':
			for w := range min(len(r), len(t)) {
				r[w] |= base[w] & t[w]
			}
		case '+':
			for w := range r {
				if w < len(t) {
					r[w] &= t[w]
				} else {
					r[w] = 0
				}
			}
		case '-':
			for w := range min(len(r), len(t)) {
				r[w] &^= t[w]
			}
		default:
			return nil, fmt.Errorf("hosts: bad tag operator %q", op.Op)
		}
	}
	return r, nil
}

func (p Not) eval(s *selector, u universe) (bitset, error) {
	if p.P == nil {
		return nil, errors.New("hosts: not: pattern without an operand")
	}
	base := s.base(u)
	x, err := p.P.eval(s, universe{set: base})
	if err != nil {
		return nil, err
	}
	r := make(bitset, len(base))
	copy(r, base)
	for w := range min(len(r), len(x)) {
		r[w] &^= x[w]
	}
	return r, nil
}

func (All) eval(s *selector, u universe) (bitset, error) {
	base := s.base(u)
	r := make(bitset, len(base))
	copy(r, base)
	return r, nil
}

func (Nil) eval(s *selector, u universe) (bitset, error) { return nil, nil }

func (p Out) eval(s *selector, u universe) (bitset, error) {
	lines, err := s.stdin()
	if err != nil {
		return nil, err
	}
	var r bitset
	for _, l := range lines {
		if !p.keeps(l.status) {
			continue
		}
		if i := s.named(l.hop, "stdin:"+strconv.Itoa(l.line), u); i >= 0 {
			r = r.add(i)
		}
	}
	return r, nil
}

// stdin reads and parses standard input on first use.
func (s *selector) stdin() ([]stdinHost, error) {
	if !s.stdinDone {
		s.stdinDone = true
		if s.env.Stdin == nil {
			s.stdinErr = errors.New("out: reads hosts from standard input, but there is none")
		} else {
			s.stdinHosts, s.stdinErr = readStdinHosts(s.env.Stdin)
		}
	}
	return s.stdinHosts, s.stdinErr
}

// bitset is a set of host indices.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) has(i int) bool {
	w := i / 64
	return w < len(b) && b[w]&(1<<(uint(i)%64)) != 0
}

// add sets bit i, growing b if needed, and returns b.
func (b bitset) add(i int) bitset {
	w := i / 64
	for w >= len(b) {
		b = append(b, 0)
	}
	b[w] |= 1 << (uint(i) % 64)
	return b
}

// or adds every member of x to b, growing b if needed, and returns b.
func (b bitset) or(x bitset) bitset {
	for len(b) < len(x) {
		b = append(b, 0)
	}
	for w, v := range x {
		b[w] |= v
	}
	return b
}

func (b bitset) count() int {
	n := 0
	for _, v := range b {
		n += bits.OnesCount64(v)
	}
	return n
}

// each calls f for every member of b in increasing order.
func (b bitset) each(f func(i int)) {
	for w, v := range b {
		for v != 0 {
			f(w*64 + bits.TrailingZeros64(v))
			v &= v - 1
		}
	}
}
