package hosts

import "strings"

// Hop is one SSH endpoint as written in the inventory: [user@]name[:port].
// Empty User and Port mean "not given here; ask ssh_config".
type Hop struct {
	User string
	Name string // host name, alias or IP literal, without brackets
	Port string
}

// Host is one inventory entry (or a host named on the command line).
type Host struct {
	Hop         // the host itself
	Jump  []Hop // jump hosts from the "|" part, nearest the client first
	Tags  []string
	Where string // "file:line" that defined the host ("stdin:N" for out:); "" otherwise
}

// String returns the hop as [user@]name[:port]. A name containing ':' (an
// IPv6 literal) is put in brackets when a port follows it, so the result
// parses back to the same Hop.
func (h Hop) String() string {
	var b strings.Builder
	b.Grow(len(h.User) + len(h.Name) + len(h.Port) + 4)
	if h.User != "" {
		b.WriteString(h.User)
		b.WriteByte('@')
	}
	if h.Port != "" && strings.IndexByte(h.Name, ':') >= 0 {
		b.WriteByte('[')
		b.WriteString(h.Name)
		b.WriteByte(']')
	} else {
		b.WriteString(h.Name)
	}
	if h.Port != "" {
		b.WriteByte(':')
		b.WriteString(h.Port)
	}
	return b.String()
}

// String returns the host as the first field of an inventory line:
// [user@]name[:port][|jump1,jump2]. Tags are not included.
func (h Host) String() string {
	s := h.Hop.String()
	if len(h.Jump) == 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s)
	for i, j := range h.Jump {
		if i == 0 {
			b.WriteByte('|')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(j.String())
	}
	return b.String()
}

// HasTag reports whether the host carries tag t.
func (h Host) HasTag(t string) bool {
	for _, x := range h.Tags {
		if x == t {
			return true
		}
	}
	return false
}
