package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kevinburke/ssh_config"

	"github.com/dtools/dt/hosts"
)

// The index must answer exactly what ssh_config.Config.Get and GetAll answer.
func TestConfigIndexMatchesSSHConfig(t *testing.T) {
	const text = `
User top
Host web1 web2
  HostName 10.0.0.1
  IdentityFile ~/.ssh/a
Host web?
  Port 2201
  IdentityFile ~/.ssh/b
Host *.example.com !bad.example.com
  User ex
  Port 2202
Host web1
  Port 9999
  User second
  IdentityFile ~/.ssh/c
Host db1
  Port
Host bad.example.com
  HostName 10.9.9.9
Host !web1 *
  ProxyJump j
Host *
  IdentityFile ~/.ssh/d
  Port 22
`
	cfg, err := ssh_config.Decode(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	x, err := (&configLoader{files: map[string]*configIndex{}}).newConfigIndex("config", cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	aliases := []string{"web1", "web2", "web3", "webby", "a.example.com", "bad.example.com", "db1", "nomatch", "WEB1", "web1 "}
	keys := []string{"HostName", "Port", "User", "IdentityFile", "ProxyJump", "port", "Missing"}
	for _, a := range aliases {
		lines, truncated := x.lines(matchTarget{alias: a})
		h := &hostConfig{alias: a, files: [][]ssh_config.Node{lines}, truncated: []bool{truncated}}
		for _, k := range keys {
			t.Run(fmt.Sprintf("%s/%s", a, k), func(t *testing.T) {
				want, _ := cfg.Get(a, k)
				if got := h.get(k); got != want {
					t.Errorf("get = %q, ssh_config.Get = %q", got, want)
				}
				wantAll, _ := cfg.GetAll(a, k)
				if got := h.getAll(k); !reflect.DeepEqual(got, wantAll) {
					t.Errorf("getAll = %q, ssh_config.GetAll = %q", got, wantAll)
				}
			})
		}
	}
}

// TestMatch: Match blocks apply by host (after HostName), originalhost,
// user (the inventory's first), localuser, exec (tokens expanded, run once
// per distinct command, only when the criteria before it held), all,
// negations and pattern lists, as OpenSSH reads them; criteria dt does not
// evaluate make the block not apply and give a warning naming file and
// line.
func TestMatch(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte(`Host web1
  HostName 10.0.0.1

Match host 10.0.0.*
  User by-address
  Port 2201

Host db?
  Port 5432

Match originalhost db1,!db2 user root
  IdentityFile ~/.ssh/db1-root

Match originalhost db2 !user root
  IdentityFile ~/.ssh/db2-not-root

Match localuser me host "mail*"
  User mailadmin

Match host vpn* exec "test %n = vpn1 && echo %n >> `+filepath.Join(dir, "exec.log")+`"
  ProxyJump bastion

Match localnetwork 10.0.0.0/8
  Port 9

Match all
  ConnectTimeout 7
`), 0o600)
	r, err := NewResolver(Config{Home: "/home/me", LocalUser: "me", SSHConfigFiles: []string{cfg}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		hop               hosts.Hop
		target            string
		identityFiles     []string
		connectTimeoutSec int
	}{
		{hosts.Hop{Name: "web1"}, "by-address@10.0.0.1:2201", nil, 7},
		{hosts.Hop{Name: "web2"}, "me@web2:22", nil, 7},
		{hosts.Hop{Name: "db1", User: "root"}, "root@db1:5432", []string{"/home/me/.ssh/db1-root"}, 7},
		{hosts.Hop{Name: "db1"}, "me@db1:5432", nil, 7},
		{hosts.Hop{Name: "db2", User: "root"}, "root@db2:5432", nil, 7},
		{hosts.Hop{Name: "db2"}, "me@db2:5432", []string{"/home/me/.ssh/db2-not-root"}, 7},
		{hosts.Hop{Name: "mail1"}, "mailadmin@mail1:22", nil, 7},
		{hosts.Hop{Name: "vpn1"}, "me@vpn1:22 via me@bastion:22", nil, 7},
		{hosts.Hop{Name: "vpn1"}, "me@vpn1:22 via me@bastion:22", nil, 7},
		{hosts.Hop{Name: "vpn2"}, "me@vpn2:22", nil, 7},
		{hosts.Hop{Name: "web2"}, "me@web2:22", nil, 7},
	} {
		tg, err := r.Resolve(hosts.Host{Hop: tt.hop})
		if err != nil {
			t.Errorf("%s: %v", tt.hop.Name, err)
			continue
		}
		if tg.String() != tt.target || !reflect.DeepEqual(tg.IdentityFiles, tt.identityFiles) || tg.ConnectTimeout != time.Duration(tt.connectTimeoutSec)*time.Second {
			t.Errorf("%s: got %s %q %s, want %s %q %ds", tt.hop.Name, tg, tg.IdentityFiles, tg.ConnectTimeout, tt.target, tt.identityFiles, tt.connectTimeoutSec)
		}
	}
	want := []string{cfg + ":23: Match localnetwork is not evaluated by dt; the block's settings are not used"}
	if got := r.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	// exec ran once per distinct command line (vpn1 twice: once), and
	// only where "host vpn*" held.
	if log, _ := os.ReadFile(filepath.Join(dir, "exec.log")); string(log) != "vpn1\n" {
		t.Errorf("exec ran as %q, want once, for vpn1", log)
	}
}

func TestRewriteKeywords(t *testing.T) {
	in := "Match all\n  match=host x\n\tMATCH user y\nMatchbox z\n  # Match in a comment\nInclude a b\nincluded x\nHost a\n"
	want := "DtMatch all\n  DtMatch=host x\n\tDtMatch user y\nMatchbox z\n  # Match in a comment\nDtInclude a b\nincluded x\nHost a\n"
	if got := string(rewriteKeywords([]byte(in))); got != want {
		t.Errorf("rewriteKeywords:\n%s\nwant\n%s", got, want)
	}
}

// TestInclude: Include reads files relative to ~/.ssh, with ~ and globs
// (in lexical order), applies them where the Include line stands (inside
// a Host or Match block only when that block applies), and evaluates their
// Match blocks too; missing files are skipped; a loop is an error.
func TestInclude(t *testing.T) {
	home := t.TempDir()
	sshDir := filepath.Join(home, ".ssh")
	os.MkdirAll(filepath.Join(sshDir, "config.d"), 0o700)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(sshDir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("config", `Include config.d/* missing-file
Host web1
  Include ~/.ssh/web1-only
Host *
  User fallback
`)
	write("config.d/10-a", "Host db1\n  User from-a\n  Port 2201\n")
	write("config.d/20-b", "Host db1\n  User from-b\n  IdentityFile ~/.ssh/b\nMatch originalhost db2 exec \"on-vpn\"\n  Port 9\nMatch originalhost db3\n  Port 2203\n")
	write("web1-only", "Host *\n  Port 2222\n")
	r, err := NewResolver(Config{Home: home, LocalUser: "me", SSHConfigFiles: []string{filepath.Join(sshDir, "config")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ host, want string }{
		{"db1", "from-a@db1:2201"},
		{"db2", "fallback@db2:22"},
		{"db3", "fallback@db3:2203"},
		{"web1", "fallback@web1:2222"},
		{"web2", "fallback@web2:22"},
	} {
		tg, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: tt.host}})
		if err != nil {
			t.Errorf("%s: %v", tt.host, err)
			continue
		}
		if tg.String() != tt.want {
			t.Errorf("%s: got %s, want %s", tt.host, tg, tt.want)
		}
	}
	if got := r.Warnings(); len(got) != 0 {
		t.Errorf("warnings %q, want none", got)
	}

	write("loop", "Include loop\n")
	if _, err := NewResolver(Config{Home: home, SSHConfigFiles: []string{filepath.Join(sshDir, "loop")}}); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("an Include loop gave %v", err)
	}
}

func TestMatchPatternList(t *testing.T) {
	for _, tt := range []struct {
		s, list string
		fold    bool
		want    bool
	}{
		{"web1", "web*", false, true},
		{"web1", "db*,web?", false, true},
		{"web1", "web*,!web1", false, false},
		{"WEB1", "web1", true, true},
		{"WEB1", "web1", false, false},
		{"a.b.c", "*.c", false, true},
		{"abc", "a*c*", false, true},
		{"ab", "a?c", false, false},
		{"", "*", false, true},
	} {
		if got := matchPatternList(tt.s, tt.list, tt.fold); got != tt.want {
			t.Errorf("matchPatternList(%q, %q, %v) = %v, want %v", tt.s, tt.list, tt.fold, got, tt.want)
		}
	}
}

// BenchmarkResolve resolves every host of an ssh_config with one Host block
// per host (as a large fleet's has): the cost per host must not grow with
// the number of hosts.
func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		var sb strings.Builder
		for i := range n {
			fmt.Fprintf(&sb, "Host h%d\n  HostName 10.0.%d.%d\n  Port 22\n  User u\n  IdentityFile ~/.ssh/k\n  IdentitiesOnly yes\n  UserKnownHostsFile ~/kh\n", i, i/256, i%256)
		}
		sb.WriteString("Host *\n  User fallback\n  StrictHostKeyChecking yes\n")
		cfg, err := ssh_config.Decode(strings.NewReader(sb.String()))
		if err != nil {
			b.Fatal(err)
		}
		x, err := (&configLoader{files: map[string]*configIndex{}}).newConfigIndex("config", cfg, 0)
		if err != nil {
			b.Fatal(err)
		}
		r := &Resolver{cfg: Config{Home: "/home/me", LocalUser: "me"}, files: []*configIndex{x}}
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := r.resolveHop(hosts.Hop{Name: fmt.Sprintf("h%d", i%n)}, 0, false); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
