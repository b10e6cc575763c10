package hosts

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// maxInventoryLine is the longest inventory line accepted, in bytes.
const maxInventoryLine = 1 << 20

// maxForeignLine is how much of a known_hosts or standard-input line is
// looked at; the host is always near the start, the rest is ignored.
const maxForeignLine = 64 << 10

// MaxJumps is the longest chain of jump hosts dt connects through, written
// in the inventory or built from ssh_config ProxyJump lines.
const MaxJumps = 8

// ParseError reports a malformed inventory or standard-input line.
type ParseError struct {
	File string // name given to the parser, or "stdin"
	Line int    // 1-based line number
	Msg  string // what is wrong, quoting the offending text
}

// Error returns "FILE:LINE: MSG".
func (e *ParseError) Error() string {
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Inventory is a parsed host database. Hosts are in file order, one entry
// per name: later lines for a name already seen merge into the first entry
// (see ParseInventory).
//
// Hosts may be replaced or appended to; entries must not be renamed in
// place once Lookup or Select has used the inventory, since a name index is
// cached and only rebuilt when the Hosts slice itself changes.
// An Inventory is safe for concurrent Lookup and Select calls.
type Inventory struct {
	File  string // name given to the parser ("" when built by hand)
	Hosts []Host // in file order

	mu       sync.Mutex
	idx      map[string]int // Name -> first index in Hosts
	idxLen   int
	idxFirst *Host
	idxDups  bool // some Name occurs more than once in Hosts
}

// ParseInventory parses a dtools host database read from r. name is used
// in errors and in Host.Where ("name:line").
//
// Each line is "[user@]host[:port][|JUMP] [tag ...]"; fields are separated
// by spaces or tabs. JUMP is one hop "[user@]host[:port]" or a
// comma-separated chain "j1,j2", nearest the client first (like ssh -J). A
// field starting with '#' starts a comment that runs to the end of the line;
// blank lines are ignored. IPv6 literals are written "[::1]" or
// "[::1]:2222"; an unbracketed name with two or more colons is accepted
// only if it is an IP address, and then has no port. Brackets are for IP
// addresses only; there are no name ranges in the inventory. Host names
// and users use [A-Za-z0-9_.-], tags [A-Za-z0-9_.=-] ('=' for KEY=VALUE
// tags, as the ec2: pattern makes them), and none starts with '-'. A port is
// a number in 1..65535.
//
// A host may appear on several lines; names are compared exactly as
// written. The first line defines the entry, its user, port, jump chain
// and Where; each later line adds its tags (union, in order of first
// appearance). A later line may repeat the first line's user, port and
// jump or leave them out; giving a different value is an error that names
// both lines.
//
// Every malformed line is an error: ParseInventory stops at the first one
// and returns it as a *ParseError. Read errors are returned wrapped with
// name.
func ParseInventory(r io.Reader, name string) (*Inventory, error) {
	inv := &Inventory{File: name}
	idx := make(map[string]int)
	intern := make(map[string]string)
	lr := newLineReader(r, maxInventoryLine)
	lr.stopLong = true // a long line is an error: never read to its end
	var hb hostBuf
	var (
		tagBuf  [32]string
		tagPool []string // tag slices of new hosts are carved from it
		buf     []byte
	)
	for {
		line, long, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		lineNo := lr.line
		fail := func(format string, args ...any) error {
			return &ParseError{File: name, Line: lineNo, Msg: fmt.Sprintf(format, args...)}
		}
		if long {
			return nil, fail("line too long (more than %d bytes)", maxInventoryLine)
		}
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		first, rest := nextField(line)
		if len(first) == 0 || first[0] == '#' {
			continue
		}
		// One allocation holds both the host field and Where.
		buf = append(append(buf[:0], first...), name...)
		buf = strconv.AppendInt(append(buf, ':'), int64(lineNo), 10)
		both := string(buf)
		s, where := both[:len(first)], both[len(first):]
		h, msg := parseHostSpec(s)
		if msg != "" {
			return nil, fail("%s", msg)
		}
		tags := tagBuf[:0]
		for {
			var f []byte
			f, rest = nextField(rest)
			if len(f) == 0 || f[0] == '#' {
				break
			}
			t, ok := intern[string(f)]
			if !ok {
				t = string(f)
				if !validTag(t) {
					return nil, fail("%s", badTagMsg(t))
				}
				intern[t] = t
			}
			tags = append(tags, t)
		}
		tags = appendNewTags(tags[:0], tags)
		if i, dup := idx[h.Name]; dup {
			p := hb.at(i)
			if h.User != "" && h.User != p.User || h.Port != "" && h.Port != p.Port ||
				len(h.Jump) > 0 && !slices.Equal(h.Jump, p.Jump) {
				return nil, fail("host %q redefined with a different user, port or jump: %q here, %q at %s",
					h.Name, h.String(), p.String(), p.Where)
			}
			p.Tags = appendNewTags(p.Tags, tags)
			continue
		}
		if k := len(tags); k > 0 {
			if cap(tagPool)-len(tagPool) < k {
				tagPool = make([]string, 0, max(1024, k))
			}
			n := len(tagPool)
			tagPool = append(tagPool, tags...)
			h.Tags = tagPool[n : n+k : n+k] // full: appending reallocates
		}
		h.Where = where
		idx[h.Name] = hb.n
		hb.add(h)
	}
	inv.Hosts = hb.slice()
	inv.setIndex(idx, false)
	return inv, nil
}

// hostBuf collects hosts in fixed-size chunks, so a large inventory is
// not copied again and again while it grows.
type hostBuf struct {
	chunks [][]Host
	n      int
}

const hostChunk = 4096

func (b *hostBuf) add(h Host) {
	if b.n%hostChunk == 0 {
		b.chunks = append(b.chunks, make([]Host, 0, hostChunk))
	}
	c := &b.chunks[len(b.chunks)-1]
	*c = append(*c, h)
	b.n++
}

func (b *hostBuf) at(i int) *Host { return &b.chunks[i/hostChunk][i%hostChunk] }

// slice returns the hosts in one slice of exactly the right size.
func (b *hostBuf) slice() []Host {
	if len(b.chunks) == 1 {
		return b.chunks[0][:b.n:b.n]
	}
	out := make([]Host, 0, b.n)
	for _, c := range b.chunks {
		out = append(out, c...)
	}
	return out
}

// appendNewTags appends to dst each tag of add that is not yet in dst,
// keeping order. dst and add may share their start (dst = add[:0]).
func appendNewTags(dst, add []string) []string {
	if len(dst)+len(add) <= 16 {
		for _, t := range add {
			if !slices.Contains(dst, t) {
				dst = append(dst, t)
			}
		}
		return dst
	}
	seen := make(map[string]struct{}, len(dst)+len(add))
	for _, t := range dst {
		seen[t] = struct{}{}
	}
	for _, t := range add {
		if _, ok := seen[t]; !ok {
			seen[t] = struct{}{}
			dst = append(dst, t)
		}
	}
	return dst
}

// badTagMsg explains why t is not a valid tag.
func badTagMsg(t string) string {
	if strings.HasPrefix(t, "-") {
		return fmt.Sprintf("bad tag %q: a tag must not start with '-'", t)
	}
	return fmt.Sprintf("bad tag %q: use only letters, digits, '.', '_', '-' and '='", t)
}

// parseHostSpec parses the first field of an inventory line,
// [user@]host[:port][|JUMP]. On failure it returns a message that quotes
// the field.
func parseHostSpec(s string) (Host, string) {
	spec, jump, hasJump := strings.Cut(s, "|")
	hop, msg := parseHop(spec)
	if msg != "" {
		return Host{}, fmt.Sprintf("%s in %q", msg, s)
	}
	h := Host{Hop: hop}
	if !hasJump {
		return h, ""
	}
	if jump == "" {
		return Host{}, fmt.Sprintf("bad jump spec %q (empty) in %q", jump, s)
	}
	if strings.IndexByte(jump, '|') >= 0 {
		return Host{}, fmt.Sprintf("bad jump spec %q (more than one '|') in %q", jump, s)
	}
	n := strings.Count(jump, ",") + 1
	if n > MaxJumps {
		return Host{}, fmt.Sprintf("jump chain of %d hosts in %q; at most %d are allowed", n, s, MaxJumps)
	}
	h.Jump = make([]Hop, 0, n)
	for j := range strings.SplitSeq(jump, ",") {
		if j == "" {
			return Host{}, fmt.Sprintf("bad jump spec %q (empty jump host) in %q", jump, s)
		}
		jh, msg := parseHop(j)
		if msg != "" {
			return Host{}, fmt.Sprintf("bad jump spec %q (%s) in %q", j, msg, s)
		}
		h.Jump = append(h.Jump, jh)
	}
	return h, ""
}

// nextField returns the first space- or tab-separated field of b and what
// follows it.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	return b[i:j], b[j:]
}

