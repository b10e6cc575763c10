package runner

import (
	"slices"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// configIndex answers ssh_config lookups for one parsed file without
// matching every Host block's patterns for every keyword: ssh_config.Get
// runs the patterns of all blocks (regular expressions) once per keyword,
// which for an ssh_config with a block per host made resolving a run
// quadratic in the number of hosts. Blocks whose patterns are all plain
// names are found through a map; only blocks with wildcards or negations
// are matched pattern by pattern, once per alias.
type configIndex struct {
	cfg     *ssh_config.Config
	literal map[string][]int // alias -> indexes of blocks naming it literally
	other   []int            // blocks with a wildcard or negated pattern
}

func newConfigIndex(c *ssh_config.Config) *configIndex {
	x := &configIndex{cfg: c, literal: map[string][]int{}}
	for i, h := range c.Hosts {
		if !literalBlock(h) {
			x.other = append(x.other, i)
			continue
		}
		for _, p := range h.Patterns {
			name := p.String()
			if l := x.literal[name]; len(l) == 0 || l[len(l)-1] != i {
				x.literal[name] = append(l, i)
			}
		}
	}
	return x
}

// literalBlock reports whether every pattern of h is a plain name, so that
// h.Matches(alias) is exactly "alias is one of them". A block without
// patterns (there should be none) is left to h.Matches.
func literalBlock(h *ssh_config.Host) bool {
	if len(h.Patterns) == 0 {
		return false
	}
	for _, p := range h.Patterns {
		s := p.String()
		if s == "" || s[0] == '!' || strings.ContainsAny(s, "*?") {
			return false
		}
	}
	return true
}

// blocks returns the blocks that apply to alias, in file order.
func (x *configIndex) blocks(alias string) []*ssh_config.Host {
	idx := slices.Clone(x.literal[alias])
	for _, i := range x.other {
		if x.cfg.Hosts[i].Matches(alias) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	out := make([]*ssh_config.Host, len(idx))
	for j, i := range idx {
		out[j] = x.cfg.Hosts[i]
	}
	return out
}

// hostConfig is the ssh_config seen by one alias: the matching blocks of
// each file, files in order.
type hostConfig struct {
	alias string
	files [][]*ssh_config.Host
}

// get returns the first value of key, as ssh_config.Config.Get does file
// by file, the first file with a value winning.
func (h *hostConfig) get(key string) string {
	for _, blocks := range h.files {
		if v, ok := firstValue(blocks, h.alias, key); ok {
			return v
		}
	}
	return ""
}

func firstValue(blocks []*ssh_config.Host, alias, key string) (string, bool) {
	for _, b := range blocks {
		for _, n := range b.Nodes {
			switch t := n.(type) {
			case *ssh_config.KV:
				if strings.EqualFold(t.Key, key) {
					return t.Value, t.Value != ""
				}
			case *ssh_config.Include:
				if v := t.Get(alias, key); v != "" {
					return v, true
				}
			case *ssh_config.Empty:
			default:
				return "", false // as ssh_config.Get: an unknown node ends the file
			}
		}
	}
	return "", false
}

// first returns whichever of keys has a value first, in ssh_config's
// order (files, then blocks, then lines), and that value. OpenSSH takes
// ProxyJump and ProxyCommand this way: the first one given wins.
func (h *hostConfig) first(keys ...string) (key, value string) {
	for _, blocks := range h.files {
		for _, b := range blocks {
			for _, n := range b.Nodes {
				switch t := n.(type) {
				case *ssh_config.KV:
					for _, k := range keys {
						if strings.EqualFold(t.Key, k) && t.Value != "" {
							return k, t.Value
						}
					}
				case *ssh_config.Include:
					for _, k := range keys {
						if v := t.Get(h.alias, k); v != "" {
							return k, v
						}
					}
				case *ssh_config.Empty:
				default:
					return "", "" // as ssh_config.Get: an unknown node ends the file
				}
			}
		}
	}
	return "", ""
}

// getAll returns every value of key in every file, in order.
func (h *hostConfig) getAll(key string) []string {
	var all []string
	for _, blocks := range h.files {
		var vals []string
		ok := true
		for _, b := range blocks {
			for _, n := range b.Nodes {
				switch t := n.(type) {
				case *ssh_config.KV:
					if strings.EqualFold(t.Key, key) {
						vals = append(vals, t.Value)
					}
				case *ssh_config.Include:
					v, _ := t.GetAll(h.alias, key)
					vals = append(vals, v...)
				case *ssh_config.Empty:
				default:
					ok = false // as ssh_config.GetAll: the file gives nothing
				}
			}
		}
		if ok {
			all = append(all, vals...)
		}
	}
	return all
}
