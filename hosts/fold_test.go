package hosts

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestFold(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"web1"}, "web1"},
		{[]string{"web1", "web1"}, "web1"},
		{[]string{"h003", "h001", "h002", "h005", "db1"}, "db1,h[001-003,005]"},
		{[]string{"n8", "n9", "n10"}, "n[8-10]"},
		{[]string{"web08", "web09", "web10", "web11"}, "web[08-11]"},
		{[]string{"n1", "n01", "n2", "n02"}, "n[1-2,01-02]"},
		{[]string{"n0", "n00", "n1"}, "n[0-1,00]"},
		{[]string{"r1n1", "r1n2", "r2n1", "r2n2"}, "r[1-2]n[1-2]"},
		{[]string{"r1n1", "r1n2", "r2n1"}, "r1n[1-2],r2n1"},
		{[]string{"web1.example.com", "web2.example.com", "web4.example.com"}, "web[1-2,4].example.com"},
		{[]string{"127.10.0.1", "127.10.0.2", "127.10.0.3"}, "127.10.0.[1-3]"},
		{[]string{"::1", "fe80::2", "h1"}, "::1,fe80::2,h1"},
		{[]string{"h10", "h2", "g", "h1"}, "g,h[1-2,10]"},
		{[]string{"a", "b", "c"}, "a,b,c"},
		{[]string{"x1234567890123456789", "x1234567890123456788"}, "x1234567890123456788,x1234567890123456789"},
		{[]string{"h1-a", "h2-a", "h1-b"}, "h1-b,h[1-2]-a"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
		checkFoldExpands(t, tt.in)
	}
}

// checkFoldExpands is the property: folding names and expanding the result
// with ExpandRange gives back the same set, each name once, whatever the
// order of the input.
func checkFoldExpands(t *testing.T, names []string) {
	t.Helper()
	folded := Fold(names)
	if folded == "" {
		if len(names) != 0 {
			t.Errorf("Fold(%q) = \"\"", names)
		}
		return
	}
	var got []string
	for _, part := range splitOutsideBrackets(folded) {
		exp, err := ExpandRange(part)
		if err != nil {
			t.Fatalf("Fold(%q) = %q: part %q does not expand: %v", names, folded, part, err)
		}
		got = append(got, exp...)
	}
	want := slices.Clone(names)
	slices.Sort(want)
	want = slices.Compact(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Fold(%q) = %q expands to %q, want %q", names, folded, got, want)
	}
	shuffled := slices.Clone(names)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if again := Fold(shuffled); again != folded {
		t.Fatalf("Fold depends on order: %q gives %q, %q gives %q", names, folded, shuffled, again)
	}
}

// randomNames draws a host set the way fleets name hosts: a few prefixes,
// numbers with and without padding, several numeric fields, suffixes.
func randomNames(r *rand.Rand) []string {
	prefixes := []string{"h", "web", "db", "r%dn", "10.0.%d.", "node-%d-", "", "x"}
	suffixes := []string{"", "", ".example.com", "-a", "b"}
	n := r.IntN(40)
	names := make([]string, 0, n)
	for range n {
		p := prefixes[r.IntN(len(prefixes))]
		if strings.Contains(p, "%d") {
			p = fmt.Sprintf(p, r.IntN(4))
		}
		num := r.IntN(30)
		var digits string
		switch r.IntN(4) {
		case 0:
			digits = fmt.Sprintf("%d", num)
		case 1:
			digits = fmt.Sprintf("%02d", num)
		case 2:
			digits = fmt.Sprintf("%03d", num)
		default:
			digits = fmt.Sprintf("%d", num*100+r.IntN(3))
		}
		names = append(names, p+digits+suffixes[r.IntN(len(suffixes))])
	}
	return names
}

func TestFoldExpandProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		checkFoldExpands(t, randomNames(r))
	}
}

func FuzzFold(f *testing.F) {
	f.Add("h001,h002,h003,db1")
	f.Add("n8,n9,n10,n08,n010")
	f.Add("r1n1,r1n2,r2n1,r2n2,r2n3")
	f.Add("10.0.0.1,10.0.0.2,10.0.1.1")
	f.Fuzz(func(t *testing.T, list string) {
		var names []string
		for n := range strings.SplitSeq(list, ",") {
			// The property holds for names the inventory accepts.
			if n == "" || strings.ContainsFunc(n, func(c rune) bool {
				return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-_@", c))
			}) {
				continue
			}
			names = append(names, n)
		}
		if len(names) > 200 {
			names = names[:200]
		}
		checkFoldExpands(t, names)
	})
}

func BenchmarkFold1000(b *testing.B) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("h%04d", i+1)
	}
	names[500] = "db1"
	b.ReportAllocs()
	for b.Loop() {
		_ = Fold(names)
	}
}
