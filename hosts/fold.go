package hosts

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Fold writes a set of host names in the range grammar ExpandRange reads,
// as compactly as it can: "h001,h002,h003,h005,db1" becomes
// "db1,h[001-003,005]". It is the inverse of ExpandRange for display: for
// names made of letters, digits, '.', '-', '_' and '@' (every inventory
// name, IPv4 addresses), splitting the result at the commas outside
// brackets and expanding each part gives back exactly the set of names,
// each once.
//
// Every run of digits in a name can be folded, the rightmost first, so
// "r1n1,r1n2,r2n1,r2n2" becomes "r[1-2]n[1-2]". Zero padding is kept as
// ExpandRange reads it (a range is padded to the width of its first
// number): "web08,web09,web10" folds to "web[08-10]" and "n8,n9,n10" to
// "n[8-10]". Names containing '[', ']', ',' or ':' (IPv6 literals), and
// digit runs longer than 18 digits, are written as they are.
//
// The result does not depend on the order of names; duplicates count once.
// Parts are sorted by name, numbers numerically ("h2" before "h10").
func Fold(names []string) string {
	return strings.Join(FoldParts(names), ",")
}

// FoldParts is Fold before the parts are joined with commas.
func FoldParts(names []string) []string {
	seen := make(map[string]bool, len(names))
	items := make([]foldItem, 0, len(names))
	maxNums := 0
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		it := splitName(n)
		items = append(items, it)
		maxNums = max(maxNums, it.nums())
	}
	// Fold one dimension at a time, from the rightmost number leftwards:
	// items equal but for their d-th number from the right merge into one
	// whose d-th number is the union of theirs.
	for d := 0; d < maxNums; d++ {
		items = foldDim(items, d)
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.render(-1)
	}
	slices.SortFunc(out, func(a, b string) int { return compareNatural(a, b) })
	return out
}

// foldItem is a product of token sets: literal text and number sets.
type foldItem []foldTok

// foldTok is literal text (set == nil) or a set of numbers.
type foldTok struct {
	lit string
	set []foldNum // sorted by value, then width; no duplicates
}

// foldNum is one number as written: its value and its digits.
type foldNum struct {
	v uint64
	s string
}

// splitName cuts a name into literal text and numbers (digit runs of at
// most 18 digits). Names that must not be folded are one literal.
func splitName(n string) foldItem {
	if n == "" || strings.ContainsAny(n, "[],:\x00") {
		return foldItem{{lit: n}}
	}
	var it foldItem
	lit := 0
	for i := 0; i < len(n); {
		if !isDigit(n[i]) {
			i++
			continue
		}
		j := i
		for j < len(n) && isDigit(n[j]) {
			j++
		}
		if j-i <= 18 {
			if lit < i {
				it = append(it, foldTok{lit: n[lit:i]})
			}
			v, _ := strconv.ParseUint(n[i:j], 10, 64)
			it = append(it, foldTok{set: []foldNum{{v: v, s: n[i:j]}}})
			lit = j
		}
		i = j
	}
	if lit < len(n) {
		it = append(it, foldTok{lit: n[lit:]})
	}
	return it
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// nums is how many number tokens the item has.
func (it foldItem) nums() int {
	n := 0
	for _, t := range it {
		if t.set != nil {
			n++
		}
	}
	return n
}

// numIndex returns the index of the d-th number token from the right, or
// -1.
func (it foldItem) numIndex(d int) int {
	for k := len(it) - 1; k >= 0; k-- {
		if it[k].set != nil {
			if d == 0 {
				return k
			}
			d--
		}
	}
	return -1
}

// render writes the item, with token skip (if >= 0) as a placeholder.
func (it foldItem) render(skip int) string {
	var b strings.Builder
	for k, t := range it {
		switch {
		case k == skip:
			b.WriteString("\x00#") // cannot occur in a name we fold
		case t.set == nil:
			b.WriteString(t.lit)
		default:
			writeSet(&b, t.set)
		}
	}
	return b.String()
}

// foldDim merges the items that differ only in their d-th number from the
// right. Items keep the order of their first member.
func foldDim(items []foldItem, d int) []foldItem {
	type group struct {
		k    int
		nums []foldNum
	}
	index := map[string]int{}
	var out []foldItem
	var groups []group // parallel to out; k < 0 for items not merged
	for _, it := range items {
		k := it.numIndex(d)
		if k < 0 {
			out = append(out, it)
			groups = append(groups, group{k: -1})
			continue
		}
		key := it.render(k)
		if at, ok := index[key]; ok {
			groups[at].nums = append(groups[at].nums, it[k].set...)
			continue
		}
		index[key] = len(out)
		out = append(out, it)
		groups = append(groups, group{k: k, nums: slices.Clone(it[k].set)})
	}
	for i, g := range groups {
		if g.k < 0 || len(g.nums) == len(out[i][g.k].set) {
			continue
		}
		slices.SortFunc(g.nums, compareNum)
		merged := slices.Clone(out[i])
		merged[g.k].set = slices.CompactFunc(g.nums, func(x, y foldNum) bool { return x.s == y.s })
		out[i] = merged
	}
	return out
}

func compareNum(x, y foldNum) int {
	if c := cmp.Compare(x.v, y.v); c != 0 {
		return c
	}
	if c := cmp.Compare(len(x.s), len(y.s)); c != 0 {
		return c
	}
	return strings.Compare(x.s, y.s)
}

// foldRange is one range item of a bracket group: lo..hi, padded to width.
type foldRange struct {
	lo, hi uint64
	width  int
}

// writeSet writes a number set: one number as it is, more as a bracket
// group of ranges. A range lo-hi stands for the numbers from lo to hi,
// each padded to lo's width, so a number joins a range only when that
// padding writes it exactly as the name did.
func writeSet(b *strings.Builder, set []foldNum) {
	if len(set) == 1 {
		b.WriteString(set[0].s)
		return
	}
	var open []foldRange
	for _, n := range set {
		joined := false
		for i := range open {
			r := &open[i]
			if n.v == r.hi+1 && padNum(n.v, r.width) == n.s {
				r.hi = n.v
				joined = true
				break
			}
		}
		if !joined {
			open = append(open, foldRange{lo: n.v, hi: n.v, width: len(n.s)})
		}
	}
	slices.SortFunc(open, func(x, y foldRange) int {
		if c := cmp.Compare(x.lo, y.lo); c != 0 {
			return c
		}
		return cmp.Compare(x.width, y.width)
	})
	b.WriteByte('[')
	for i, r := range open {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(padNum(r.lo, r.width))
		if r.hi != r.lo {
			b.WriteByte('-')
			b.WriteString(padNum(r.hi, r.width))
		}
	}
	b.WriteByte(']')
}

// padNum writes v with at least width digits.
func padNum(v uint64, width int) string {
	s := strconv.FormatUint(v, 10)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// compareNatural orders strings with runs of digits compared by value:
// "h2" < "h10", "h[1-3]" < "h10".
func compareNatural(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			i, j := digitRun(a), digitRun(b)
			na, nb := strings.TrimLeft(a[:i], "0"), strings.TrimLeft(b[:j], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			if c := cmp.Compare(i, j); c != 0 {
				return c
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
