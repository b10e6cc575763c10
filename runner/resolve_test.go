package runner

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dtools/dt/hosts"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	userCfg := filepath.Join(dir, "config")
	sysCfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(userCfg, []byte(`
Host web1
  HostName 10.0.0.1
  User deploy
  Port 2200
  IdentityFile ~/.ssh/web_%r
  ConnectTimeout 3

Host behind
  HostName 10.0.1.5
  ProxyJump ops@bastion:2222,jump2

Host jump2
  HostName 10.9.9.9
  User j2

Host strict-off
  ServerAliveInterval 2
  ServerAliveCountMax 5
  StrictHostKeyChecking no
  UserKnownHostsFile ~/kh1 ~/kh2
`), 0o600)
	os.WriteFile(sysCfg, []byte(`
Host *
  User sysdefault
  IdentitiesOnly yes
`), 0o600)
	r, err := NewResolver(Config{Home: "/home/me", LocalUser: "me", SSHConfigFiles: []string{userCfg, sysCfg, filepath.Join(dir, "missing")}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ssh_config values", func(t *testing.T) {
		tg, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: "web1"}})
		if err != nil {
			t.Fatal(err)
		}
		want := &Target{
			Name: "web1", HostName: "10.0.0.1", Port: "2200", User: "deploy",
			IdentityFiles:   []string{"/home/me/.ssh/web_deploy"},
			IdentitiesOnly:  true,
			KnownHostsFiles: []string{"/home/me/.ssh/known_hosts", "/home/me/.ssh/known_hosts2", "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
			HostKeys:        Strict,
			ConnectTimeout:  3 * time.Second,
			KeepAlive:       15 * time.Second,
			KeepAliveMax:    3,
		}
		if !reflect.DeepEqual(tg, want) {
			t.Errorf("got  %+v\nwant %+v", tg, want)
		}
	})
	t.Run("inventory wins", func(t *testing.T) {
		tg, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: "web1", User: "root", Port: "22"}})
		if err != nil {
			t.Fatal(err)
		}
		if tg.User != "root" || tg.Port != "22" || tg.HostName != "10.0.0.1" {
			t.Errorf("got %s, want root@10.0.0.1:22", tg)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		tg, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: "other"}})
		if err != nil {
			t.Fatal(err)
		}
		if tg.HostName != "other" || tg.Port != "22" || tg.User != "sysdefault" || tg.ConnectTimeout != DefaultConnectTimeout {
			t.Errorf("got %+v", tg)
		}
	})
	t.Run("proxyjump chain", func(t *testing.T) {
		tg, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: "behind"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tg.String(), "sysdefault@10.0.1.5:22 via ops@bastion:2222,j2@10.9.9.9:22"; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
	t.Run("inventory jump replaces ProxyJump", func(t *testing.T) {
		tg, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: "behind"}, Jump: []hosts.Hop{{Name: "jump2"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tg.String(), "sysdefault@10.0.1.5:22 via j2@10.9.9.9:22"; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
	t.Run("host key policy and known hosts files", func(t *testing.T) {
		tg, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: "strict-off"}})
		if err != nil {
			t.Fatal(err)
		}
		if tg.HostKeys != AcceptNew {
			t.Errorf("StrictHostKeyChecking no gave %s, want accept-new", tg.HostKeys)
		}
		if tg.KeepAlive != 2*time.Second || tg.KeepAliveMax != 5 {
			t.Errorf("keepalive %s x %d, want 2s x 5", tg.KeepAlive, tg.KeepAliveMax)
		}
		if tg.KnownHostsFiles[0] != "/home/me/kh1" || tg.KnownHostsFiles[1] != "/home/me/kh2" {
			t.Errorf("known hosts files %q", tg.KnownHostsFiles)
		}
	})
	t.Run("flag overrides", func(t *testing.T) {
		r2, _ := NewResolver(Config{Home: "/h", LocalUser: "me", SSHConfigFiles: []string{userCfg}, HostKeys: Off, ConnectTimeout: time.Second})
		tg, err := r2.Resolve(hosts.Host{Hop: hosts.Hop{Name: "strict-off"}})
		if err != nil {
			t.Fatal(err)
		}
		if tg.HostKeys != Off || tg.ConnectTimeout != time.Second {
			t.Errorf("got %s %s", tg.HostKeys, tg.ConnectTimeout)
		}
	})
}

func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("Host loop1\n  ProxyJump loop2\nHost loop2\n  ProxyJump loop1\nHost badto\n  ConnectTimeout x\nHost pc\n  HostName $(reboot)\n  ProxyCommand nc %h %p\n"), 0o600)
	r, err := NewResolver(Config{Home: dir, SSHConfigFiles: []string{cfg}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"loop1", "badto", "pc"} {
		if _, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: name}}); err == nil {
			t.Errorf("Resolve(%s) succeeded, want an error", name)
		}
	}
}