// LoadInventory opens and parses the inventory file at path. An error from
// opening the file is returned wrapped (its text includes the path), so
// errors.Is(err, fs.ErrNotExist) tells a missing file apart.
func LoadInventory(path string) (*Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	return ParseInventory(f, path)
}

// ParseKnownHosts builds a fallback inventory, without tags, from an
// OpenSSH known_hosts file, as dtools did when no host database existed.
//
// Each line's first field is a comma-separated list of host patterns; every
// plain pattern becomes a host, "[host]:port" giving Name host and Port
// port. Skipped: blank and '#' lines, hashed ("|1|...") entries, lines with
// an @cert-authority or @revoked (or any '@') marker, patterns containing
// '*', '?' or '!', names that are not valid host names or IP addresses, and
// lines with fewer than three fields. known_hosts is not dt's file, so
// malformed lines are skipped rather than reported; only read errors are
// returned. A name seen twice keeps its first entry.
func ParseKnownHosts(r io.Reader, name string) (*Inventory, error) {
	inv := &Inventory{File: name}
	idx := make(map[string]int)
	lr := newLineReader(r, maxForeignLine)
	for {
		line, _, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		first, rest := nextField(line)
		if len(first) == 0 || first[0] == '#' || first[0] == '@' || first[0] == '|' {
			continue
		}
		// Need a key type and a key after the host list.
		f2, rest := nextField(rest)
		f3, _ := nextField(rest)
		if len(f2) == 0 || len(f3) == 0 {
			continue
		}
		for pat := range strings.SplitSeq(string(first), ",") {
			hop, ok := knownHostPattern(pat)
			if !ok {
				continue
			}
			if _, dup := idx[hop.Name]; dup {
				continue
			}
			idx[hop.Name] = len(inv.Hosts)
			inv.Hosts = append(inv.Hosts, Host{Hop: hop, Where: name + ":" + strconv.Itoa(lr.line)})
		}
	}
	inv.setIndex(idx, false)
	return inv, nil
}

