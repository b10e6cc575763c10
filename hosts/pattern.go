package hosts

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/dtools/dt/output"
)

// Grammar is the short help text for host patterns, for dt --help and
// dt --list.
const Grammar = `Host patterns (keys: all ec2 exp nil not out sys tag):
  web1,root@db2:2222,[::1]:22  hosts by name (same as sys:), in the inventory or not
  sys:web[01-12,20]            ranges; zero padding follows the first number
  tag:web,+prod,-canary        left to right: ,T or  ,+T and  ,-T and not
  tag:-canary                  a leading -T means every host without T
  exp:^db[0-9]+$               inventory hosts whose name matches a Go regexp
  not:P  all:  nil:            inventory hosts not matched by P / every host / none
  out:  out:fail  out:fail,skip  hosts read from stdin: names, or dt output lines by status
  P+KEY:...                    union: tag:web+sys:extra1 (+ splits only before KEY:)
  P:KEY:...                    filter: tag:linux:exp:^db = linux hosts named db...
  ec2:web-*  ec2:tag=K=V      running EC2 instances: Name glob, tag, sec=GROUP, FILTER=V
Hosts come in inventory order, then the others in the order given.`

// keys lists the pattern keys, sorted.
var keys = [...]string{"all", "ec2", "exp", "nil", "not", "out", "sys", "tag"}

// Keys returns the valid pattern keys, sorted.
func Keys() []string { return append([]string(nil), keys[:]...) }

// PatternError reports a host pattern that does not parse.
type PatternError struct {
	Pattern string // the whole pattern given to ParsePattern
	Msg     string // what is wrong, quoting the offending term
}

// Error returns the message, which quotes the offending term.
func (e *PatternError) Error() string { return e.Msg }

// Pattern is a parsed host pattern: a tree of Union, Chain, Sys, Exp, Tag,
// Not, All, Nil and Out nodes. Evaluate it with Select.
type Pattern interface {
	// String returns the pattern in canonical text form; for a tree
	// built by ParsePattern, ParsePattern(p.String()) gives an
	// equivalent tree.
	String() string

	eval(s *selector, u universe) (bitset, error)
}

// Union is P1+P2+...: every host matched by any term, each evaluated over
// the same hosts.
type Union []Pattern

// Chain is P1:P2:...: each term after the first is evaluated over the
// hosts the previous term selected, so it narrows them.
type Chain []Pattern

// Sys names hosts explicitly: sys:h1,h2 or a bare h1,h2. Hosts absent from
// the inventory are selected too, as Hosts with just a Hop.
type Sys struct {
	Text  string // the value as written, before range expansion
	Hosts []Hop  // after range expansion, in order
}

// Exp selects hosts whose Name matches a Go regular expression
// (unanchored, as regexp.MatchString).
type Exp struct {
	Re *regexp.Regexp
}

// Tag is tag:T1,T2,+T3,-T4: tag operations applied left to right.
type Tag []TagOp

// TagOp is one operation of a Tag pattern. Op is ',' (union with the hosts
// carrying Tag), '+' (intersection) or '-' (subtraction). The result
// starts empty, or as every host when the first Op is '-'; ParsePattern
// stores a leading '+' as ','.
type TagOp struct {
	Op  byte
	Tag string
}

// EC2 is ec2:VALUE: the running EC2 instances that one DescribeInstances
// filter selects. VALUE is NAME (a glob on the Name tag, filter
// tag:Name), tag=KEY=VALUE (filter tag:KEY), sec=GROUP (filter
// instance.group-name) or FILTER=VALUE (any DescribeInstances filter).
// Select asks Env.EC2 for the instances.
type EC2 struct {
	Text   string // the value as written
	Filter string // the DescribeInstances filter name
	Value  string // its value (EC2 filters take * and ? wildcards)
}

// Not is not:P: every host not matched by P.
type Not struct {
	P Pattern
}

// All is all:, every host.
type All struct{}

// Nil is nil:, no host.
type Nil struct{}

// Out is out:, out:fail, out:fail,skip...: hosts read from standard input,
// either plain names or dt output lines. Statuses is empty (every line) or
// the statuses of the dt output lines to keep (a union).
type Out struct {
	Statuses []output.Status
}

