package hosts

import "fmt"

// ParseHop parses one [user@]name[:port] endpoint as the inventory writes
// it (IPv6 in brackets when a port follows). The runner uses it for
// ssh_config ProxyJump entries.
func ParseHop(s string) (Hop, error) {
	h, msg := parseHop(s)
	if msg != "" {
		return Hop{}, fmt.Errorf("%s in %q", msg, s)
	}
	return h, nil
}