// knownHostPattern turns one known_hosts host pattern into a Hop, or
// reports false for patterns that do not name exactly one usable host.
func knownHostPattern(p string) (Hop, bool) {
	if p == "" || strings.ContainsAny(p, "*?!|@") {
		return Hop{}, false
	}
	if p[0] == '[' {
		name, after, ok := strings.Cut(p[1:], "]")
		if !ok || !(validName(name) || validIP(name)) {
			return Hop{}, false
		}
		h := Hop{Name: name}
		if after == "" {
			return h, true
		}
		if after[0] != ':' {
			return Hop{}, false
		}
		port, ok := parsePort(after[1:])
		if !ok {
			return Hop{}, false
		}
		h.Port = port
		return h, true
	}
	if validName(p) || validIP(p) {
		return Hop{Name: p}, true
	}
	return Hop{}, false
}

// LoadKnownHosts opens and parses an OpenSSH known_hosts file with
// ParseKnownHosts. Open errors are wrapped like LoadInventory's.
func LoadKnownHosts(path string) (*Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	defer f.Close()
	return ParseKnownHosts(f, path)
}

// Lookup returns the inventory entry whose Name is exactly name.
func (inv *Inventory) Lookup(name string) (Host, bool) {
	if inv == nil {
		return Host{}, false
	}
	idx, _ := inv.index()
	i, ok := idx[name]
	if !ok {
		return Host{}, false
	}
	return inv.Hosts[i], true
}

