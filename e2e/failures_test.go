package e2e

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
)

// TestFailingHosts: refused, blackholed (connect timeout), silent
// (handshake timeout), unknown and changed host keys, and a failed login
// each give one fail line saying why, while every other host in the same
// run still prints its okay line.
func TestFailingHosts(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 6})
	home := copyHome(t, f)

	refused := f.SpareAddr(0)
	blackhole := f.SpareAddr(1)
	silent := f.SpareAddr(2)
	stop, err := fleet.StartBlackhole(blackhole)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stop2, err := fleet.StartSilent(silent)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()

	// h002's known key is replaced by another key: a changed key.
	// h003's key is dropped: an unknown key.
	kh, _ := os.ReadFile(filepath.Join(home, ".ssh", "known_hosts"))
	var out []string
	for _, l := range strings.Split(string(kh), "\n") {
		switch {
		case strings.HasPrefix(l, "h002,"):
			l = knownhosts.Line([]string{"h002", knownhosts.Normalize(f.Host("h002").HostPort())}, f.Host("h006").HostKeyPub)
		case strings.HasPrefix(l, "h003,"):
			continue
		}
		out = append(out, l)
	}
	writeFile(t, filepath.Join(home, ".ssh", "known_hosts"), []byte(strings.Join(out, "\n")), 0o600)
	// h004 logs in with a key no host accepts.
	cfg, _ := os.ReadFile(filepath.Join(home, ".ssh", "config"))
	// (IdentityFile accumulates over matching blocks, as in OpenSSH: the
	// catch-all block must not offer the right key either.)
	for _, block := range []string{"Host h004\n", "Host *\n"} {
		i := bytes.Index(cfg, []byte(block))
		rest := bytes.Replace(cfg[i:], []byte("/.ssh/id_ed25519\n"), []byte("/.ssh/wrong_ed25519\n"), 1)
		cfg = append(cfg[:i:i], rest...)
	}
	writeFile(t, filepath.Join(home, ".ssh", "config"), cfg, 0o600)

	pattern := fmt.Sprintf("all:+sys:%s,%s,%s", refused, blackhole, silent)
	r := dt(t, f, []string{"HOME=" + home}, "", "-T", "1500ms", pattern, "ssh", "echo up")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	recs := records(t, r.stdout)
	want := map[string]string{
		"h001":    "up",
		"h002":    fmt.Sprintf("hostkey: host key for %s has CHANGED", f.Host("h002").HostPort()),
		"h003":    fmt.Sprintf("hostkey: host key for %s is not in known_hosts", f.Host("h003").HostPort()),
		"h004":    fmt.Sprintf("auth: fleet@%s: permission denied", f.Host("h004").HostPort()),
		"h005":    "up",
		"h006":    "up",
		refused:   fmt.Sprintf("connect: dial tcp %s:22: connection refused", refused),
		blackhole: fmt.Sprintf("connect: dial tcp %s:22: timed out after 1.5s", blackhole),
		silent:    fmt.Sprintf("handshake: ssh handshake with %s:22 timed out after 1.5s", silent),
	}
	if len(recs) != len(want) {
		t.Errorf("%d records, want %d", len(recs), len(want))
	}
	for host, prefix := range want {
		rec, ok := recs[host]
		if !ok {
			t.Errorf("no record for %s", host)
			continue
		}
		wantStatus := output.Fail
		if prefix == "up" {
			wantStatus = output.Okay
		}
		if rec.Status != wantStatus || !strings.HasPrefix(string(rec.Message), prefix) {
			t.Errorf("%s: %s %q, want %s %q...", host, rec.Status, rec.Message, wantStatus, prefix)
		}
	}
}

