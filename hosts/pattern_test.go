package hosts

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func loadTestInventory(t testing.TB) *Inventory {
	t.Helper()
	inv, err := LoadInventory(filepath.Join("testdata", "dtdb"))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// names renders hosts as [user@]name[:port] for comparisons.
func names(hs []Host) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.Hop.String()
	}
	return strings.Join(s, " ")
}

func TestKeys(t *testing.T) {
	if got := strings.Join(Keys(), ","); got != "all,ec2,exp,nil,not,out,sys,tag" {
		t.Errorf("Keys() = %s", got)
	}
	Keys()[0] = "zzz"
	if Keys()[0] != "all" {
		t.Error("Keys() shares its slice")
	}
}

func TestGrammarSize(t *testing.T) {
	if n := strings.Count(Grammar, "\n") + 1; n > 12 {
		t.Errorf("Grammar has %d lines, want at most 12", n)
	}
	for _, k := range Keys() {
		if !strings.Contains(Grammar, k+":") {
			t.Errorf("Grammar does not show %s:", k)
		}
	}
}

func TestParsePatternString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web1", "sys:web1"},
		{"root@web1:22,web[1-3]", "sys:root@web1:22,web[1-3]"},
		{"web1:22:tag:x", "sys:web1:22:tag:x"},
		{"[::1]:22:tag:x", "sys:[::1]:22:tag:x"},
		{"sys:tag:22", "sys:tag:22"},
		{"tag:web", "tag:web"},
		{"tag:+web,+prod,-canary,db", "tag:web,+prod,-canary,db"},
		{"tag:-web,db", "tag:-web,db"},
		{"exp:^db[0-9]+$", "exp:^db[0-9]+$"},
		{"ec2:web-*", "ec2:web-*"},
		{"ec2:tag=role=web:tag:prod", "ec2:tag=role=web:tag:prod"},
		{"exp:a+b", "exp:a+b"},
		{"exp:a:b", "exp:a:b"},
		{"exp:tag:x", "exp:tag:x"},
		{"exp:^db:tag:x", "exp:^db:tag:x"},
		{"exp:a++tag:x", "exp:a++tag:x"},
		{"all:", "all:"},
		{"all:tag:x", "all::tag:x"},
		{"all::tag:x", "all::tag:x"},
		{"nil:", "nil:"},
		{"out:", "out:"},
		{"out::", "out:"}, // as dtools wrote it
		{"all::", "all:"},
		{"out:fail", "out:fail"},
		{"out:fail,skip", "out:fail,skip"},
		{"out:skip,fail,skip", "out:skip,fail"},
		{"out:tag:x", "out::tag:x"},
		{"out:okay:tag:x", "out:okay:tag:x"},
		{"not:tag:a", "not:tag:a"},
		{"not:web1", "not:sys:web1"},
		{"not:tag:a:exp:b", "not:tag:a:exp:b"},
		{"tag:a:not:exp:b:tag:c", "tag:a:not:exp:b:tag:c"},
		{"not:not:all:", "not:not:all:"},
		{"tag:web,+prod+sys:extra1", "tag:web,+prod+sys:extra1"},
		{"web1+tag:x+exp:y+not:tag:z+all:+nil:+out:", "sys:web1+tag:x+exp:y+not:tag:z+all:+nil:+out:"},
		{"tag:linux:exp:^db+tag:bsd", "tag:linux:exp:^db+tag:bsd"},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tt.in, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("ParsePattern(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		q, err := ParsePattern(p.String())
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Errorf("ParsePattern(%q) does not round-trip: %#v vs %#v, %v", p.String(), p, q, err)
		}
	}
}

