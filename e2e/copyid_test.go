package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/dtools/dt/internal/fleet"
)

// TestSSHCopyID bootstraps hosts that no key of ours logs in to: the
// fleet's key is in no authorized_keys, h001 and h003 take a password, h002
// keyboard-interactive answers (PAM). Without a terminal nothing is asked;
// with -i on a terminal the password is asked once per host and the key
// is added; after that the key logs in and a second run says present.
func TestSSHCopyID(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 3, PrivateHome: true, NoSharedKey: true, Password: true,
		KbdInteractive: func(i int) bool { return i == 1 }})
	pub := f.ClientKey + ".pub"
	// h003 already has another key in a file without a final newline.
	h3 := &f.Hosts[2]
	other := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsHm3dMPMDBvPGS7PN/5KgHBQr5Gq52iNc9qBnjZ6hB other@box"
	mustRemote(t, "mkdir -m 750 "+h3.HomePath(f, ".ssh")+" && printf %s '"+other+"' >"+h3.HomePath(f, ".ssh/authorized_keys")+" && chown -R "+f.User+": "+h3.HomePath(f, ".ssh"))

	// No terminal, with or without -i: nothing asked, auth fails.
	for _, args := range [][]string{{"all:", "ssh-copy-id", pub}, {"-i", "all:", "ssh-copy-id", pub}} {
		cmd := exec.Command(dtBin, args...)
		cmd.Env = f.Env()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		t.Logf("$ dt %s\n%s", strings.Join(args, " "), out.String())
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%q: %v, want exit 1", args, err)
		}
		if n := strings.Count(out.String(), ":auth: "); n != 3 {
			t.Errorf("%q: %d auth failures, want 3", args, n)
		}
		if strings.Contains(out.String(), "password for") {
			t.Errorf("%q: a password was asked without a terminal", args)
		}
	}

	// -i on a terminal: one question per host, the key added.
	cmd := exec.Command(dtBin, "-i", "-N", "all:", "ssh-copy-id", pub)
	cmd.Env = f.Env()
	term := startOnPTY(t, cmd)
	for _, h := range f.Hosts {
		prompt := "dt: password for " + f.User + "@" + h.HostPort() + " (" + h.Name + "): "
		if h.Name == "h002" {
			prompt = "dt: h002: Password: "
		}
		term.waitFor(prompt)
		term.typeIn(f.Password + "\r")
		term.waitFor("okay::dt:ssh-copy-id:" + h.Name + ":added ssh-ed25519 SHA256:")
	}
	text, err := term.wait()
	if err != nil {
		t.Errorf("dt: %v", err)
	}
	if n := strings.Count(text, "assword"); n != 3 {
		t.Errorf("%d password questions, want one per host", n)
	}
	if strings.Contains(text, f.Password) {
		t.Error("the password was echoed")
	}

	keyLine, _ := os.ReadFile(pub)
	for _, h := range f.Hosts {
		dir, file := h.HomePath(f, ".ssh"), h.HomePath(f, ".ssh/authorized_keys")
		want := string(keyLine)
		wantDir := os.FileMode(0o700)
		if h.Name == "h003" {
			want, wantDir = other+"\n"+want, 0o750
		}
		got, err := os.ReadFile(file)
		if err != nil || string(got) != want {
			t.Errorf("%s: authorized_keys %q, %v; want %q", h.Name, got, err, want)
		}
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != wantDir {
			t.Errorf("%s: ~/.ssh mode %v, %v; want %v", h.Name, st.Mode().Perm(), err, wantDir)
		}
		if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 && h.Name != "h003" {
			t.Errorf("%s: authorized_keys mode %v, %v; want 0600", h.Name, st.Mode().Perm(), err)
		}
	}

	// The key logs in now; a second run adds nothing.
	r := dt(t, f, nil, "", "all:", "ssh-copy-id", pub)
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 3 {
		t.Fatalf("second run: exit %d", r.code)
	}
	for h, rec := range recs {
		if !strings.HasPrefix(string(rec.Message), "present ssh-ed25519 SHA256:") {
			t.Errorf("%s: %q, want present", h, rec.Message)
		}
	}
	for _, h := range f.Hosts {
		if got, _ := os.ReadFile(h.HomePath(f, ".ssh/authorized_keys")); bytes.Count(got, bytes.TrimSpace(keyLine)) != 1 {
			t.Errorf("%s: the key is in authorized_keys %d times", h.Name, bytes.Count(got, bytes.TrimSpace(keyLine)))
		}
	}
}

// TestSSHCopyIDWrongPassword: a wrong password fails the host with the
// reason, after one question (the server's second method gets the same
// answer, not a second prompt).
func TestSSHCopyIDWrongPassword(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 1, PrivateHome: true, NoSharedKey: true, Password: true})
	cmd := exec.Command(dtBin, "-i", "-N", "all:", "ssh-copy-id", f.ClientKey+".pub")
	cmd.Env = f.Env()
	term := startOnPTY(t, cmd)
	term.waitFor("password for ")
	term.typeIn("not-" + f.Password + "\r")
	text, err := term.wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want 1", err)
	}
	if n := strings.Count(text, "password for "); n != 1 {
		t.Errorf("asked %d times, want once", n)
	}
	if !strings.Contains(text, "fail::dt:ssh-copy-id:h001:auth: ") || !strings.Contains(text, "the password typed was refused") {
		t.Errorf("no auth failure naming the password: %q", text)
	}
	if _, err := os.Stat(f.Hosts[0].HomePath(f, ".ssh")); err == nil {
		t.Error("~/.ssh was created without a login")
	}
}

// mustRemote runs a shell command on this machine (as root), for setting
// up a host's files through its HomePath.
func mustRemote(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", script, err, out)
	}
}
