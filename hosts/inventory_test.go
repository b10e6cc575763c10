package hosts

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseInventoryLines(t *testing.T) {
	tests := []struct {
		line string
		want Host
	}{
		{"web1", Host{Hop: Hop{Name: "web1"}}},
		{"web1 a b", Host{Hop: Hop{Name: "web1"}, Tags: []string{"a", "b"}}},
		{"  web1\t a\tb  ", Host{Hop: Hop{Name: "web1"}, Tags: []string{"a", "b"}}},
		{"web1 a b a", Host{Hop: Hop{Name: "web1"}, Tags: []string{"a", "b"}}},
		{"web1 a # b c", Host{Hop: Hop{Name: "web1"}, Tags: []string{"a"}}},
		{"web1 a #b", Host{Hop: Hop{Name: "web1"}, Tags: []string{"a"}}},
		{"web1 a\r", Host{Hop: Hop{Name: "web1"}, Tags: []string{"a"}}},
		{"root@web1", Host{Hop: Hop{User: "root", Name: "web1"}}},
		{"web1:2222", Host{Hop: Hop{Name: "web1", Port: "2222"}}},
		{"web1:022", Host{Hop: Hop{Name: "web1", Port: "22"}}},
		{"web1:65535", Host{Hop: Hop{Name: "web1", Port: "65535"}}},
		{"u.x-y_z@Web-1.example.com:1 T.a_g-1", Host{Hop: Hop{User: "u.x-y_z", Name: "Web-1.example.com", Port: "1"}, Tags: []string{"T.a_g-1"}}},
		{"10.1.2.3", Host{Hop: Hop{Name: "10.1.2.3"}}},
		{"10.1.2.3:22", Host{Hop: Hop{Name: "10.1.2.3", Port: "22"}}},
		{"[10.1.2.3]:22", Host{Hop: Hop{Name: "10.1.2.3", Port: "22"}}},
		{"[::1]", Host{Hop: Hop{Name: "::1"}}},
		{"[::1]:2222", Host{Hop: Hop{Name: "::1", Port: "2222"}}},
		{"root@[2001:db8::7]:2222 v6", Host{Hop: Hop{User: "root", Name: "2001:db8::7", Port: "2222"}, Tags: []string{"v6"}}},
		{"::1", Host{Hop: Hop{Name: "::1"}}},
		{"fe80::1%eth0", Host{Hop: Hop{Name: "fe80::1%eth0"}}},
		{"root@fe80::1", Host{Hop: Hop{User: "root", Name: "fe80::1"}}},
		{"web1|gw", Host{Hop: Hop{Name: "web1"}, Jump: []Hop{{Name: "gw"}}}},
		{"root@web1:22|admin@gw:2200 t", Host{Hop: Hop{User: "root", Name: "web1", Port: "22"}, Jump: []Hop{{User: "admin", Name: "gw", Port: "2200"}}, Tags: []string{"t"}}},
		{"web1|j1,u@j2:2,[::1]:3", Host{Hop: Hop{Name: "web1"}, Jump: []Hop{{Name: "j1"}, {User: "u", Name: "j2", Port: "2"}, {Name: "::1", Port: "3"}}}},
		{"web1|j1,j2,j3,j4,j5,j6,j7,j8", Host{Hop: Hop{Name: "web1"}, Jump: []Hop{{Name: "j1"}, {Name: "j2"}, {Name: "j3"}, {Name: "j4"}, {Name: "j5"}, {Name: "j6"}, {Name: "j7"}, {Name: "j8"}}}},
		{"[::2]:22|[::1]", Host{Hop: Hop{Name: "::2", Port: "22"}, Jump: []Hop{{Name: "::1"}}}},
	}
	for _, tt := range tests {
		inv, err := ParseInventory(strings.NewReader("# header\n\n"+tt.line+"\n"), "db")
		if err != nil {
			t.Errorf("%q: %v", tt.line, err)
			continue
		}
		if len(inv.Hosts) != 1 {
			t.Errorf("%q: got %d hosts, want 1", tt.line, len(inv.Hosts))
			continue
		}
		tt.want.Where = "db:3"
		if got := inv.Hosts[0]; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tt.line, got, tt.want)
		}
	}
}

func TestParseInventoryErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"web1:99999", `db:1: bad port "99999" in "web1:99999"`},
		{"web1:0", `db:1: bad port "0" in "web1:0"`},
		{"web1:+22", `db:1: bad port "+22" in "web1:+22"`},
		{"web1:http", `db:1: bad port "http" in "web1:http"`},
		{"web1:", `db:1: empty port in "web1:"`},
		{"[::1]:", `db:1: empty port in "[::1]:"`},
		{"@web1", `db:1: empty user in "@web1"`},
		{"r*t@web1", `db:1: bad user "r*t" in "r*t@web1"`},
		{"root@", `db:1: empty host in "root@"`},
		{":22", `db:1: empty host in ":22"`},
		{"[]:22", `db:1: empty host in "[]:22"`},
		{"a@b@c", `db:1: bad host "b@c" in "a@b@c"`},
		{"-oProxyCommand=x", `db:1: bad host "-oProxyCommand=x" in "-oProxyCommand=x"`},
		{"web$1", `db:1: bad host "web$1" in "web$1"`},
		{"[::1", `db:1: unbalanced brackets in "[::1"`},
		{"::1]:22", `db:1: unbalanced brackets in "::1]:22"`},
		{"[::1]]", `db:1: unbalanced brackets in "[::1]]"`},
		{"[[::1]]", `db:1: unbalanced brackets in "[[::1]]"`},
		{"web[1-2]", `db:1: bad host "web[1-2]": brackets are only for IP addresses in "web[1-2]"`},
		{"[web1]:22", `db:1: bad host "web1": brackets are only for IP addresses in "[web1]:22"`},
		{"[::1]x", `db:1: unexpected "x" after "]" in "[::1]x"`},
		{"a:b:c", `db:1: bad host "a:b:c": write an IPv6 address as [addr] or [addr]:port in "a:b:c"`},
		{"::1:99999:1", `db:1: bad host "::1:99999:1": write an IPv6 address as [addr] or [addr]:port in "::1:99999:1"`},
		{"web1 we$b", `db:1: bad tag "we$b": use only letters, digits, '.', '_', '-' and '='`},
		{"web1 -x", `db:1: bad tag "-x": a tag must not start with '-'`},
		{"web1 a:b", `db:1: bad tag "a:b": use only letters, digits, '.', '_', '-' and '='`},
		{"web1|", `db:1: bad jump spec "" (empty) in "web1|"`},
		{"web1|a|b", `db:1: bad jump spec "a|b" (more than one '|') in "web1|a|b"`},
		{"web1|a,,b", `db:1: bad jump spec "a,,b" (empty jump host) in "web1|a,,b"`},
		{"web1|a,", `db:1: bad jump spec "a," (empty jump host) in "web1|a,"`},
		{"web1|gw:0", `db:1: bad jump spec "gw:0" (bad port "0") in "web1|gw:0"`},
		{"web1|@gw", `db:1: bad jump spec "@gw" (empty user) in "web1|@gw"`},
		{"web1|j1,j2,j3,j4,j5,j6,j7,j8,j9", `db:1: jump chain of 9 hosts in "web1|j1,j2,j3,j4,j5,j6,j7,j8,j9"; at most 8 are allowed`},
		{"|gw", `db:1: empty host in "|gw"`},
		{"ok1\n\n# c\nweb1:x", `db:4: bad port "x" in "web1:x"`},
		{"root@web1 a\nadmin@web1 b", `db:2: host "web1" redefined with a different user, port or jump: "admin@web1" here, "root@web1" at db:1`},
		{"web1 a\nweb1:2222 b", `db:2: host "web1" redefined with a different user, port or jump: "web1:2222" here, "web1" at db:1`},
		{"web1|gw a\nweb1|gw2 b", `db:2: host "web1" redefined with a different user, port or jump: "web1|gw2" here, "web1|gw" at db:1`},
		{"web1 a\nroot@web1 b", `db:2: host "web1" redefined with a different user, port or jump: "root@web1" here, "web1" at db:1`},
		{"web1 " + strings.Repeat("x", maxInventoryLine), `db:1: line too long (more than 1048576 bytes)`},
	}
	for _, tt := range tests {
		_, err := ParseInventory(strings.NewReader(tt.in), "db")
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%.40q: got %v, want *ParseError", tt.in, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%.40q:\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestParseErrorFormat(t *testing.T) {
	e := &ParseError{File: "/home/u/.dtdb", Line: 7, Msg: `bad port "99999" in "web1:99999"`}
	if got, want := e.Error(), `/home/u/.dtdb:7: bad port "99999" in "web1:99999"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestLoadInventory(t *testing.T) {
	inv, err := LoadInventory(filepath.Join("testdata", "dtdb"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range inv.Hosts {
		got = append(got, h.String()+" "+strings.Join(h.Tags, ",")+" @"+filepath.Base(h.Where))
	}
	want := []string{
		"web1 web,prod,linux,monitored @dtdb:2",
		"web2 web,prod,linux,canary @dtdb:3",
		"web3 web,staging,linux @dtdb:4",
		"db1 db,prod,linux @dtdb:5",
		"db2 db,staging,bsd @dtdb:6",
		"root@lb1:2222|bastion lb,prod @dtdb:7",
		"app1|admin@gw1:2200,gw2 app,prod,linux @dtdb:8",
		"[::1]:2200 local @dtdb:9",
		"fe80::1 local @dtdb:10",
		"10.0.0.7:22 lab @dtdb:11",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, want := inv.Tags(), []string{"app", "bsd", "canary", "db", "lab", "lb", "linux", "local", "monitored", "prod", "staging", "web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tags() = %v, want %v", got, want)
	}
	h, ok := inv.Lookup("lb1")
	if !ok || h.User != "root" || h.Port != "2222" || len(h.Jump) != 1 || h.Jump[0].Name != "bastion" {
		t.Errorf("Lookup(lb1) = %+v, %v", h, ok)
	}
	if _, ok := inv.Lookup("[::1]"); ok {
		t.Error("Lookup([::1]) found a host; names are stored without brackets")
	}
	if _, ok := inv.Lookup("::1"); !ok {
		t.Error("Lookup(::1) failed")
	}
	if _, ok := inv.Lookup("nosuch"); ok {
		t.Error("Lookup(nosuch) succeeded")
	}
}

func TestLoadInventoryMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nosuch.dtdb")
	_, err := LoadInventory(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestInventoryDuplicateMerge(t *testing.T) {
	in := "root@web1:2222|gw a b\nweb1 c a\nroot@web1 d\nweb1:2222|gw e\nroot@web1:2222|gw b f\n"
	inv, err := ParseInventory(strings.NewReader(in), "db")
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{{Hop: Hop{User: "root", Name: "web1", Port: "2222"}, Jump: []Hop{{Name: "gw"}},
		Tags: []string{"a", "b", "c", "d", "e", "f"}, Where: "db:1"}}
	if !reflect.DeepEqual(inv.Hosts, want) {
		t.Errorf("got %#v\nwant %#v", inv.Hosts, want)
	}
}

func TestInventoryBOMAndNoTrailingNewline(t *testing.T) {
	inv, err := ParseInventory(strings.NewReader("\ufeffweb1 a\r\nweb2 b"), "db")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) != 2 || inv.Hosts[0].Name != "web1" || inv.Hosts[1].Name != "web2" || inv.Hosts[1].Where != "db:2" {
		t.Errorf("got %+v", inv.Hosts)
	}
}

func TestInventoryByHand(t *testing.T) {
	inv := &Inventory{Hosts: []Host{{Hop: Hop{Name: "a"}}}}
	if _, ok := inv.Lookup("a"); !ok {
		t.Fatal("Lookup(a) failed")
	}
	inv.Hosts = append(inv.Hosts, Host{Hop: Hop{Name: "b"}, Tags: []string{"x"}})
	if _, ok := inv.Lookup("b"); !ok {
		t.Fatal("Lookup(b) failed after append")
	}
	var nilInv *Inventory
	if _, ok := nilInv.Lookup("a"); ok || nilInv.Tags() != nil {
		t.Error("nil inventory not empty")
	}
}

func TestHopString(t *testing.T) {
	tests := []struct {
		h    Host
		want string
	}{
		{Host{Hop: Hop{Name: "web1"}}, "web1"},
		{Host{Hop: Hop{User: "u", Name: "web1", Port: "22"}}, "u@web1:22"},
		{Host{Hop: Hop{Name: "::1"}}, "::1"},
		{Host{Hop: Hop{Name: "::1", Port: "22"}}, "[::1]:22"},
		{Host{Hop: Hop{User: "u", Name: "::1", Port: "22"}, Jump: []Hop{{Name: "a"}, {Name: "fe80::2", Port: "7"}}}, "u@[::1]:22|a,[fe80::2]:7"},
	}
	for _, tt := range tests {
		got := tt.h.String()
		if got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		back, msg := parseHostSpec(got)
		if msg != "" || !reflect.DeepEqual(back.Hop, tt.h.Hop) || !reflect.DeepEqual(back.Jump, tt.h.Jump) {
			t.Errorf("parseHostSpec(%q) = %+v, %q", got, back, msg)
		}
	}
	if !(Host{Tags: []string{"a", "b"}}).HasTag("b") || (Host{Tags: []string{"a"}}).HasTag("b") {
		t.Error("HasTag wrong")
	}
}

func TestParseKnownHosts(t *testing.T) {
	inv, err := LoadKnownHosts(filepath.Join("testdata", "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range inv.Hosts {
		got = append(got, h.String()+" @"+filepath.Base(h.Where))
		if len(h.Tags) != 0 {
			t.Errorf("%s has tags %v", h.Name, h.Tags)
		}
	}
	want := []string{
		"github.com @known_hosts:2",
		"140.82.112.3 @known_hosts:2",
		"gitlab.local:2222 @known_hosts:3",
		"[::1]:2200 @known_hosts:10",
		"fe80::1 @known_hosts:11",
		"web1.lan @known_hosts:11",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := LoadKnownHosts(filepath.Join(t.TempDir(), "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v", err)
	}
}

// endless is a line without end (as -D /dev/zero reads), up to limit
// bytes; read counts what was taken.
type endless struct{ read, limit int }

func (e *endless) Read(p []byte) (int, error) {
	if e.read >= e.limit {
		return 0, io.EOF
	}
	n := min(len(p), e.limit-e.read)
	for i := range p[:n] {
		p[i] = 'a'
	}
	e.read += n
	return n, nil
}

// TestParseInventoryEndlessLine: a line past the limit is an error as
// soon as it is known to be one; the inventory reader does not read on
// to its end, which for /dev/zero never comes.
func TestParseInventoryEndlessLine(t *testing.T) {
	r := &endless{limit: 256 << 20}
	_, err := ParseInventory(r, "/dev/zero")
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 1 || !strings.Contains(pe.Msg, "line too long") {
		t.Errorf("err %v, want line 1 too long", err)
	}
	if r.read > maxInventoryLine+128<<10 {
		t.Errorf("read %d bytes of an endless line before giving up", r.read)
	}
}

func TestLineReaderLong(t *testing.T) {
	long := strings.Repeat("y", 200<<10)
	lr := newLineReader(strings.NewReader("a\r\n"+long+"\nb"), 100<<10)
	var got []string
	var longs []bool
	for {
		l, isLong, err := lr.next()
		if err != nil {
			break
		}
		got = append(got, string(l))
		longs = append(longs, isLong)
	}
	if len(got) != 3 || got[0] != "a" || got[1] != long[:100<<10] || got[2] != "b" ||
		!reflect.DeepEqual(longs, []bool{false, true, false}) || lr.line != 3 {
		t.Errorf("got %d lines, longs %v, line %d", len(got), longs, lr.line)
	}
}
