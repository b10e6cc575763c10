package runner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
//
// Match and Include lines are renamed before parsing (rewriteKeywords), so
// kevinburke/ssh_config reads each as a keyword of the Host block above
// it, with a Match block's lines as more lines of that block. configIndex
// evaluates the Match lines itself (matchApplies), so blocks holding one
// are looked at for every alias, and reads Included files through its
// configLoader.
type configIndex struct {
	name     string
	cfg      *ssh_config.Config
	literal  map[string][]int                  // alias -> indexes of blocks naming it literally
	other    []int                             // blocks with a wildcard, a negation or a Match line
	hasMatch bool                              // here or in an included file
	includes map[*ssh_config.KV][]*configIndex // the files of each Include line
	warnings []string                          // Match criteria dt does not evaluate, by line
}

// newConfigIndex indexes c, read from the file name. The files its Include
// lines name are read through l.
func (l *configLoader) newConfigIndex(name string, c *ssh_config.Config, depth int) (*configIndex, error) {
	x := &configIndex{name: name, cfg: c, literal: map[string][]int{}, includes: map[*ssh_config.KV][]*configIndex{}}
	for i, h := range c.Hosts {
		withMatch := false
		for _, n := range h.Nodes {
			kv, ok := n.(*ssh_config.KV)
			switch {
			case !ok:
			case kv.Key == matchKey:
				withMatch = true
				for _, crit := range unsupportedCriteria(kv.Value) {
					x.warnings = append(x.warnings, fmt.Sprintf("%s:%d: Match %s is not evaluated by dt; the block's settings are not used", name, kv.Pos().Line, crit))
				}
			case kv.Key == includeKey:
				files, err := l.include(kv.Value, depth)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: Include: %w", name, kv.Pos().Line, err)
				}
				x.includes[kv] = files
				for _, f := range files {
					x.hasMatch = x.hasMatch || f.hasMatch
				}
			}
		}
		if withMatch || !literalBlock(h) {
			x.hasMatch = x.hasMatch || withMatch
			x.other = append(x.other, i)
			continue
		}
		for _, p := range h.Patterns {
			alias := p.String()
			if idx := x.literal[alias]; len(idx) == 0 || idx[len(idx)-1] != i {
				x.literal[alias] = append(idx, i)
			}
		}
	}
	return x, nil
}

// maxIncludeDepth bounds nested Include lines, as OpenSSH's does.
const maxIncludeDepth = 16

// configLoader reads ssh_config files, and the files they Include, each
// once per run.
type configLoader struct {
	home  string // ~ in Include paths
	base  string // where relative Include paths are: ~/.ssh, or /etc/ssh for the system file
	files map[string]*configIndex
}