// String returns the terms joined with "+".
func (p Union) String() string { return joinPatterns(p, "+") }

// String returns the terms joined with ":".
func (p Chain) String() string { return joinPatterns(p, ":") }

// String returns "sys:" and the value as written.
func (p Sys) String() string { return "sys:" + p.Text }

// String returns "exp:" and the regexp.
func (p Exp) String() string {
	if p.Re == nil {
		return "exp:"
	}
	return "exp:" + p.Re.String()
}

// String returns "tag:" and the operations.
func (p Tag) String() string {
	var b strings.Builder
	b.WriteString("tag:")
	for i, op := range p {
		switch {
		case i > 0:
			b.WriteByte(',')
			if op.Op != ',' {
				b.WriteByte(op.Op)
			}
		case op.Op == '-':
			b.WriteByte('-')
		}
		b.WriteString(op.Tag)
	}
	return b.String()
}

// String returns "ec2:" and the value as written.
func (p EC2) String() string { return "ec2:" + p.Text }

// String returns "not:" and the negated pattern.
func (p Not) String() string {
	if p.P == nil {
		return "not:"
	}
	return "not:" + p.P.String()
}

// String returns "all:".
func (All) String() string { return "all:" }

// String returns "nil:".
func (Nil) String() string { return "nil:" }

// String returns "out:" and the statuses.
func (p Out) String() string {
	names := make([]string, len(p.Statuses))
	for i, st := range p.Statuses {
		names[i] = string(st)
	}
	return "out:" + strings.Join(names, ",")
}

// keeps reports whether out: keeps a line of status st ("" for a plain
// name).
func (p Out) keeps(st output.Status) bool {
	return len(p.Statuses) == 0 || slices.Contains(p.Statuses, st)
}

// outChoices lists out: and out:STATUS for every status output.Parse
// accepts: "out:, out:fail, out:skip or out:okay, or several joined with
// commas (out:fail,skip)".
func outChoices() string {
	choices := []string{"out:"}
	for _, st := range output.Statuses {
		choices = append(choices, "out:"+string(st))
	}
	n := len(choices)
	return strings.Join(choices[:n-1], ", ") + " or " + choices[n-1] + ", or several joined with commas (out:fail,skip)"
}

func joinPatterns(ps []Pattern, sep string) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		if p != nil {
			parts[i] = p.String()
		}
	}
	return strings.Join(parts, sep)
}

// ReadsStdin reports whether evaluating p reads standard input, that is
// whether it contains an out: term.
func ReadsStdin(p Pattern) bool {
	found := false
	walk(p, func(q Pattern) {
		if _, ok := q.(Out); ok {
			found = true
		}
	})
	return found
}

// walk calls f for p and every pattern below it.
func walk(p Pattern, f func(Pattern)) {
	if p == nil {
		return
	}
	f(p)
	switch q := p.(type) {
	case Union:
		for _, t := range q {
			walk(t, f)
		}
	case Chain:
		for _, t := range q {
			walk(t, f)
		}
	case Not:
		walk(q.P, f)
	}
}

