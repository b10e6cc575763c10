package hosts

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func FuzzParseInventory(f *testing.F) {
	for _, name := range []string{"dtdb", "known_hosts"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, s := range []string{
		"", "web1", "root@[::1]:22|a,b@c:2 t1 t2 # x", "web1 a\nweb1 b", "web1 a\nroot@web1 b",
		"fe80::1%eth0", "[::1", "web1:99999", "a|", "\ufeffx\r\n", "h -t", "x|y|z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInventory(strings.NewReader(s), "f")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "f" || pe.Line < 1 {
				t.Fatalf("error %v (%T) is not a good *ParseError", err, err)
			}
			return
		}
		// Render the inventory back and parse it again: same hosts.
		var b strings.Builder
		seen := make(map[string]bool)
		for _, h := range inv.Hosts {
			if seen[h.Name] {
				t.Fatalf("duplicate name %q", h.Name)
			}
			seen[h.Name] = true
			b.WriteString(h.String())
			for _, tag := range h.Tags {
				if !validTag(tag) {
					t.Fatalf("bad tag %q accepted", tag)
				}
				b.WriteString(" " + tag)
			}
			b.WriteString("\n")
		}
		inv2, err := ParseInventory(strings.NewReader(b.String()), "f")
		if err != nil {
			t.Fatalf("rendered inventory does not parse: %v\n%s", err, b.String())
		}
		if len(inv2.Hosts) != len(inv.Hosts) {
			t.Fatalf("round trip: %d hosts, want %d", len(inv2.Hosts), len(inv.Hosts))
		}
		for i := range inv.Hosts {
			a, c := inv.Hosts[i], inv2.Hosts[i]
			a.Where, c.Where = "", ""
			if !reflect.DeepEqual(a, c) {
				t.Fatalf("round trip:\n%#v\n%#v", a, c)
			}
		}
		// known_hosts parsing of arbitrary text must not fail either.
		if _, err := ParseKnownHosts(strings.NewReader(s), "k"); err != nil {
			t.Fatalf("ParseKnownHosts: %v", err)
		}
	})
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{
		"web1", "tag:web,+prod,-canary+exp:^db[0-9]+$", "tag:linux:exp:^db", "not:tag:a:exp:b",
		"all:tag:x", "out:fail+out:okay", "sys:web[01-12,20],root@[::1]:22", "foo:bar", "exp:(",
		"tag:a:not:exp:b:tag:c", "nil:", "out::tag:prod", "web1:22:tag:x", "exp:a++tag:x",
		"sys:ghost:not:sys:ghost", "tag:-x,y", "r[1-2]n[1-2]",
	} {
		f.Add(s)
	}
	inv, err := LoadInventory(filepath.Join("testdata", "dtdb"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePattern(s)
		if err != nil {
			var pe *PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *PatternError", err, err)
			}
			return
		}
		text := p.String()
		q, err := ParsePattern(text)
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", text, s, err)
		}
		if q.String() != text {
			t.Fatalf("String() not stable: %q -> %q", text, q.String())
		}
		hs, err := Select(p, Env{Inv: inv, Stdin: strings.NewReader(omniInput)})
		if err != nil {
			t.Fatalf("Select(%q): %v", s, err)
		}
		seen := make(map[string]bool)
		for _, h := range hs {
			if seen[h.Name] {
				t.Fatalf("Select(%q): duplicate %q", s, h.Name)
			}
			seen[h.Name] = true
		}
		hs2, err := Select(q, Env{Inv: inv, Stdin: strings.NewReader(omniInput)})
		if err != nil || names(hs) != names(hs2) {
			t.Fatalf("Select differs after round trip: %q vs %q (%v)", names(hs), names(hs2), err)
		}
	})
}

func FuzzExpandRange(f *testing.F) {
	for _, s := range []string{"web[01-12,20]", "r[1-2]n[1-2]", "[::1]", "a[", "a[5-1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := ExpandRange(s)
		if err != nil {
			return
		}
		if len(names) == 0 || len(names) > MaxRangeNames {
			t.Fatalf("ExpandRange(%q) gave %d names", s, len(names))
		}
	})
}