// load reads and indexes one file; a missing file gives nil.
func (l *configLoader) load(name string, depth int) (*configIndex, error) {
	if x, ok := l.files[name]; ok {
		return x, nil
	}
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := ssh_config.Decode(bytes.NewReader(rewriteKeywords(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	x, err := l.newConfigIndex(name, c, depth)
	if err != nil {
		return nil, err
	}
	l.files[name] = x
	return x, nil
}

// include reads the files an Include line names: blank-separated paths,
// "~" for home, relative to l.base, with glob patterns expanded in
// lexical order. Files that do not exist are skipped, as by OpenSSH.
func (l *configLoader) include(value string, depth int) ([]*configIndex, error) {
	if depth >= maxIncludeDepth {
		return nil, fmt.Errorf("nested more than %d deep (a loop?)", maxIncludeDepth)
	}
	var out []*configIndex
	for _, p := range strings.Fields(value) {
		p = strings.Trim(p, `"`)
		switch {
		case p == "~":
			p = l.home
		case strings.HasPrefix(p, "~/"):
			p = filepath.Join(l.home, p[2:])
		case !filepath.IsAbs(p):
			p = filepath.Join(l.base, p)
		}
		names, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("bad pattern %q", p)
		}
		slices.Sort(names)
		for _, name := range names {
			x, err := l.load(name, depth+1)
			if err != nil {
				return nil, err
			}
			if x != nil {
				out = append(out, x)
			}
		}
	}
	return out, nil
}

// matchKey and includeKey are what rewriteKeywords renames Match and
// Include to.
const (
	matchKey   = "DtMatch"
	includeKey = "DtInclude"
)

// rewriteKeywords renames the Match and Include keywords of an ssh_config
// file before kevinburke/ssh_config parses it; line numbers do not change.
//
// That parser evaluates only "Match all" and "Match host", the latter
// against the alias rather than the HostName, and rejects every other
// criterion, so a ~/.ssh/config with "Match exec" or "Match user" would
// stop dt. Renamed, a Match line is an ordinary keyword of the block above
// it, the Match block's lines follow it there, and configIndex evaluates
// it. Include is renamed so that dt reads the included files the same way
// (the parser would read them itself, without this rewriting).
func rewriteKeywords(data []byte) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, l := range lines {
		rest := bytes.TrimLeft(l, " \t")
		for _, k := range []struct{ from, to string }{{"match", matchKey}, {"include", includeKey}} {
			n := len(k.from)
			if len(rest) > n && bytes.EqualFold(rest[:n], []byte(k.from)) && strings.ContainsRune(" \t=", rune(rest[n])) {
				lines[i] = slices.Concat(l[:len(l)-len(rest)], []byte(k.to), rest[n:])
			}
		}
	}
	return bytes.Join(lines, nil)
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

// matchTarget is what Match criteria are tested against.
type matchTarget struct {
	alias     string // originalhost
	host      string // host: HostName as the Host blocks give it, else alias
	user      string // user: the inventory's, else the Host blocks', else local
	localUser string
	noMatch   bool // take no Match block (to find host and user first)
	// exec runs a Match exec command (%-tokens still in it) and says
	// whether it exited 0.
	exec func(cmd string) bool
}

// lines returns the lines of the file that apply to t, in order, and
// whether the file ended early at a line the parser did not know (as
// ssh_config.Get, dt then reads nothing after it).
func (x *configIndex) lines(t matchTarget) ([]ssh_config.Node, bool) {
	idx := slices.Clone(x.literal[t.alias])
	idx = append(idx, x.other...)
	slices.Sort(idx)
	var out []ssh_config.Node
	for _, i := range idx {
		h := x.cfg.Hosts[i]
		active := h.Matches(t.alias)
		for _, n := range h.Nodes {
			switch v := n.(type) {
			case *ssh_config.KV:
				switch {
				case v.Key == matchKey:
					active = !t.noMatch && matchApplies(v.Value, t)
				case !active:
				case v.Key == includeKey:
					for _, inc := range x.includes[v] {
						lines, _ := inc.lines(t)
						out = append(out, lines...)
					}
				default:
					out = append(out, v)
				}
			case *ssh_config.Empty:
			default:
				return out, true
			}
		}
	}
	return out, false
}

// hostConfig is the ssh_config seen by one alias: the lines that apply to
// it, file by file, files in order.
type hostConfig struct {
	alias     string
	files     [][]ssh_config.Node
	truncated []bool // the file ended early (see configIndex.lines)
}

// get returns the first value of key, as ssh_config.Config.Get does file
// by file, the first file with a value winning.
func (h *hostConfig) get(key string) string {
	for _, nodes := range h.files {
		if v, ok := firstValue(nodes, h.alias, key); ok {
			return v
		}
	}
	return ""
}

func firstValue(nodes []ssh_config.Node, alias, key string) (string, bool) {
	for _, n := range nodes {
		switch t := n.(type) {
		case *ssh_config.KV:
			if strings.EqualFold(t.Key, key) {
				return t.Value, t.Value != ""
			}
		}
	}
	return "", false
}

// first returns whichever of keys has a value first, in ssh_config's
// order (files, then lines), and that value. OpenSSH takes ProxyJump and
// ProxyCommand this way: the first one given wins.
func (h *hostConfig) first(keys ...string) (key, value string) {
	for _, nodes := range h.files {
		for _, n := range nodes {
			switch t := n.(type) {
			case *ssh_config.KV:
				for _, k := range keys {
					if strings.EqualFold(t.Key, k) && t.Value != "" {
						return k, t.Value
					}
				}
			}
		}
	}
	return "", ""
}

// getAll returns every value of key in every file, in order.
func (h *hostConfig) getAll(key string) []string {
	var all []string
	for i, nodes := range h.files {
		if h.truncated[i] {
			continue // as ssh_config.GetAll: the file gives nothing
		}
		for _, n := range nodes {
			switch t := n.(type) {
			case *ssh_config.KV:
				if strings.EqualFold(t.Key, key) {
					all = append(all, t.Value)
				}
			}
		}
	}
	return all
}

// matchApplies evaluates the criteria of a Match line for t: all must
// hold, and as in OpenSSH an exec command runs only when the criteria
// before it held. dt evaluates all, final (dt reads the config once, as
// the final pass), canonical (never: dt does not canonicalize names),
// host, originalhost, user, localuser and exec, each negatable with "!".
// Criteria it does not evaluate (localnetwork, tagged, ...) make the block
// not apply; NewResolver warns about them.
func matchApplies(line string, t matchTarget) bool {
	words := matchWords(line)
	if len(words) == 0 {
		return false
	}
	for i := 0; i < len(words); i++ {
		c := strings.ToLower(words[i])
		neg := strings.HasPrefix(c, "!")
		c = strings.TrimPrefix(c, "!")
		var ok bool
		switch c {
		case "all", "final":
			ok = true
		case "canonical":
			ok = false
		case "host", "originalhost", "user", "localuser":
			if i+1 == len(words) {
				return false
			}
			i++
			subject := map[string]string{"host": t.host, "originalhost": t.alias, "user": t.user, "localuser": t.localUser}[c]
			ok = matchPatternList(subject, words[i], c == "host" || c == "originalhost")
		case "exec":
			if i+1 == len(words) || t.exec == nil {
				return false
			}
			i++
			ok = t.exec(words[i])
		default:
			return false
		}
		if ok == neg {
			return false
		}
	}
	return true
}

// unsupportedCriteria lists the criteria of a Match line that
// matchApplies does not evaluate.
func unsupportedCriteria(line string) []string {
	var out []string
	words := matchWords(line)
	for i := 0; i < len(words); i++ {
		c := strings.TrimPrefix(strings.ToLower(words[i]), "!")
		switch c {
		case "all", "final", "canonical":
		case "host", "originalhost", "user", "localuser", "exec":
			i++
		default:
			out = append(out, c)
			i++ // every other criterion takes an argument
		}
	}
	return out
}

// matchWords splits a Match line at blanks; double quotes group.
func matchWords(s string) []string {
	var (
		words []string
		cur   strings.Builder
		inQ   bool
		have  bool
	)
	for _, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
			have = true
		case (r == ' ' || r == '\t') && !inQ:
			if have {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		words = append(words, cur.String())
	}
	return words
}

// matchPatternList matches s against a comma-separated ssh_config pattern
// list: wildcards * and ?, and "!pattern" entries that veto a match.
func matchPatternList(s, list string, fold bool) bool {
	if fold {
		s = strings.ToLower(s)
	}
	found := false
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if fold {
			p = strings.ToLower(p)
		}
		if wildcard(p, s) {
			if neg {
				return false
			}
			found = true
		}
	}
	return found
}

// wildcard matches s against p, where * is any run and ? any one byte.
func wildcard(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcard(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}
