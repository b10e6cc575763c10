package runner

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

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
	x := newConfigIndex(cfg)
	aliases := []string{"web1", "web2", "web3", "webby", "a.example.com", "bad.example.com", "db1", "nomatch", "WEB1", "web1 "}
	keys := []string{"HostName", "Port", "User", "IdentityFile", "ProxyJump", "port", "Missing"}
	for _, a := range aliases {
		h := &hostConfig{alias: a, files: [][]*ssh_config.Host{x.blocks(a)}}
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
		r := &Resolver{cfg: Config{Home: "/home/me", LocalUser: "me"}, files: []*configIndex{newConfigIndex(cfg)}}
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
