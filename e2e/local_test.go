package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLocal: the command runs here once per host, {host} replaced by the
// quoted name (or the name appended), with shell quoting as in ssh;
// exit codes, --timeout and the fanout work as for remote modules.
func TestLocal(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".dtdb"), []byte("web1 web\nweb2 web\ndb1 db\ndb2 db\n"), 0o600)

	r := dtLocal(t, home, "", "tag:web", "local", "echo")
	if r.code != 0 || r.stdout != "okay::dt:local:web1:web1\nokay::dt:local:web2:web2\n" && r.stdout != "okay::dt:local:web2:web2\nokay::dt:local:web1:web1\n" {
		t.Errorf("appended name: exit %d %q", r.code, r.stdout)
	}
	// One word with quotes inside, as ssh takes it: the local shell keeps
	// 'a  b' (two spaces) and the | in one argument; {host} twice; $DT_HOST.
	r = dtLocal(t, home, "", "sys:web1", "local", `printf '[%s] ' {host} 'a  b|c' "$DT_HOST"{host}; echo`)
	if want := "okay::dt:local:web1:[web1] [a  b|c] [web1web1] \n"; r.code != 0 || r.stdout != want {
		t.Errorf("quoting: exit %d\n%q\nwant\n%q", r.code, r.stdout, want)
	}
	// Exit codes: the db hosts fail with theirs, dt exits 1.
	r = dtLocal(t, home, "", "all:", "local", `case {host} in db*) echo no; exit 4;; esac; echo yes`)
	recs := records(t, r.stdout)
	if r.code != 1 || string(recs["web1"].Message) != "yes" || recs["db2"].Status != "fail" ||
		!strings.Contains(r.stdout, "fail::dt:local:db1:exit 4: no\n") {
		t.Errorf("exit codes: exit %d %q", r.code, r.stdout)
	}
	// --timeout stops the command (and what it started) and fails the host.
	mark := filepath.Join(t.TempDir(), "mark")
	start := time.Now()
	r = dtLocal(t, home, "", "--timeout", "500ms", "sys:web1", "local", `: {host}; (sleep 2; touch `+mark+`) & echo started; wait`)
	if r.code != 1 || r.stdout != "fail::dt:local:web1:timeout: timed out after 500ms; command stopped; output so far:\\nstarted\n" {
		t.Errorf("timeout: exit %d %q", r.code, r.stdout)
	}
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	if _, err := os.Stat(mark); err == nil {
		t.Error("the command's background child outlived the timeout")
	}
	// -C 2: never more than two at once.
	dir := t.TempDir()
	r = dtLocal(t, home, "", "-C", "2", "all:", "local", `touch `+dir+`/{host}; ls `+dir+` | wc -l; sleep 0.3; rm `+dir+`/{host}`)
	for h, rec := range records(t, r.stdout) {
		if n := strings.TrimSpace(string(rec.Message)); n != "1" && n != "2" {
			t.Errorf("%s saw %s commands running at once with -C 2", h, n)
		}
	}
}

// TestLocalGate: local's command runs here, but a --gate runs on the host
// (over SSH) after it, as for the remote modules: a host whose gate does
// not pass fails with stage gate, and --max-fail stops the rollout there.
// The modules that touch no host refuse --gate instead of ignoring it.
func TestLocalGate(t *testing.T) {
	f := shared(t)
	mark := t.TempDir()
	r := dt(t, f, nil, "", "--batch", "1", "--max-fail", "0", "--gate", "test $DT_TEST_HOST = h001",
		"--gate-interval", "200ms", "--gate-timeout", "1s", "sys:h001,h002,h003", "local", "touch "+mark+"/{host}; echo done")
	recs := records(t, r.stdout)
	if r.code != 1 || recs["h001"].Status != "okay" || recs["h002"].Status != "fail" || recs["h003"].Status != "skip" ||
		!strings.HasPrefix(string(recs["h002"].Message), "gate: 'test $DT_TEST_HOST = h001' did not pass within 1s") {
		t.Errorf("exit %d\n%s", r.code, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(mark, "h003")); err == nil {
		t.Error("h003 ran after h002's gate failed with --max-fail 0")
	}
	// An inventory of their own: were --gate ignored, del would edit it.
	inv := filepath.Join(t.TempDir(), "dtdb")
	writeFile(t, inv, []byte("h001 linux\n"), 0o600)
	for _, mod := range [][]string{{"list"}, {"tag", "+x"}, {"del", "--yes"}, {"add", "--no-keyscan", "x"}} {
		r := dt(t, f, nil, "", append([]string{"-D", inv, "--gate", "true", "sys:h001"}, mod...)...)
		if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, "dt: error: --gate: module "+mod[0]+" touches no host") {
			t.Errorf("%s with --gate: exit %d %q %q", mod[0], r.code, r.stdout, r.stderr)
		}
	}
}

// TestLocalInteractiveTerminal: with -i, local's command runs with the
// terminal as a command run from a shell would, so that a program that
// asks on /dev/tty (a BMC password for ipmitool -a, a passphrase) gets the
// answer typed, host after host.
func TestLocalInteractiveTerminal(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".dtdb"), []byte("web1 web\nweb2 web\n"), 0o600)
	cmd := exec.Command(dtBin, "-i", "-N", "tag:web", "local", `printf 'code for %s? ' {host} >/dev/tty; read x </dev/tty; echo "got [$x]"`)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	term := startOnPTY(t, cmd)
	for _, a := range [][2]string{{"web1", "one"}, {"web2", "two"}} {
		term.waitFor("code for " + a[0] + "? ")
		term.typeIn(a[1] + "\r")
		term.waitFor("got [" + a[1] + "]")
	}
	text, err := term.wait()
	if err != nil || strings.Contains(text, "got []") {
		t.Errorf("dt: %v\n%s", err, text)
	}
}
