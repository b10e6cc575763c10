package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/internal/pty"
	"github.com/dtools/dt/output"
)

// bareConfig writes an ssh_config for the fleet's first n hosts that names
// no identity file, so only the agent or the default key files can log in.
func bareConfig(t *testing.T, f *fleet.Fleet, n int, extra string) string {
	t.Helper()
	var b strings.Builder
	for _, h := range f.Hosts[:n] {
		fmt.Fprintf(&b, "Host %s\n  HostName %s\n  Port %d\n  User %s\n  UserKnownHostsFile %s\n%s\n", h.Name, h.Addr, h.Port, f.User, f.KnownHosts, extra)
	}
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startSSHAgent starts a real ssh-agent for the test and returns its
// socket.
func startSSHAgent(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Fatal("ssh-agent is needed: ", err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	// The socket file appears at bind, before ssh-agent listens: wait
	// until it accepts a connection.
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		if i > 250 {
			t.Fatal("ssh-agent did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sshAdd loads key into the agent at sock, answering its passphrase
// question (if pass is set) through SSH_ASKPASS.
func sshAdd(t *testing.T, sock, key, pass string) {
	t.Helper()
	add := exec.Command("ssh-add", key)
	add.Env = []string{"SSH_AUTH_SOCK=" + sock}
	if pass != "" {
		askpass := filepath.Join(t.TempDir(), "askpass")
		writeFile(t, askpass, []byte("#!/bin/sh\necho '"+pass+"'\n"), 0o700)
		add.Env = append(add.Env, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
		add.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
}

// TestAgentAuth: keys held by a real ssh-agent log in; without the agent
// the same run fails with an auth error.
func TestAgentAuth(t *testing.T) {
	f := shared(t)
	sock := startSSHAgent(t)
	sshAdd(t, sock, f.ClientKey, "")
	home := t.TempDir() // no key files at all
	cfg := bareConfig(t, f, 3, "")
	r := dt(t, f, []string{"HOME=" + home, "SSH_AUTH_SOCK=" + sock}, "", "-F", cfg, "sys:h001,h002,h003", "ssh", "echo ok")
	if r.code != 0 || len(records(t, r.stdout)) != 3 {
		t.Errorf("with agent: exit %d", r.code)
	}
	r = dt(t, f, []string{"HOME=" + home}, "", "-F", cfg, "sys:h001", "ssh", "echo ok")
	if r.code != 1 || !strings.Contains(r.stdout, "auth: ") || !strings.Contains(r.stdout, "offered 0 key(s)") {
		t.Errorf("without agent: exit %d %q", r.code, r.stdout)
	}
	// ssh_config IdentityAgent names the agent without $SSH_AUTH_SOCK (as
	// 1Password's or Secretive's setup does), and "none" turns it off.
	cfg = bareConfig(t, f, 1, "  IdentityAgent "+sock)
	r = dt(t, f, []string{"HOME=" + home}, "", "-F", cfg, "sys:h001", "ssh", "echo ok")
	if r.code != 0 {
		t.Errorf("IdentityAgent: exit %d %q", r.code, r.stdout)
	}
	cfg = bareConfig(t, f, 1, "  IdentityAgent none")
	r = dt(t, f, []string{"HOME=" + home, "SSH_AUTH_SOCK=" + sock}, "", "-F", cfg, "sys:h001", "ssh", "echo ok")
	if r.code != 1 || !strings.Contains(r.stdout, "offered 0 key(s)") {
		t.Errorf("IdentityAgent none: exit %d %q", r.code, r.stdout)
	}
}

// TestAgentHoldsIdentityFile: as with OpenSSH, an encrypted IdentityFile
// whose key a real ssh-agent holds logs in through the agent, with no
// terminal and no passphrase question, with or without IdentitiesOnly;
// and IdentitiesOnly keeps the agent's other keys out.
func TestAgentHoldsIdentityFile(t *testing.T) {
	f := shared(t)
	const pass = "agent has it"
	key := encryptedKey(t, f, pass)
	sock := startSSHAgent(t)
	sshAdd(t, sock, key, pass)
	for _, tt := range []struct {
		name, extra string
		wantOkay    bool
	}{
		{"IdentitiesOnly", "  IdentityFile " + key + "\n  IdentitiesOnly yes", true},
		{"agent and files", "  IdentityFile " + key, true},
		{"IdentitiesOnly with another key", "  IdentityFile " + f.WrongKey + "\n  IdentitiesOnly yes", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := bareConfig(t, f, 2, tt.extra)
			if tt.wantOkay {
				// On a terminal, too, nothing is asked: the agent signs.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, dtBin, "-F", cfg, "-N", "sys:h001,h002", "ssh", "echo in")
				cmd.Env = append(f.Env(), "HOME="+t.TempDir(), "SSH_AUTH_SOCK="+sock)
				text, err := startOnPTY(t, cmd).wait()
				if err != nil || strings.Contains(text, "passphrase") {
					t.Errorf("on a terminal: %v; a passphrase was asked or dt hung", err)
				}
				for _, h := range []string{"h001", "h002"} {
					if !strings.Contains(text, string(output.Okay)+"::dt:ssh:"+h+":in") {
						t.Errorf("on a terminal: no okay line for %s", h)
					}
				}
			}
			cmd := exec.Command(dtBin, "-F", cfg, "-N", "sys:h001,h002", "ssh", "echo in")
			cmd.Env = append(f.Env(), "HOME="+t.TempDir(), "SSH_AUTH_SOCK="+sock)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no terminal to ask on
			out, _ := cmd.Output()
			t.Logf("%s", out)
			recs := records(t, string(out))
			for _, h := range []string{"h001", "h002"} {
				r, ok := recs[h]
				switch {
				case !ok:
					t.Errorf("no line for %s", h)
				case tt.wantOkay && (r.Status != output.Okay || string(r.Message) != "in"):
					t.Errorf("%s: %s %q, want okay \"in\"", h, r.Status, r.Message)
				case !tt.wantOkay && (r.Status != output.Fail || !strings.Contains(string(r.Message), "offered 1 key(s)")):
					t.Errorf("%s: %s %q, want an auth failure offering only the IdentityFile", h, r.Status, r.Message)
				}
			}
		})
	}
}

// encryptedKey writes a passphrase-protected copy of the fleet's client
// key and returns its path.
func encryptedKey(t *testing.T, f *fleet.Fleet, pass string) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_enc")
	data, err := os.ReadFile(f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, key, data, 0o600)
	if out, err := exec.Command("ssh-keygen", "-q", "-p", "-P", "", "-N", pass, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -p: %v %s", err, out)
	}
	return key
}

// TestEncryptedKeyNoTerminal: without a terminal an encrypted key cannot
// be used, and the fail line says why.
func TestEncryptedKeyNoTerminal(t *testing.T) {
	f := shared(t)
	key := encryptedKey(t, f, "sekrit")
	cfg := bareConfig(t, f, 1, "  IdentityFile "+key)
	cmd := exec.Command(dtBin, "-F", cfg, "sys:h001", "ssh", "true")
	cmd.Env = append(f.Env(), "HOME="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	out, _ := cmd.Output()
	if !strings.Contains(string(out), "auth: ") || !strings.Contains(string(out), key+" is encrypted") {
		t.Errorf("got %q, want an auth failure naming the encrypted key", out)
	}
}

// TestEncryptedKeyPrompt: on a terminal the passphrase is asked once for
// all hosts, is not echoed, and every host logs in.
func TestEncryptedKeyPrompt(t *testing.T) {
	f := shared(t)
	const pass = "correct horse"
	key := encryptedKey(t, f, pass)
	cfg := bareConfig(t, f, 4, "  IdentityFile "+key)
	cmd := exec.Command(dtBin, "-F", cfg, "-N", "sys:h001,h002,h003,h004", "ssh", "echo in")
	cmd.Env = append(f.Env(), "HOME="+t.TempDir())
	term := startOnPTY(t, cmd)
	term.waitFor("passphrase for ")
	term.typeIn(pass + "\r")
	text, err := term.wait()
	if err != nil {
		t.Errorf("dt: %v", err)
	}
	if n := strings.Count(text, "passphrase for "); n != 1 {
		t.Errorf("asked %d times, want once", n)
	}
	if strings.Contains(text, pass) {
		t.Error("the passphrase was echoed")
	}
	for _, h := range []string{"h001", "h002", "h003", "h004"} {
		if !strings.Contains(text, string(output.Okay)+"::dt:ssh:"+h+":in") {
			t.Errorf("no okay line for %s", h)
		}
	}
}

// TestInteractive: -i runs hosts one at a time, in inventory order (h001
// before h002 whatever the pattern says), with a remote terminal attached
// to ours; keystrokes reach the remote command.
func TestInteractive(t *testing.T) {
	f := shared(t)
	cmd := exec.Command(dtBin, "-i", "-N", "sys:h002,h001", "ssh", `tty >/dev/null && printf 'on-tty '; printf "$DT_TEST_HOST? "; read answer; echo "got $answer"`)
	cmd.Env = f.Env()
	term := startOnPTY(t, cmd)
	term.waitFor("on-tty h001? ")
	term.typeIn("blue\r")
	term.waitFor("got blue")
	term.waitFor("on-tty h002? ")
	term.typeIn("red\r")
	term.waitFor("got red")
	text, err := term.wait()
	if err != nil {
		t.Errorf("dt: %v", err)
	}
	if i, j := strings.Index(text, "h001?"), strings.Index(text, "h002?"); i < 0 || j < i {
		t.Errorf("hosts did not run one after the other in the given order: %q", text)
	}
	if !strings.Contains(text, "okay::dt:ssh:h002:") || !strings.Contains(text, "okay::dt:ssh:h001:") {
		t.Errorf("missing status lines: %q", text)
	}
}

// terminal is a command running on a pseudo-terminal, and what it showed.
type terminal struct {
	t      *testing.T
	ptmx   *os.File
	cmd    *exec.Cmd
	screen bytes.Buffer
	chunks chan string
}

// startOnPTY starts cmd as a session leader with a new pseudo-terminal as
// its controlling terminal and stdio.
func startOnPTY(t *testing.T, cmd *exec.Cmd) *terminal {
	t.Helper()
	ptmx, pts := openPTY(t)
	t.Cleanup(func() { ptmx.Close() })
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	term := &terminal{t: t, ptmx: ptmx, cmd: cmd, chunks: make(chan string, 100)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			if n > 0 {
				term.chunks <- string(buf[:n])
			}
			if err != nil {
				close(term.chunks)
				return
			}
		}
	}()
	return term
}

// waitFor waits up to 10s for s to appear on the screen.
func (term *terminal) waitFor(s string) {
	term.t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(term.screen.String(), s) {
		select {
		case chunk, ok := <-term.chunks:
			if !ok {
				term.t.Fatalf("ended before %q; screen %q", s, term.screen.String())
			}
			term.screen.WriteString(chunk)
		case <-deadline:
			term.cmd.Process.Kill()
			term.t.Fatalf("no %q; screen %q", s, term.screen.String())
		}
	}
}

// typeIn types s at the keyboard.
func (term *terminal) typeIn(s string) { io.WriteString(term.ptmx, s) }

// wait waits for the command to end and returns the whole screen.
func (term *terminal) wait() (string, error) {
	err := term.cmd.Wait()
	for chunk := range term.chunks {
		term.screen.WriteString(chunk)
	}
	term.t.Logf("screen:\n%s", term.screen.String())
	return term.screen.String(), err
}

// openPTY opens a pseudo-terminal pair (Linux /dev/ptmx).
func openPTY(t *testing.T) (ptmx, pts *os.File) {
	t.Helper()
	ptmx, pts, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	return ptmx, pts
}

// TestInteractivePasswordEachHost: with -i, hosts run one after another
// with the terminal handed to each remote command; a later host's password
// question gets the keystrokes typed for it, never the previous host's
// stdin reader, and the password is neither shown nor given to a command.
func TestInteractivePasswordEachHost(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 4, PrivateHome: true, NoSharedKey: true, Password: true})
	cmd := exec.Command(dtBin, "-i", "-N", "all:", "ssh", "echo in")
	cmd.Env = f.Env()
	term := startOnPTY(t, cmd)
	for _, h := range f.Hosts {
		term.waitFor("dt: password for " + f.User + "@" + h.HostPort() + " (" + h.Name + "): ")
		time.Sleep(100 * time.Millisecond) // as a person would: after the question
		term.typeIn(f.Password + "\r")
		term.waitFor("okay::dt:ssh:" + h.Name + ":")
	}
	text, err := term.wait()
	if err != nil {
		t.Errorf("dt: %v", err)
	}
	if strings.Contains(text, f.Password) {
		t.Error("the password was shown")
	}
	if n := strings.Count(text, "\r\nin\r\n"); n != len(f.Hosts) {
		t.Errorf("%d hosts ran, want %d", n, len(f.Hosts))
	}
}

// TestPromptNotOverwrittenByProgress: while dt waits for a passphrase on
// the terminal, the progress line (on since stderr is a terminal) is not
// drawn over the question; it comes back once the question is answered.
func TestPromptNotOverwrittenByProgress(t *testing.T) {
	f := shared(t)
	const pass = "correct horse"
	key := encryptedKey(t, f, pass)
	cfg := bareConfig(t, f, 1, "  IdentityFile "+key)
	cmd := exec.Command(dtBin, "-F", cfg, "-N", "sys:h001", "ssh", "sleep 0.5; echo in")
	cmd.Env = append(f.Env(), "HOME="+t.TempDir())
	term := startOnPTY(t, cmd)
	term.waitFor("passphrase for ")
	// Several progress ticks go by while nobody answers.
	deadline := time.After(5 * output.ProgressTick)
wait:
	for {
		select {
		case chunk, ok := <-term.chunks:
			if !ok {
				break wait
			}
			term.screen.WriteString(chunk)
		case <-deadline:
			break wait
		}
	}
	asked := term.screen.String()
	asked = asked[strings.Index(asked, "passphrase for "):]
	if strings.Contains(asked, "running") || strings.Contains(asked, "\r") {
		t.Errorf("the question was drawn over: %q", asked)
	}
	term.typeIn(pass + "\r")
	text, err := term.wait()
	if err != nil || !strings.Contains(text, "okay::dt:ssh:h001:in") {
		t.Errorf("dt: %v", err)
	}
	if !strings.Contains(text[strings.Index(text, "passphrase for "):], "1 running") {
		t.Errorf("no progress line after the question")
	}
}
