package runner

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAcceptNewConcurrent: hundreds of new hosts accepted at once leave
// one intact known_hosts line each.
func TestAcceptNewConcurrent(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte("# existing, no final newline"), 0o600)
	hk := newHostKeys()
	const n = 300
	keys := make([]ssh.PublicKey, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		keys[i] = newKey(t)
		tg := &Target{HostName: fmt.Sprintf("10.1.%d.%d", i/256, i%256), Port: "22", HostKeys: AcceptNew, KnownHostsFiles: []string{kh}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hk.callback(tg)("", nil, keys[i]); err != nil {
				t.Errorf("host %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	cb, err := knownhosts.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("10.1.%d.%d:22", i/256, i%256)
		if err := cb(addr, fakeAddr(addr), keys[i]); err != nil {
			t.Errorf("%s not recorded: %v", addr, err)
		}
	}
	data, _ := os.ReadFile(kh)
	if lines := strings.Count(string(data), "\n"); lines != n+1 {
		t.Errorf("known_hosts has %d lines, want %d", lines, n+1)
	}
}

func TestHostKeyPolicies(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	known, other := newKey(t), newKey(t)
	os.WriteFile(kh, []byte(knownhosts.Line([]string{"10.0.0.1"}, known)+"\n"), 0o600)
	tg := func(host string, p HostKeyPolicy) *Target {
		return &Target{HostName: host, Port: "22", HostKeys: p, KnownHostsFiles: []string{kh, filepath.Join(dir, "absent")}}
	}
	tests := []struct {
		name    string
		target  *Target
		key     ssh.PublicKey
		changed bool
		ok      bool
	}{
		{"known", tg("10.0.0.1", Strict), known, false, true},
		{"changed strict", tg("10.0.0.1", Strict), other, true, false},
		{"changed accept-new", tg("10.0.0.1", AcceptNew), other, true, false},
		{"unknown strict", tg("10.0.0.2", Strict), other, false, false},
		{"unknown accept-new", tg("10.0.0.3", AcceptNew), other, false, true},
		{"changed off", tg("10.0.0.1", Off), other, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newHostKeys().callback(tt.target)("", nil, tt.key)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			var hke *HostKeyError
			if err != nil && (!errors.As(err, &hke) || hke.Changed != tt.changed) {
				t.Fatalf("err = %#v, want HostKeyError changed=%v", err, tt.changed)
			}
			if tt.changed && !strings.Contains(err.Error(), "CHANGED") {
				t.Errorf("message %q does not say the key changed", err)
			}
		})
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	key := newKey(t)
	os.WriteFile(kh, []byte(knownhosts.Line([]string{"10.0.0.1"}, key)+"\n"), 0o600)
	hk := newHostKeys()
	got := hk.algorithms(&Target{HostName: "10.0.0.1", Port: "22", HostKeys: Strict, KnownHostsFiles: []string{kh}})
	if len(got) != 1 || got[0] != ssh.KeyAlgoED25519 {
		t.Errorf("algorithms = %q, want [ssh-ed25519]", got)
	}
	if got := hk.algorithms(&Target{HostName: "10.0.0.9", Port: "22", HostKeys: Strict, KnownHostsFiles: []string{kh}}); got != nil {
		t.Errorf("unknown host: algorithms = %q, want nil", got)
	}
}

// The known_hosts index must choose the same algorithms as asking
// knownhosts with a probe key, which is what it replaces.
func TestHostKeyAlgorithmsIndexAgreesWithProbe(t *testing.T) {
	ed, ed2 := newKey(t), newKey(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ssh.NewPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	plain := knownhosts.Line([]string{"h1", "10.0.0.1"}, ed) + "\n" +
		knownhosts.Line([]string{"10.0.0.1"}, ecKey) + "\n" +
		knownhosts.Line([]string{"[10.0.0.2]:2222"}, ecKey) + "\n" +
		"10.0.0.3 ssh-ed25519 not-base64!\n" +
		"10.0.0.4 ssh-rsa " + strings.Fields(knownhosts.Line([]string{"x"}, ed))[2] + "\n" + // type mismatch: skipped
		"  # comment\n\n" +
		knownhosts.Line([]string{"::1"}, ed2) + "\n"
	targets := []struct{ host, port string }{
		{"10.0.0.1", "22"}, {"h1", "22"}, {"10.0.0.2", "2222"}, {"10.0.0.2", "22"},
		{"10.0.0.3", "22"}, {"10.0.0.4", "22"}, {"::1", "22"}, {"nope", "22"},
	}
	for _, tt := range []struct {
		name, text string
		probe      bool // the index must give up and ask knownhosts
	}{
		{"plain", plain, false},
		{"hashed", plain + knownhosts.Line([]string{knownhosts.HashHostname("10.0.0.9")}, ed) + "\n", true},
		{"wildcard", plain + knownhosts.Line([]string{"10.0.0.*"}, ed2) + "\n", true},
		{"revoked", plain + "@revoked " + knownhosts.Line([]string{"*"}, ed2) + "\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			hk := newHostKeys()
			db, err := hk.db([]string{kh})
			if err != nil {
				t.Fatal(err)
			}
			if db.probe != tt.probe {
				t.Fatalf("probe = %v, want %v", db.probe, tt.probe)
			}
			for _, tg := range targets {
				target := &Target{HostName: tg.host, Port: tg.port, HostKeys: Strict, KnownHostsFiles: []string{kh}}
				db.probe = tt.probe
				got := hk.algorithms(target)
				db.probe = true
				want := hk.algorithms(target)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s:%s: algorithms = %q, knownhosts probe says %q", tg.host, tg.port, got, want)
				}
			}
			// Not vacuous: both keys of 10.0.0.1, in file order.
			got := hk.algorithms(&Target{HostName: "10.0.0.1", Port: "22", HostKeys: Strict, KnownHostsFiles: []string{kh}})
			if want := []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("10.0.0.1: algorithms = %q, want %q", got, want)
			}
		})
	}
}
