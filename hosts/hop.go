package hosts

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// parseHop parses [user@]name[:port] as written in the inventory, in a
// sys: pattern or on standard input for out:. On failure it returns a
// message without location or context, such as `bad port "99999"`; the
// caller appends ` in "FIELD"`.
//
// Rules: the user is everything before the first '@' and uses the user
// alphabet (validUser). A name in brackets must be an IP address and may be
// followed by :port. An unbracketed name with two or more ':' must be an
// IPv6 address and never carries a port; with exactly one ':' it is
// name:port. Names use letters, digits, '.', '-' and '_' and do not start
// with '-' (so they can never be taken for an ssh option).
func parseHop(s string) (Hop, string) {
	var h Hop
	rest := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		h.User, rest = s[:i], s[i+1:]
		if h.User == "" {
			return Hop{}, "empty user"
		}
		if !validUser(h.User) {
			return Hop{}, fmt.Sprintf("bad user %q", h.User)
		}
	}
	if rest == "" {
		return Hop{}, "empty host"
	}
	port, hasPort := "", false
	if rest[0] == '[' {
		j := strings.IndexByte(rest, ']')
		if j < 0 || strings.IndexByte(rest[1:j], '[') >= 0 {
			return Hop{}, "unbalanced brackets"
		}
		name, after := rest[1:j], rest[j+1:]
		if strings.ContainsAny(after, "[]") {
			return Hop{}, "unbalanced brackets"
		}
		if name == "" {
			return Hop{}, "empty host"
		}
		if !validIP(name) {
			return Hop{}, fmt.Sprintf("bad host %q: brackets are only for IP addresses", name)
		}
		h.Name = name
		if after != "" {
			if after[0] != ':' {
				return Hop{}, fmt.Sprintf("unexpected %q after \"]\"", after)
			}
			port, hasPort = after[1:], true
		}
	} else {
		if strings.ContainsAny(rest, "[]") {
			if strings.Count(rest, "[") != strings.Count(rest, "]") {
				return Hop{}, "unbalanced brackets"
			}
			return Hop{}, fmt.Sprintf("bad host %q: brackets are only for IP addresses", rest)
		}
		switch strings.Count(rest, ":") {
		case 0:
			h.Name = rest
		case 1:
			h.Name, port, _ = strings.Cut(rest, ":")
			hasPort = true
		default:
			if !validIP(rest) {
				return Hop{}, fmt.Sprintf("bad host %q: write an IPv6 address as [addr] or [addr]:port", rest)
			}
			h.Name = rest
		}
		if h.Name == "" {
			return Hop{}, "empty host"
		}
		if !validName(h.Name) && !validIP(h.Name) {
			return Hop{}, fmt.Sprintf("bad host %q", h.Name)
		}
	}
	if hasPort {
		if port == "" {
			return Hop{}, "empty port"
		}
		p, ok := parsePort(port)
		if !ok {
			return Hop{}, fmt.Sprintf("bad port %q", port)
		}
		h.Port = p
	}
	return h, ""
}

// parsePort accepts 1 to 5 ASCII digits with a value in 1..65535 and
// returns it in canonical form (no leading zeros).
func parsePort(s string) (string, bool) {
	if len(s) == 0 || len(s) > 5 {
		return "", false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return "", false
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return "", false
	}
	if s[0] != '0' {
		return s, true
	}
	return strconv.Itoa(n), true
}

// isWordByte reports whether c is one of [A-Za-z0-9_.-], the alphabet of
// tags, host names and users.
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '-' || c == '_'
}

// validWord reports whether s is a non-empty [A-Za-z0-9_.-]+ word that does
// not start with '-'.
func validWord(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

// validName reports whether s is a usable host name or alias.
func validName(s string) bool { return validWord(s) }

// validUser reports whether s is a usable remote user name.
func validUser(s string) bool { return validWord(s) }

// validTag reports whether s is a usable tag: a word, where '=' is allowed
// too (AWS tags come in as KEY=VALUE, see the ec2: pattern).
func validTag(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) && s[i] != '=' {
			return false
		}
	}
	return true
}

// ValidTag reports whether s can be a tag: letters, digits, '.', '_',
// '-' and '=', not starting with '-'.
func ValidTag(s string) bool { return validTag(s) }

// validIP reports whether s is an IPv4 or IPv6 address, optionally with a
// zone made of word characters (fe80::1%eth0).
func validIP(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	if z := a.Zone(); z != "" && !validWord(z) {
		return false
	}
	return true
}