// TestAcceptNew: with an empty known_hosts, accept-new lets 40 new hosts in
// at once and records every key exactly once; a strict run then passes, and
// a changed key is still refused under accept-new.
func TestAcceptNew(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 40})
	home := copyHome(t, f)
	khFile := filepath.Join(home, ".ssh", "known_hosts")
	writeFile(t, khFile, nil, 0o600)
	env := []string{"HOME=" + home}

	r := dt(t, f, env, "", "all:", "ssh", "true")
	if r.code != 1 || strings.Count(r.stdout, "is not in known_hosts") != 40 {
		t.Fatalf("strict run with empty known_hosts: exit %d", r.code)
	}
	r = dt(t, f, env, "", "-C", "40", "--host-keys", "accept-new", "all:", "ssh", "true")
	if r.code != 0 || len(lines(r.stdout)) != 40 {
		t.Fatalf("accept-new: exit %d", r.code)
	}
	data, _ := os.ReadFile(khFile)
	if n := len(lines(string(data))); n != 40 {
		t.Errorf("known_hosts has %d lines, want 40", n)
	}
	cb, err := knownhosts.New(khFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range f.Hosts {
		addr := h.HostPort()
		if err := cb(addr, fakeAddr(addr), h.HostKeyPub); err != nil {
			t.Errorf("%s: %v", h.Name, err)
		}
	}
	r = dt(t, f, env, "", "all:", "ssh", "true")
	if r.code != 0 {
		t.Errorf("strict run after accept-new: exit %d", r.code)
	}

	// A changed key is refused even under accept-new.
	writeFile(t, khFile, []byte(knownhosts.Line([]string{knownhosts.Normalize(f.Hosts[0].HostPort())}, f.Hosts[1].HostKeyPub)+"\n"), 0o600)
	r = dt(t, f, env, "", "--host-keys", "accept-new", "sys:"+f.Hosts[0].Name, "ssh", "true")
	if r.code != 1 || !strings.Contains(r.stdout, "has CHANGED") {
		t.Errorf("changed key under accept-new: exit %d %q", r.code, r.stdout)
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// TestHostCertificates: hosts presenting OpenSSH host certificates are
// verified through an "@cert-authority" line of known_hosts, with no
// per-host key; a certificate from another CA fails every host as unknown
// under strict checking.
func TestHostCertificates(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 3, HostCertificates: true})
	home := copyHome(t, f)
	knownHosts := filepath.Join(home, ".ssh", "known_hosts")
	caLine := func(ca ssh.PublicKey) []byte {
		return append([]byte("@cert-authority 127.* "), ssh.MarshalAuthorizedKey(ca)...)
	}
	writeFile(t, knownHosts, caLine(f.HostCA), 0o600)
	r := dt(t, f, []string{"HOME=" + home}, "", "all:", "ssh", "echo $DT_TEST_HOST")
	recs := records(t, r.stdout)
	for _, h := range f.Hosts {
		if rec := recs[h.Name]; rec.Status != output.Okay || string(rec.Message) != h.Name {
			t.Errorf("%s: %s %q", h.Name, rec.Status, rec.Message)
		}
	}

	// Plain keys only (the fleet's own known_hosts): dt asks for the
	// plain key it can check, not for the certificate.
	plain, _ := os.ReadFile(f.KnownHosts)
	writeFile(t, knownHosts, plain, 0o600)
	r = dt(t, f, []string{"HOME=" + home}, "", "all:", "ssh", "true")
	if r.code != 0 {
		t.Errorf("plain known_hosts with certified hosts: exit %d", r.code)
	}
	// The CA and a stale plain key for h001: the certificate is asked for
	// first and vouches for the host; the stale key is not a "change".
	other, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	stale := knownhosts.Line([]string{f.Host("h001").Addr}, other) + "\n"
	writeFile(t, knownHosts, append([]byte(stale), caLine(f.HostCA)...), 0o600)
	r = dt(t, f, []string{"HOME=" + home}, "", "all:", "ssh", "true")
	if r.code != 0 {
		t.Errorf("CA plus a stale plain key: exit %d", r.code)
	}

	writeFile(t, knownHosts, caLine(other), 0o600)
	r = dt(t, f, []string{"HOME=" + home}, "", "all:", "ssh", "true")
	for _, h := range f.Hosts {
		rec := records(t, r.stdout)[h.Name]
		if rec.Status != output.Fail || !strings.HasPrefix(string(rec.Message), "hostkey: host certificate for ") {
			t.Errorf("%s with another CA: %s %q, want a host key failure", h.Name, rec.Status, rec.Message)
		}
	}

	// The right CA, revoked: every host is refused, and the line says the
	// certificate is revoked (not that a CA line is missing).
	revoked := append([]byte("@revoked * "), ssh.MarshalAuthorizedKey(f.HostCA)...)
	writeFile(t, knownHosts, append(caLine(f.HostCA), revoked...), 0o600)
	r = dt(t, f, []string{"HOME=" + home}, "", "all:", "ssh", "true")
	for _, h := range f.Hosts {
		rec := records(t, r.stdout)[h.Name]
		msg := string(rec.Message)
		if rec.Status != output.Fail || !strings.HasPrefix(msg, "hostkey: host certificate for ") || !strings.Contains(msg, "is REVOKED in known_hosts") || strings.Contains(msg, "needs an @cert-authority line") {
			t.Errorf("%s with a revoked CA: %s %q, want a revoked certificate", h.Name, rec.Status, msg)
		}
	}
}