// TestResolveProxyCommand: ProxyCommand's tokens are expanded; between it
// and ProxyJump the first one given wins, as in OpenSSH; "none" is none;
// a jump given in the inventory overrides both.
func TestResolveProxyCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte(`
Host pc
  HostName 10.1.2.3
  User deploy
  ProxyCommand ssh -W %h:%p -l %r bastion -o SetEnv=for_%n_100%%

Host pc-first
  ProxyCommand nc %h %p

Host jump-first
  ProxyJump bastion

Host none
  ProxyCommand none

Host *
  ProxyCommand nc -X connect %h %p
  ProxyJump never-used
`), 0o600)
	r, err := NewResolver(Config{Home: dir, LocalUser: "me", SSHConfigFiles: []string{cfg}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		host   hosts.Host
		proxy  string
		target string
	}{
		{hosts.Host{Hop: hosts.Hop{Name: "pc"}}, "ssh -W 10.1.2.3:22 -l deploy bastion -o SetEnv=for_pc_100%", "deploy@10.1.2.3:22"},
		{hosts.Host{Hop: hosts.Hop{Name: "pc-first"}}, "nc pc-first 22", "me@pc-first:22"},
		{hosts.Host{Hop: hosts.Hop{Name: "jump-first"}}, "", "me@jump-first:22 via me@bastion:22"},
		{hosts.Host{Hop: hosts.Hop{Name: "none"}}, "", "me@none:22"},
		{hosts.Host{Hop: hosts.Hop{Name: "pc"}, Jump: []hosts.Hop{{Name: "j"}}}, "", "deploy@10.1.2.3:22 via me@j:22"},
	} {
		tg, err := r.Resolve(tt.host)
		if err != nil {
			t.Errorf("Resolve(%s): %v", tt.host.Name, err)
			continue
		}
		if tg.ProxyCommand != tt.proxy || tg.String() != tt.target {
			t.Errorf("Resolve(%s) = %s with ProxyCommand %q, want %s with %q", tt.host.Name, tg, tg.ProxyCommand, tt.target, tt.proxy)
		}
	}
}

func TestResolveIdentityAgent(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("Host file\n  IdentityAgent ~/.1password/agent.sock\nHost env\n  IdentityAgent $MY_AGENT\nHost unset\n  IdentityAgent ${NO_SUCH}\nHost none\n  IdentityAgent none\nHost default\n  IdentityAgent SSH_AUTH_SOCK\n"), 0o600)
	env := map[string]string{"MY_AGENT": "/run/agent.sock"}
	r, err := NewResolver(Config{Home: "/home/me", LocalUser: "me", SSHConfigFiles: []string{cfg}, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"file": "/home/me/.1password/agent.sock", "env": "/run/agent.sock", "unset": "none", "none": "none", "default": "", "other": ""} {
		tg, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: host}})
		if err != nil || tg.IdentityAgent != want {
			t.Errorf("%s: IdentityAgent %q, %v; want %q", host, tg.IdentityAgent, err, want)
		}
	}
}

func TestParseHostKeyPolicy(t *testing.T) {
	for in, want := range map[string]HostKeyPolicy{"strict": Strict, "yes": Strict, "ask": Strict, "accept-new": AcceptNew, "no": AcceptNew, "off": Off} {
		if got, err := ParseHostKeyPolicy(in); err != nil || got != want {
			t.Errorf("ParseHostKeyPolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseHostKeyPolicy("maybe"); err == nil {
		t.Error("ParseHostKeyPolicy(maybe) succeeded")
	}
}