// Tags returns every tag used in the inventory, sorted, without
// duplicates.
func (inv *Inventory) Tags() []string {
	if inv == nil {
		return nil
	}
	seen := make(map[string]struct{})
	var out []string
	for i := range inv.Hosts {
		for _, t := range inv.Hosts[i].Tags {
			if _, ok := seen[t]; !ok {
				seen[t] = struct{}{}
				out = append(out, t)
			}
		}
	}
	sort.Strings(out)
	return out
}

// setIndex records idx as the name index of the current Hosts slice.
func (inv *Inventory) setIndex(idx map[string]int, dups bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.idx, inv.idxLen, inv.idxDups = idx, len(inv.Hosts), dups
	inv.idxFirst = nil
	if len(inv.Hosts) > 0 {
		inv.idxFirst = &inv.Hosts[0]
	}
}

// index returns the Name -> first-index map of Hosts, rebuilding it when
// the Hosts slice has changed since it was built, and whether some name
// occurs more than once. The map must not be modified.
func (inv *Inventory) index() (map[string]int, bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var first *Host
	if len(inv.Hosts) > 0 {
		first = &inv.Hosts[0]
	}
	if inv.idx != nil && inv.idxLen == len(inv.Hosts) && inv.idxFirst == first {
		return inv.idx, inv.idxDups
	}
	idx := make(map[string]int, len(inv.Hosts))
	dups := false
	for i := range inv.Hosts {
		n := inv.Hosts[i].Name
		if _, ok := idx[n]; ok {
			dups = true
			continue
		}
		idx[n] = i
	}
	inv.idx, inv.idxLen, inv.idxFirst, inv.idxDups = idx, len(inv.Hosts), first, dups
	return idx, dups
}

// lineReader reads lines of any length, keeping at most max bytes of each.
type lineReader struct {
	br   *bufio.Reader
	max  int
	buf  []byte
	line int // number of the line last returned
	// stopLong returns a line as soon as it is known to be long, without
	// reading the rest of it: for a reader that rejects long lines, so
	// that an endless one (-D /dev/zero) ends at once.
	stopLong bool
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line without its "\n" or "\r\n". A line longer
// than max bytes is cut to max bytes and long is true. The slice is valid
// until the next call. After the last line err is io.EOF.
func (lr *lineReader) next() (line []byte, long bool, err error) {
	chunk, err := lr.br.ReadSlice('\n')
	if err == nil {
		lr.line++
		return lr.cut(trimEOL(chunk), false)
	}
	lr.buf = lr.buf[:0]
	for {
		if room := lr.max + 2 - len(lr.buf); len(chunk) > room {
			lr.buf = append(lr.buf, chunk[:room]...)
			long = true
			if lr.stopLong {
				lr.line++
				return lr.buf[:lr.max], true, nil
			}
		} else {
			lr.buf = append(lr.buf, chunk...)
		}
		switch err {
		case nil:
			lr.line++
			return lr.cut(trimEOL(lr.buf), long)
		case bufio.ErrBufferFull:
			chunk, err = lr.br.ReadSlice('\n')
		case io.EOF:
			if len(lr.buf) == 0 {
				return nil, false, io.EOF
			}
			lr.line++
			return lr.cut(trimEOL(lr.buf), long)
		default:
			return nil, false, err
		}
	}
}

func (lr *lineReader) cut(b []byte, long bool) ([]byte, bool, error) {
	if len(b) > lr.max {
		return b[:lr.max], true, nil
	}
	return b, long, nil
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}
