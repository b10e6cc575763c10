package hosts

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxRangeNames is the most names a range may expand to, the most
// explicit host names one pattern may name in total, and the most distinct
// hosts out: reads from standard input.
const MaxRangeNames = 100000

// ExpandRange expands pdsh/ClusterShell-style name ranges.
//
// Each bracket group "[a-b,c,...]" holds comma-separated numbers and
// inclusive number ranges; every number is printed zero-padded to the width
// of the number that starts its item, so "web[01-12,20]" gives web01 ...
// web12, web20 and "n[8-10]" gives n8, n9, n10. Several groups expand as a
// cartesian product, the rightmost group varying fastest:
// "r[1-2]n[1-2]" gives r1n1, r1n2, r2n1, r2n2. A bracket group containing
// ':' or '.' is an IP literal such as "[::1]" or "[10.0.0.1]" and is copied
// unchanged. A string without brackets expands to itself. Duplicates are
// not removed.
//
// It is an error to have unbalanced or nested brackets, an empty group or
// item, a non-numeric item, a reversed range such as "[5-1]", or more than
// MaxRangeNames names in all.
func ExpandRange(s string) ([]string, error) {
	names, msg := expandRange(s)
	if msg != "" {
		return nil, fmt.Errorf("%s in %q", msg, s)
	}
	return names, nil
}

// rangeItem is one item of a bracket group: the numbers lo..hi, printed
// with at least width digits.
type rangeItem struct {
	lo, hi uint64
	width  int
}

// rangeSeg is a literal part of a range pattern (items == nil) or a
// bracket group.
type rangeSeg struct {
	lit   string
	items []rangeItem
	n     int // how many numbers the group holds
}

// expandRange is ExpandRange returning a message without context.
func expandRange(s string) ([]string, string) {
	if strings.IndexByte(s, '[') < 0 {
		if strings.IndexByte(s, ']') >= 0 {
			return nil, "unbalanced brackets"
		}
		return []string{s}, ""
	}
	var segs []rangeSeg
	total := 1
	lit := 0 // start of the current literal run
	for i := 0; i < len(s); {
		switch s[i] {
		case ']':
			return nil, "unbalanced brackets"
		case '[':
			j := strings.IndexByte(s[i+1:], ']')
			if j < 0 {
				return nil, "unbalanced brackets"
			}
			body := s[i+1 : i+1+j]
			if strings.IndexByte(body, '[') >= 0 {
				return nil, "unbalanced brackets"
			}
			end := i + 2 + j
			if strings.ContainsAny(body, ":.") { // IP literal: keep as text
				i = end
				continue
			}
			if lit < i {
				segs = append(segs, rangeSeg{lit: s[lit:i]})
			}
			seg, msg := parseRangeGroup(body)
			if msg != "" {
				return nil, msg
			}
			if total > MaxRangeNames/seg.n {
				return nil, fmt.Sprintf("range expands to more than %d names", MaxRangeNames)
			}
			total *= seg.n
			segs = append(segs, seg)
			i, lit = end, end
		default:
			i++
		}
	}
	if lit < len(s) {
		segs = append(segs, rangeSeg{lit: s[lit:]})
	}
	return cartesian(segs, total), ""
}

// parseRangeGroup parses the inside of one bracket group.
func parseRangeGroup(body string) (rangeSeg, string) {
	if body == "" {
		return rangeSeg{}, `empty range "[]"`
	}
	var seg rangeSeg
	for item := range strings.SplitSeq(body, ",") {
		if item == "" {
			return rangeSeg{}, fmt.Sprintf("empty item in range %q", "["+body+"]")
		}
		loS, hiS, isRange := strings.Cut(item, "-")
		lo, ok1 := parseRangeNum(loS)
		hi, ok2 := lo, true
		if isRange {
			hi, ok2 = parseRangeNum(hiS)
		}
		if !ok1 || !ok2 {
			return rangeSeg{}, fmt.Sprintf("bad range item %q: want N or N-M with decimal N <= M", item)
		}
		if hi < lo {
			return rangeSeg{}, fmt.Sprintf("reversed range %q", item)
		}
		if hi-lo >= MaxRangeNames || seg.n+int(hi-lo+1) > MaxRangeNames {
			return rangeSeg{}, fmt.Sprintf("range expands to more than %d names", MaxRangeNames)
		}
		seg.n += int(hi - lo + 1)
		seg.items = append(seg.items, rangeItem{lo: lo, hi: hi, width: len(loS)})
	}
	return seg, ""
}

// parseRangeNum parses 1 to 18 decimal digits.
func parseRangeNum(s string) (uint64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// cartesian builds every name of segs, the last group varying fastest.
func cartesian(segs []rangeSeg, total int) []string {
	// Render each group's numbers once.
	vals := make([][]string, len(segs))
	for k, seg := range segs {
		if seg.items == nil {
			vals[k] = []string{seg.lit}
			continue
		}
		v := make([]string, 0, seg.n)
		var buf []byte
		for _, it := range seg.items {
			for x := it.lo; ; x++ {
				buf = strconv.AppendUint(buf[:0], x, 10)
				if pad := it.width - len(buf); pad > 0 {
					v = append(v, strings.Repeat("0", pad)+string(buf))
				} else {
					v = append(v, string(buf))
				}
				if x == it.hi {
					break
				}
			}
		}
		vals[k] = v
	}
	out := make([]string, 0, total)
	pos := make([]int, len(segs))
	var b strings.Builder
	for {
		b.Reset()
		for k := range segs {
			b.WriteString(vals[k][pos[k]])
		}
		out = append(out, b.String())
		k := len(segs) - 1
		for ; k >= 0; k-- {
			pos[k]++
			if pos[k] < len(vals[k]) {
				break
			}
			pos[k] = 0
		}
		if k < 0 {
			return out
		}
	}
}
