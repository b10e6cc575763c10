package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dtools/dt/internal/fleet"
)

// waitForN waits up to 10s until s shows n times on the screen.
func (term *terminal) waitForN(s string, n int) {
	term.t.Helper()
	deadline := time.After(10 * time.Second)
	for strings.Count(term.screen.String(), s) < n {
		select {
		case chunk, ok := <-term.chunks:
			if !ok {
				term.t.Fatalf("ended before %q showed %d times; screen %q", s, n, term.screen.String())
			}
			term.screen.WriteString(chunk)
		case <-deadline:
			term.cmd.Process.Kill()
			term.t.Fatalf("%q not shown %d times; screen %q", s, n, term.screen.String())
		}
	}
}

// TestShell drives dt sh through a pseudo-terminal: commands run on every
// host over connections that stay open (one login per host, counted by
// the servers), :use and :fail change the hosts, Ctrl-C stops the running
// command on every host and leaves the shell running, and the history
// file keeps the lines.
func TestShell(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 3})
	hist := filepath.Join(t.TempDir(), "history")
	// A history file others may read is made private before lines go in.
	writeFile(t, hist, []byte("echo old\n"), 0o644)
	// Lines, to find each host's answer; gather (the default) at the end.
	cmd := exec.Command(dtBin, "-N", "--view", "lines", "all:", "sh")
	cmd.Env = append(f.Env(), "DT_HISTFILE="+hist)
	term := startOnPTY(t, cmd)
	term.waitFor("dt all: (3)> ")

	for i, line := range []string{"echo one $DT_TEST_HOST", "echo two", "echo three", "echo four", "echo five"} {
		term.typeIn(line + "\r")
		term.waitForN("dt: 3 okay, 0 failed", i+1)
	}
	for _, h := range f.Hosts {
		term.waitFor("okay::dt:ssh:" + h.Name + ":one " + h.Name)
		if n, _ := f.Handshakes(h.Name); n != 1 {
			t.Errorf("%s: %d logins for 5 commands, want 1", h.Name, n)
		}
	}

	term.typeIn(":use sys:h001,h002\r")
	term.waitFor("dt sys:h001,h002 (2)> ")
	term.typeIn("test $DT_TEST_HOST = h002\r")
	term.waitFor("dt: 1 okay, 1 failed")
	term.waitFor("fail::dt:ssh:h001:exit 1")
	term.typeIn(":fail\r")
	term.waitFor("dt sys:h001 (1)> ")
	term.typeIn(":hosts\r")
	term.waitFor("  h001  linux db prod canary\r\n1 hosts")

	// Ctrl-C stops the command everywhere; the shell stays.
	term.typeIn(":use all:\r")
	term.waitForN("dt all: (3)> ", 2)
	term.typeIn("sleep 30; echo never\r")
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, err := f.RemoteProcs("sleep 30")
		if err != nil {
			t.Fatal(err)
		}
		if len(procs) >= 3 { // the shell and the sleep of each host
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep runs on %d hosts, want 3", len(procs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	term.typeIn("\x03")
	term.waitFor("dt: 0 okay, 3 failed")
	term.waitFor("interrupted")
	for _, h := range f.Hosts {
		term.waitFor("fail::dt:ssh:" + h.Name + ":interrupt: interrupted")
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		procs, _ := f.RemoteProcs("sleep 30")
		if len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep still runs after Ctrl-C: %v", procs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	term.waitForN("dt all: (3)> ", 3)
	term.typeIn("echo after\r")
	term.waitFor("okay::dt:ssh:h003:after")
	term.waitFor("dt: 3 okay, 0 failed")
	term.typeIn(":view gather\r")
	term.typeIn("echo gathered\r")
	term.waitFor("okay  h[001-003]  (3 hosts)\r\n    gathered")

	for _, h := range f.Hosts {
		if n, _ := f.Handshakes(h.Name); n != 1 {
			t.Errorf("%s: %d logins in the session, want 1", h.Name, n)
		}
	}
	term.typeIn(":quit\r")
	text, err := term.wait()
	if err != nil {
		t.Errorf("dt sh: %v", err)
	}
	if strings.Contains(text, ":never") {
		t.Error("the interrupted command went on")
	}
	data, err := os.ReadFile(hist)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"echo old", "echo two", ":use sys:h001,h002", ":fail", "sleep 30; echo never", ":quit"} {
		if !strings.Contains(string(data), line+"\n") && !strings.HasSuffix(string(data), line) {
			t.Errorf("history lacks %q: %q", line, data)
		}
	}
	if st, _ := os.Stat(hist); st.Mode().Perm() != 0o600 {
		t.Errorf("history mode %v, want 0600", st.Mode().Perm())
	}
}