// ParsePattern parses a host pattern; see Grammar and the package
// documentation. Errors are *PatternError.
//
// Splitting: the pattern is first cut into union terms at every '+' that
// is immediately followed by a key and ':' ("+tag:", "+sys:", ...); each
// union term is then cut into chain terms at every ':' immediately followed
// by a key and ':'. Anywhere else '+' and ':' are ordinary characters, so
// "exp:a+b" is one regexp and "tag:a,+b" is an intersection. A not: term
// takes the rest of its chain as its operand.
func ParsePattern(s string) (Pattern, error) {
	p := &parser{whole: s}
	if s == "" {
		return nil, p.errf("empty host pattern")
	}
	var terms []Pattern
	for start := 0; ; {
		end := splitAt(s, start, '+')
		part := s[start:]
		if end >= 0 {
			part = s[start:end]
		}
		if part == "" {
			return nil, p.errf("empty term before %q in %q", "+", s)
		}
		t, err := p.chain(part)
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if end < 0 {
			break
		}
		start = end + 1
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return Union(terms), nil
}

// keyAt returns the key that s starts with, followed by ':', or "".
func keyAt(s string) string {
	for _, k := range keys {
		if len(s) > len(k) && s[len(k)] == ':' && s[:len(k)] == k {
			return k
		}
	}
	return ""
}

// splitAt returns the first index i >= from with s[i] == sep and a key and
// ':' right after it, or -1.
func splitAt(s string, from int, sep byte) int {
	for i := from; i < len(s); i++ {
		if s[i] == sep && keyAt(s[i+1:]) != "" {
			return i
		}
	}
	return -1
}

type parser struct {
	whole string
	names int // explicit host names so far, after range expansion
}

func (p *parser) errf(format string, args ...any) error {
	return &PatternError{Pattern: p.whole, Msg: fmt.Sprintf(format, args...)}
}

// chain parses a union term: one or more chain terms.
func (p *parser) chain(s string) (Pattern, error) {
	var terms []Pattern
	for {
		t, rest, more, err := p.term(s)
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if !more {
			break
		}
		s = rest
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return Chain(terms), nil
}

// term parses the chain term at the start of s. If a chained term follows,
// more is true and rest holds it (starting with its key).
func (p *parser) term(s string) (t Pattern, rest string, more bool, err error) {
	key := keyAt(s)
	if key == "" {
		// A bare word: hosts, as with sys:.
		word := s
		if end := splitAt(s, 0, ':'); end >= 0 {
			word, rest, more = s[:end], s[end+1:], true
		}
		if word == "" {
			return nil, "", false, p.errf("empty term before %q in %q", ":", s)
		}
		t, err := p.sys(word, word)
		if err != nil {
			if k, _, ok := strings.Cut(word, ":"); ok && looksLikeKey(k) {
				return nil, "", false, p.unknownKeyErr(k, word)
			}
			if uerr := p.unknownKeyIn(word); uerr != nil {
				return nil, "", false, uerr
			}
			return nil, "", false, err
		}
		return t, rest, more, nil
	}
	n := len(key) + 1 // the value starts at s[n]
	if key == "not" {
		if len(s) == n {
			return nil, "", false, p.errf("not: needs a pattern in %q", s)
		}
		inner, err := p.chain(s[n:])
		if err != nil {
			return nil, "", false, err
		}
		return Not{P: inner}, "", false, nil
	}
	// The value runs to the next ":KEY:". For keys whose value may be
	// empty the key's own ':' can serve as that separator ("all:tag:x").
	from := n
	if key == "all" || key == "nil" || key == "out" {
		from = n - 1
	}
	term, val := s, s[n:]
	if end := splitAt(s, from, ':'); end >= 0 {
		e := max(end, n)
		term, val, rest, more = s[:e], s[n:e], s[end+1:], true
	}
	if val == ":" && !more && (key == "all" || key == "nil" || key == "out") {
		val = "" // dtools wrote "out::" (and "all::") for the bare key
	}
	switch key {
	case "all", "nil":
		if val != "" {
			return nil, "", false, p.errf("%s: takes no value, got %q in %q", key, val, term)
		}
		if key == "all" {
			return All{}, rest, more, nil
		}
		return Nil{}, rest, more, nil
	case "out":
		var out Out
		if val != "" {
			for _, name := range strings.Split(val, ",") {
				st, ok := output.ParseStatus(name)
				if !ok {
					return nil, "", false, p.errf("bad out: status %q in %q; want %s", name, term, outChoices())
				}
				if !slices.Contains(out.Statuses, st) {
					out.Statuses = append(out.Statuses, st)
				}
			}
		}
		return out, rest, more, nil
	}
	if val == "" {
		return nil, "", false, p.errf("%s: needs a value in %q", key, term)
	}
	switch key {
	case "sys":
		t, err = p.sys(val, term)
	case "exp":
		re, cerr := regexp.Compile(val)
		if cerr != nil {
			return nil, "", false, p.errf("bad regexp %q in %q: %v", val, term, cerr)
		}
		t = Exp{Re: re}
	case "tag":
		t, err = p.tag(val, term)
	case "ec2":
		t, err = p.ec2(val, term)
	}
	if err != nil {
		if key != "exp" {
			if uerr := p.unknownKeyIn(val); uerr != nil {
				return nil, "", false, uerr
			}
		}
		return nil, "", false, err
	}
	return t, rest, more, nil
}

func (p *parser) unknownKeyErr(k, term string) error {
	return p.errf("unknown pattern key %q in %q; valid keys: %s", k, term, strings.Join(keys[:], ", "))
}

// unknownKeyIn looks in an invalid sys: or tag: value for a '+' or ':'
// followed by a word and ':' (see looksLikeKey) that is not a known key,
// the likely cause of the error ("tag:web+foo:bar"), and returns an error
// naming it, or nil.
func (p *parser) unknownKeyIn(val string) error {
	for i := 0; i < len(val); i++ {
		if val[i] != '+' && val[i] != ':' {
			continue
		}
		rest := val[i+1:]
		if k, _, ok := strings.Cut(rest, ":"); ok && looksLikeKey(k) && keyAt(rest) == "" {
			return p.unknownKeyErr(k, rest)
		}
	}
	return nil
}

// sys parses a comma-separated host list (commas inside brackets belong to
// ranges) and expands its ranges.
func (p *parser) sys(val, term string) (Pattern, error) {
	out := Sys{Text: val}
	for _, item := range splitOutsideBrackets(val) {
		if item == "" {
			return nil, p.errf("empty host in %q", term)
		}
		names, msg := expandRange(item)
		if msg != "" {
			return nil, p.errf("%s in %q", msg, term)
		}
		p.names += len(names)
		if p.names > MaxRangeNames {
			return nil, p.errf("more than %d host names in %q", MaxRangeNames, p.whole)
		}
		for _, n := range names {
			h, msg := parseHop(n)
			if msg != "" {
				return nil, p.errf("%s in %q", msg, term)
			}
			out.Hosts = append(out.Hosts, h)
		}
	}
	return out, nil
}

// tag parses the value of a tag: term.
func (p *parser) tag(val, term string) (Pattern, error) {
	var out Tag
	for item := range strings.SplitSeq(val, ",") {
		op := byte(',')
		if item != "" && (item[0] == '+' || item[0] == '-') {
			op, item = item[0], item[1:]
		}
		if len(out) == 0 && op == '+' {
			op = ','
		}
		if item == "" {
			return nil, p.errf("empty tag in %q", term)
		}
		if !validTag(item) {
			return nil, p.errf("bad tag %q in %q", item, term)
		}
		out = append(out, TagOp{Op: op, Tag: item})
	}
	return out, nil
}

// ec2 parses the value of an ec2: term, dtools' forms: NAME-GLOB,
// tag=KEY=VALUE, sec=GROUP, FILTER=VALUE.
func (p *parser) ec2(val, term string) (Pattern, error) {
	out := EC2{Text: val}
	name, value, ok := strings.Cut(val, "=")
	switch {
	case !ok:
		out.Filter, out.Value = "tag:Name", val
	case name == "tag":
		key, v, ok := strings.Cut(value, "=")
		if !ok || key == "" {
			return nil, p.errf("ec2:tag= wants KEY=VALUE, got %q in %q", value, term)
		}
		out.Filter, out.Value = "tag:"+key, v
	case name == "sec":
		out.Filter, out.Value = "instance.group-name", value
	case name == "":
		return nil, p.errf("ec2: filter name missing before '=' in %q", term)
	default:
		out.Filter, out.Value = name, value
	}
	if out.Value == "" {
		return nil, p.errf("ec2: empty value for filter %s in %q", out.Filter, term)
	}
	return out, nil
}

// splitOutsideBrackets splits s at commas that are not inside [...].
func splitOutsideBrackets(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// looksLikeKey reports whether s, found before a ':', is probably meant as
// a pattern key: ASCII letters only, not all of them hex digits (so that
// IPv6 groups such as "dead:beef" are not taken for keys).
func looksLikeKey(s string) bool {
	if s == "" {
		return false
	}
	hex := true
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
		if c > 'f' {
			hex = false
		}
	}
	return !hex
}
