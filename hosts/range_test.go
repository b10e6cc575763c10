package hosts

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestExpandRange(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"web1", []string{"web1"}},
		{"", []string{""}},
		{"web[1-3]", []string{"web1", "web2", "web3"}},
		{"web[01-03,20]", []string{"web01", "web02", "web03", "web20"}},
		{"web[08-10]", []string{"web08", "web09", "web10"}},
		{"n[8-10]", []string{"n8", "n9", "n10"}},
		{"n[1-010]x", []string{"n1x", "n2x", "n3x", "n4x", "n5x", "n6x", "n7x", "n8x", "n9x", "n10x"}},
		{"n[001-002,5,7-8]", []string{"n001", "n002", "n5", "n7", "n8"}},
		{"[1-2]", []string{"1", "2"}},
		{"r[1-2]n[1-2]", []string{"r1n1", "r1n2", "r2n1", "r2n2"}},
		{"r[1-2]-[a]", nil},
		{"[::1]", []string{"[::1]"}},
		{"[10.0.0.1]:22", []string{"[10.0.0.1]:22"}},
		{"root@[::1]:22", []string{"root@[::1]:22"}},
		{"h[1-2].[::1]", []string{"h1.[::1]", "h2.[::1]"}},
		{"x[7]", []string{"x7"}},
		{"x[3,3]", []string{"x3", "x3"}},
	}
	for _, tt := range tests {
		got, err := ExpandRange(tt.in)
		if tt.want == nil {
			if err == nil {
				t.Errorf("ExpandRange(%q) = %v, want error", tt.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ExpandRange(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestExpandRangeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web[5-1]", `reversed range "5-1" in "web[5-1]"`},
		{"web[a-c]", `bad range item "a-c": want N or N-M with decimal N <= M in "web[a-c]"`},
		{"web[1-]", `bad range item "1-": want N or N-M with decimal N <= M in "web[1-]"`},
		{"web[-1]", `bad range item "-1": want N or N-M with decimal N <= M in "web[-1]"`},
		{"web[1-2-3]", `bad range item "1-2-3": want N or N-M with decimal N <= M in "web[1-2-3]"`},
		{"web[]", `empty range "[]" in "web[]"`},
		{"web[1,,2]", `empty item in range "[1,,2]" in "web[1,,2]"`},
		{"web[1,]", `empty item in range "[1,]" in "web[1,]"`},
		{"web[1-2", `unbalanced brackets in "web[1-2"`},
		{"web1-2]", `unbalanced brackets in "web1-2]"`},
		{"web[1-2]]", `unbalanced brackets in "web[1-2]]"`},
		{"web[[1-2]]", `unbalanced brackets in "web[[1-2]]"`},
		{"web[1-100001]", `range expands to more than 100000 names in "web[1-100001]"`},
		{"web[1-99999999999999999]", `range expands to more than 100000 names in "web[1-99999999999999999]"`},
		{"web[1-1000]x[1-101]", `range expands to more than 100000 names in "web[1-1000]x[1-101]"`},
		{"web[1-50000,50001-100001]", `range expands to more than 100000 names in "web[1-50000,50001-100001]"`},
		{"web[1-9999999999999999999]", `bad range item "1-9999999999999999999": want N or N-M with decimal N <= M in "web[1-9999999999999999999]"`},
	}
	for _, tt := range tests {
		got, err := ExpandRange(tt.in)
		if err == nil {
			t.Errorf("ExpandRange(%q) = %.5q..., want error", tt.in, got)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ExpandRange(%q):\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestExpandRangeMax(t *testing.T) {
	got, err := ExpandRange("n[1-1000]x[001-100]")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxRangeNames || got[0] != "n1x001" || got[len(got)-1] != "n1000x100" {
		t.Errorf("got %d names, %s .. %s", len(got), got[0], got[len(got)-1])
	}
	seen := make(map[string]bool, len(got))
	for _, n := range got {
		if seen[n] {
			t.Fatalf("duplicate %s", n)
		}
		seen[n] = true
	}
}

func ExampleExpandRange() {
	names, _ := ExpandRange("web[01-03,10]")
	fmt.Println(strings.Join(names, " "))
	names, _ = ExpandRange("r[1-2]n[1-2]")
	fmt.Println(strings.Join(names, " "))
	_, err := ExpandRange("web[9-1]")
	fmt.Println(err)
	// Output:
	// web01 web02 web03 web10
	// r1n1 r1n2 r2n1 r2n2
	// reversed range "9-1" in "web[9-1]"
}