func TestParsePatternTree(t *testing.T) {
	p, err := ParsePattern("tag:web,+prod,-canary+exp:^db:not:tag:x")
	if err != nil {
		t.Fatal(err)
	}
	u, ok := p.(Union)
	if !ok || len(u) != 2 {
		t.Fatalf("got %#v, want a Union of 2", p)
	}
	want := Tag{{',', "web"}, {'+', "prod"}, {'-', "canary"}}
	if !reflect.DeepEqual(u[0], want) {
		t.Errorf("first term %#v, want %#v", u[0], want)
	}
	c, ok := u[1].(Chain)
	if !ok || len(c) != 2 {
		t.Fatalf("second term %#v, want a Chain of 2", u[1])
	}
	if e, ok := c[0].(Exp); !ok || e.Re.String() != "^db" {
		t.Errorf("chain[0] = %#v", c[0])
	}
	if n, ok := c[1].(Not); !ok || !reflect.DeepEqual(n.P, Tag{{',', "x"}}) {
		t.Errorf("chain[1] = %#v", c[1])
	}
	s, err := ParsePattern("root@web[1-2]:2222,[::1]")
	if err != nil {
		t.Fatal(err)
	}
	wantSys := Sys{Text: "root@web[1-2]:2222,[::1]", Hosts: []Hop{
		{User: "root", Name: "web1", Port: "2222"}, {User: "root", Name: "web2", Port: "2222"}, {Name: "::1"}}}
	if !reflect.DeepEqual(s, wantSys) {
		t.Errorf("got %#v, want %#v", s, wantSys)
	}
}

func TestParsePatternErrors(t *testing.T) {
	valid := "; valid keys: all, ec2, exp, nil, not, out, sys, tag"
	tests := []struct{ in, want string }{
		{"foo:bar", `unknown pattern key "foo" in "foo:bar"` + valid},
		{"Tag:web", `unknown pattern key "Tag" in "Tag:web"` + valid},
		{"tags:web:exp:x", `unknown pattern key "tags" in "tags:web"` + valid},
		{"foo:", `unknown pattern key "foo" in "foo:"` + valid},
		{"tag:web+foo:bar", `unknown pattern key "foo" in "foo:bar"` + valid},
		{"tag:web:foo:bar", `unknown pattern key "foo" in "foo:bar"` + valid},
		{"sys:web1+foo:bar", `unknown pattern key "foo" in "foo:bar"` + valid},
		{"web1:foo:bar", `unknown pattern key "foo" in "foo:bar"` + valid},
		{"", `empty host pattern`},
		{"tag:", `tag: needs a value in "tag:"`},
		{"exp:", `exp: needs a value in "exp:"`},
		{"sys:", `sys: needs a value in "sys:"`},
		{"not:", `not: needs a pattern in "not:"`},
		{"tag::exp:x", `tag: needs a value in "tag:"`},
		{"tag:+sys:x", `tag: needs a value in "tag:"`},
		{"tag:a:not:", `not: needs a pattern in "not:"`},
		{"+tag:x", `empty term before "+" in "+tag:x"`},
		{":tag:x", `empty term before ":" in ":tag:x"`},
		{"exp:(", "bad regexp \"(\" in \"exp:(\": error parsing regexp: missing closing ): `(`"},
		{"tag:a,,b", `empty tag in "tag:a,,b"`},
		{"tag:a,", `empty tag in "tag:a,"`},
		{"tag:-", `empty tag in "tag:-"`},
		{"tag:a,+", `empty tag in "tag:a,+"`},
		{"tag:a$b", `bad tag "a$b" in "tag:a$b"`},
		{"tag:--a", `bad tag "-a" in "tag:--a"`},
		{"tag:a+b", `bad tag "a+b" in "tag:a+b"`},
		{"sys:z9+web1", `bad host "z9+web1" in "sys:z9+web1"`},
		{"all:x", `all: takes no value, got "x" in "all:x"`},
		{"nil:x:tag:y", `nil: takes no value, got "x" in "nil:x"`},
		{"out:bad", `bad out: status "bad" in "out:bad"; want out:, out:fail, out:skip or out:okay, or several joined with commas (out:fail,skip)`},
		{"out:FAIL", `bad out: status "FAIL" in "out:FAIL"; want out:, out:fail, out:skip or out:okay, or several joined with commas (out:fail,skip)`},
		{"sys:a,,b", `empty host in "sys:a,,b"`},
		{"sys:web[5-1]", `reversed range "5-1" in "sys:web[5-1]"`},
		{"web[x]", `bad range item "x": want N or N-M with decimal N <= M in "web[x]"`},
		{"sys:web:99999", `bad port "99999" in "sys:web:99999"`},
		{"web1:99999", `bad port "99999" in "web1:99999"`},
		{"root@", `empty host in "root@"`},
		{"@web1", `empty user in "@web1"`},
		{"web$1", `bad host "web$1" in "web$1"`},
		{"-oProxyCommand=x", `bad host "-oProxyCommand=x" in "-oProxyCommand=x"`},
		{"dead:beef:zz", `bad host "dead:beef:zz": write an IPv6 address as [addr] or [addr]:port in "dead:beef:zz"`},
		{"sys:[::1", `unbalanced brackets in "sys:[::1"`},
		{"sys:a[1-1000]b[1-100],c", `more than 100000 host names in "sys:a[1-1000]b[1-100],c"`},
		{"sys:a[1-60000]+sys:b[1-60000]", `more than 100000 host names in "sys:a[1-60000]+sys:b[1-60000]"`},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		var pe *PatternError
		if !errors.As(err, &pe) {
			t.Errorf("ParsePattern(%q) = %v, %v; want *PatternError", tt.in, p, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParsePattern(%q):\n got %s\nwant %s", tt.in, err, tt.want)
		}
		if pe.Pattern != tt.in {
			t.Errorf("ParsePattern(%q): Pattern = %q", tt.in, pe.Pattern)
		}
	}
}

func TestSelect(t *testing.T) {
	inv := loadTestInventory(t)
	tests := []struct{ pat, want string }{
		// tag: operators, left to right
		{"tag:web", "web1 web2 web3"},
		{"tag:web,+prod", "web1 web2"},
		{"tag:web,+prod,-canary", "web1"},
		{"tag:web,db", "web1 web2 web3 db1 db2"},
		{"tag:web,db,+prod", "web1 web2 db1"},
		{"tag:prod,+web,db", "web1 web2 db1 db2"},
		{"tag:prod,-web,+linux", "db1 app1"},
		{"tag:+web", "web1 web2 web3"},
		{"tag:-linux", "db2 root@lb1:2222 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"tag:-web,-db", "root@lb1:2222 app1 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"tag:-web,+prod", "db1 root@lb1:2222 app1"},
		{"tag:nosuch", ""},
		{"tag:web,nosuch", "web1 web2 web3"},
		{"tag:web,+nosuch", ""},
		{"tag:web,-nosuch", "web1 web2 web3"},
		{"tag:monitored", "web1"},
		// exp:
		{"exp:^db", "db1 db2"},
		{"exp:^db[0-9]+$", "db1 db2"},
		{"exp:^(web|db)1$", "web1 db1"},
		{"exp:^we+b", "web1 web2 web3"},
		{"exp:::", "[::1]:2200 fe80::1"},
		{"exp:nomatch", ""},
		// not:, all:, nil:
		{"not:tag:linux", "db2 root@lb1:2222 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"not:exp:^(web|db|app)", "root@lb1:2222 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"not:web1", "web2 web3 db1 db2 root@lb1:2222 app1 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"not:sys:ghost", "web1 web2 web3 db1 db2 root@lb1:2222 app1 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"not:all:", ""},
		{"not:nil:", "web1 web2 web3 db1 db2 root@lb1:2222 app1 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"not:not:tag:db", "db1 db2"},
		{"all:", "web1 web2 web3 db1 db2 root@lb1:2222 app1 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"nil:", ""},
		// chains filter the previous result
		{"tag:linux:exp:^db", "db1"},
		{"tag:linux:not:exp:^db", "web1 web2 web3 app1"},
		{"not:tag:linux:exp:^db", "web1 web2 web3 db2 root@lb1:2222 app1 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"all:tag:web", "web1 web2 web3"},
		{"all::tag:web", "web1 web2 web3"},
		{"all:exp:^db:tag:prod", "db1"},
		{"tag:prod:tag:-web", "db1 root@lb1:2222 app1"},
		{"tag:web:sys:web1,ghost", "web1"},
		{"tag:web:all:", "web1 web2 web3"},
		{"tag:web:nil:", ""},
		{"exp:1:exp:^w", "web1"},
		// union, order = inventory order, then other hosts as given
		{"tag:web+tag:db", "web1 web2 web3 db1 db2"},
		{"exp:^db+tag:web", "web1 web2 web3 db1 db2"},
		{"tag:web,+prod+sys:extra1", "web1 web2 extra1"},
		{"sys:z9+sys:web1+sys:a9+tag:db", "web1 db1 db2 z9 a9"},
		{"tag:web,+prod,-canary+exp:^db[0-9]+$", "web1 db1 db2"},
		// sys: and bare words
		{"web1", "web1"},
		{"sys:web2,web1", "web1 web2"},
		{"sys:ghost2,web3,ghost1", "web3 ghost2 ghost1"},
		{"sys:web[1-5]", "web1 web2 web3 web4 web5"},
		{"sys:web[3-1]x,web1", ""}, // error case, see below
		{"sys:[::1]", "[::1]:2200"},
		{"sys:[10.0.0.7]", "10.0.0.7:22"},
		{"::1", "[::1]:2200"},
		{"sys:root@web1:2200", "root@web1:2200"},
		{"web1:2222", "web1:2222"},
		{"admin@lb1", "admin@lb1:2222"},
		{"sys:web1+sys:root@web1+sys:admin@web1", "root@web1"},
		{"sys:ghost+sys:root@ghost:22", "ghost"},
		{"sys:root@ghost:22,ghost", "root@ghost:22"},
		{"sys:ghost:tag:-x", "ghost"},
		{"sys:ghost,web1:tag:web", "web1"},
		{"sys:ghost:exp:gh", "ghost"},
		{"sys:ghost:not:sys:ghost", ""},
		{"sys:ghost,web2:not:sys:ghost", "web2"},
		{"tag:x:sys:ghost+sys:b,ghost", "b ghost"},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pat)
		if err != nil {
			if strings.Contains(tt.pat, "[3-1]") {
				continue
			}
			t.Errorf("ParsePattern(%q): %v", tt.pat, err)
			continue
		}
		hs, err := Select(p, Env{Inv: inv})
		if err != nil {
			t.Errorf("Select(%q): %v", tt.pat, err)
			continue
		}
		if got := names(hs); got != tt.want {
			t.Errorf("Select(%q)\n got %q\nwant %q", tt.pat, got, tt.want)
		}
		if hs == nil {
			t.Errorf("Select(%q) returned nil, want a non-nil slice", tt.pat)
		}
	}
}

func TestSelectKeepsInventoryData(t *testing.T) {
	inv := loadTestInventory(t)
	hs := selectOrFatal(t, "app1+sys:root@web1:2200+sys:ghost", Env{Inv: inv})
	if len(hs) != 3 {
		t.Fatalf("got %v", names(hs))
	}
	web1, app1, ghost := hs[0], hs[1], hs[2]
	if web1.User != "root" || web1.Port != "2200" || !reflect.DeepEqual(web1.Tags, []string{"web", "prod", "linux", "monitored"}) || !strings.HasSuffix(web1.Where, "dtdb:2") {
		t.Errorf("web1 = %+v", web1)
	}
	if inv.Hosts[0].User != "" || inv.Hosts[0].Port != "" {
		t.Errorf("Select changed the inventory: %+v", inv.Hosts[0])
	}
	if app1.String() != "app1|admin@gw1:2200,gw2" {
		t.Errorf("app1 = %v", app1)
	}
	if !reflect.DeepEqual(ghost, Host{Hop: Hop{Name: "ghost"}}) {
		t.Errorf("ghost = %#v", ghost)
	}
}

func selectOrFatal(t *testing.T, pat string, env Env) []Host {
	t.Helper()
	p, err := ParsePattern(pat)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := Select(p, env)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func TestSelectNoInventory(t *testing.T) {
	for pat, want := range map[string]string{
		"all:": "", "tag:x": "", "tag:-x": "", "exp:.": "", "not:nil:": "",
		"web[1-2]": "web1 web2", "web1:tag:-x": "web1",
	} {
		if got := names(selectOrFatal(t, pat, Env{})); got != want {
			t.Errorf("%s: got %q, want %q", pat, got, want)
		}
	}
}

func TestSelectDuplicateNamesByHand(t *testing.T) {
	inv := &Inventory{Hosts: []Host{
		{Hop: Hop{Name: "a"}, Tags: []string{"x"}},
		{Hop: Hop{Name: "b"}, Tags: []string{"x"}},
		{Hop: Hop{Name: "a", User: "other"}, Tags: []string{"x", "y"}},
	}}
	if got := names(selectOrFatal(t, "tag:x", Env{Inv: inv})); got != "a b" {
		t.Errorf("tag:x = %q", got)
	}
	if got := names(selectOrFatal(t, "tag:y", Env{Inv: inv})); got != "" {
		t.Errorf("tag:y = %q", got)
	}
}

const omniInput = `okay::dt:ssh:web1:Mon Jan  1 00:00:00 UTC 2024
fail::dt:ssh:web2:connection refused: port 22
fail::dt:ssh:[::1]:connect: refused
fail::dt:ssh:ghost:no route to host\r\n
# a comment

okay::dt:ping:root@db1:ok
  ghost2  
web3
fail::dt:ssh:web2:again
okay::dt:ssh:lb1:
app1
skip::dt:ssh:db2:not started: 2 hosts failed, more than --max-fail 1 (stopped after batch 1 of 3)
`

func TestSelectOut(t *testing.T) {
	inv := loadTestInventory(t)
	tests := []struct{ pat, want string }{
		{"out:", "web1 web2 web3 root@db1 db2 root@lb1:2222 app1 [::1]:2200 ghost ghost2"},
		{"out:fail", "web2 [::1]:2200 ghost"},
		{"out:skip", "db2"},
		{"out:fail,skip", "web2 db2 [::1]:2200 ghost"},
		{"out:okay", "web1 root@db1 root@lb1:2222"},
		{"out:fail+out:okay", "web1 web2 root@db1 root@lb1:2222 [::1]:2200 ghost"},
		{"out:okay+out:fail", "web1 web2 root@db1 root@lb1:2222 [::1]:2200 ghost"},
		{"out::tag:prod", "web1 web2 root@db1 root@lb1:2222 app1"},
		{"out:tag:prod", "web1 web2 root@db1 root@lb1:2222 app1"},
		{"tag:web:out:fail", "web2"},
		{"tag:web:out:", "web1 web2 web3"},
		{"not:out:", "fe80::1 10.0.0.7:22"},
		{"not:out:okay", "web2 web3 db2 app1 [::1]:2200 fe80::1 10.0.0.7:22"},
		{"sys:ghost2+out:fail", "web2 [::1]:2200 ghost2 ghost"},
	}
	for _, tt := range tests {
		r := &countingReader{r: strings.NewReader(omniInput)}
		hs := selectOrFatal(t, tt.pat, Env{Inv: inv, Stdin: r})
		if got := names(hs); got != tt.want {
			t.Errorf("Select(%q)\n got %q\nwant %q", tt.pat, got, tt.want)
		}
		if r.eofs > 1 {
			t.Errorf("Select(%q) read stdin to EOF %d times", tt.pat, r.eofs)
		}
	}
	hs := selectOrFatal(t, "out:", Env{Inv: inv, Stdin: strings.NewReader(omniInput)})
	for _, h := range hs {
		want := map[string]string{"web1": "stdin:1", "ghost": "stdin:4", "ghost2": "stdin:8"}[h.Name]
		if h.Name == "web1" {
			want = "" // inventory host: keeps its Where
			if !strings.HasSuffix(h.Where, "dtdb:2") {
				t.Errorf("web1.Where = %q", h.Where)
			}
			continue
		}
		if want != "" && h.Where != want {
			t.Errorf("%s.Where = %q, want %q", h.Name, h.Where, want)
		}
	}
}

type countingReader struct {
	r    io.Reader
	eofs int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.eofs++
	}
	return n, err
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("stdin read without out:") }

func TestSelectStdinOnlyForOut(t *testing.T) {
	inv := loadTestInventory(t)
	selectOrFatal(t, "all:+tag:web+sys:x+not:exp:y", Env{Inv: inv, Stdin: panicReader{}})
	p, _ := ParsePattern("tag:web+not:out:fail")
	if !ReadsStdin(p) {
		t.Error("ReadsStdin(tag:web+not:out:fail) = false")
	}
	p, _ = ParsePattern("tag:web+not:exp:out")
	if ReadsStdin(p) {
		t.Error("ReadsStdin(tag:web+not:exp:out) = true")
	}
}

func TestSelectOutErrors(t *testing.T) {
	inv := loadTestInventory(t)
	tests := []struct{ stdin, want string }{
		{"web1\nbad host line\n", `stdin:2: bad host "bad host line" in "bad host line" (want a host name or a dt output line)`},
		{"web1:0", `stdin:1: bad port "0" in "web1:0" (want a host name or a dt output line)`},
		{"fail::dt:ssh:web$1:x", `stdin:1: bad host "web$1" in dt output line "fail::dt:ssh:web$1:x"`},
		{"fail::dt:ssh::x", `stdin:1: empty host in dt output line "fail::dt:ssh::x"`},
		{"\n\nfail::dt:ssh:[::1:x", `stdin:3: parse omni line "fail::dt:ssh:[::1:x": bracketed host has no closing ']'`},
		// Lines output.Parse rejects give its error, at their line.
		{"web1\nFAIL::dt:ssh:web2:x", `stdin:2: parse omni line "FAIL::dt:ssh:web2:x": bad status "FAIL" (want "okay", "fail" or "skip")`},
		{"warn::dt:ssh:app1:odd", `stdin:1: parse omni line "warn::dt:ssh:app1:odd": bad status "warn" (want "okay", "fail" or "skip")`},
		{"fail:b64:dt:ssh:web1:eA==", `stdin:1: parse omni line "fail:b64:dt:ssh:web1:eA==": unknown encoding "b64" (only the empty encoding is supported)`},
		{"okay::dt:ssh:lb1", `stdin:1: parse omni line "okay::dt:ssh:lb1": missing message field`},
		{"okay::dt:ssh:web\\q1:x", `stdin:1: parse omni line "okay::dt:ssh:web\\q1:x": host: unknown escape "\\q" at offset 3`},
		{"okay::dt:ssh:web1:bad \\q", `stdin:1: parse omni line "okay::dt:ssh:web1:bad \\q": message: unknown escape "\\q" at offset 4`},
		{"okay:dt:ssh:web1:msg", `stdin:1: bad host "okay:dt:ssh:web1:msg": write an IPv6 address as [addr] or [addr]:port in "okay:dt:ssh:web1:msg" (want a host name or a dt output line)`},
	}
	for _, tt := range tests {
		p, _ := ParsePattern("out:")
		_, err := Select(p, Env{Inv: inv, Stdin: strings.NewReader(tt.stdin)})
		var pe *ParseError
		if !errors.As(err, &pe) || err.Error() != tt.want {
			t.Errorf("stdin %q:\n got %v\nwant %s", tt.stdin, err, tt.want)
		}
	}
	// Plain lines are not checked against a status, but still parsed.
	p, _ := ParsePattern("out:fail")
	if _, err := Select(p, Env{Inv: inv, Stdin: strings.NewReader("fail::dt:ssh:web1:x\nweb$\n")}); err == nil {
		t.Error("out:fail accepted a bad plain line")
	}
	if _, err := Select(p, Env{Inv: inv}); err == nil || !strings.Contains(err.Error(), "standard input") {
		t.Errorf("out: without stdin: %v", err)
	}
	if _, err := Select(nil, Env{Inv: inv}); err == nil {
		t.Error("Select(nil) succeeded")
	}
}

func ExampleParsePattern() {
	inv, _ := ParseInventory(strings.NewReader(`
web1  web prod
web2  web prod canary
web3  web staging
db1   db prod
db2   db staging
`), "example")
	for _, pat := range []string{
		"tag:web,+prod,-canary",
		"tag:web,db,+staging",
		"tag:-web",
		"tag:prod:exp:^db",
		"not:tag:web+sys:extra1",
		"web[2-4]",
	} {
		p, err := ParsePattern(pat)
		if err != nil {
			fmt.Println(err)
			continue
		}
		hs, _ := Select(p, Env{Inv: inv})
		fmt.Printf("%-24s %s\n", pat+":", names(hs))
	}
	_, err := ParsePattern("foo:bar")
	fmt.Println(err)
	// Output:
	// tag:web,+prod,-canary:   web1
	// tag:web,db,+staging:     web3 db2
	// tag:-web:                db1 db2
	// tag:prod:exp:^db:        db1
	// not:tag:web+sys:extra1:  db1 db2 extra1
	// web[2-4]:                web2 web3 web4
	// unknown pattern key "foo" in "foo:bar"; valid keys: all, ec2, exp, nil, not, out, sys, tag
}

func TestSelectConcurrent(t *testing.T) {
	inv := loadTestInventory(t)
	p, err := ParsePattern("tag:web,+prod+sys:web3,ghost+exp:^db")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for range 4 {
		go func() {
			hs, err := Select(p, Env{Inv: inv})
			if err != nil {
				done <- err.Error()
				return
			}
			done <- names(hs)
		}()
	}
	for range 4 {
		if got := <-done; got != "web1 web2 web3 db1 db2 ghost" {
			t.Errorf("got %q", got)
		}
	}
}
