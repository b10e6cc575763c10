package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
)

// userDB writes an inventory that logs in to every container as user.
func userDB(t *testing.T, f *fleet.Fleet, user string) string {
	t.Helper()
	var b strings.Builder
	for _, h := range f.Hosts {
		fmt.Fprintf(&b, "%s@%s %s\n", user, h.Name, strings.Join(h.Tags, " "))
	}
	p := filepath.Join(t.TempDir(), user+".dtdb")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// dtAskingSudo runs dt with args on a new terminal, types the fleet's sudo
// password at -K's prompt and returns everything the terminal showed. It
// fails the test when dt fails or the password appears on the terminal.
func dtAskingSudo(t *testing.T, f *fleet.Fleet, args ...string) string {
	t.Helper()
	cmd := exec.Command(dtBin, append([]string{"-N"}, args...)...)
	cmd.Env = f.Env()
	term := startOnPTY(t, cmd)
	term.waitFor("dt: sudo password: ")
	term.typeIn(fleet.SudoPassword + "\n")
	screen, err := term.wait()
	if err != nil {
		t.Errorf("dt %s: %v\n%s", strings.Join(args, " "), err, screen)
	}
	if strings.Contains(screen, fleet.SudoPassword) {
		t.Errorf("the password was echoed or printed:\n%s", screen)
	}
	return screen
}

// unitRecords parses output into records by host and unit: the unit is
// the first word of the message (as every systemctl record starts).
func unitRecords(t *testing.T, stdout string) map[string]map[string]output.Record {
	t.Helper()
	return recordsBy(t, stdout, func(r output.Record) string {
		unit, _, _ := strings.Cut(string(r.Message), " ")
		return strings.TrimSuffix(unit, ":")
	})
}

// recordsBy parses output into records by host and by key(record); two
// records with the same host and key fail the test.
func recordsBy(t *testing.T, stdout string, key func(output.Record) string) map[string]map[string]output.Record {
	t.Helper()
	recs := map[string]map[string]output.Record{}
	for _, line := range lines(stdout) {
		r, err := output.Parse(line)
		if err != nil {
			t.Fatalf("unparseable line %q: %v", line, err)
		}
		k := key(r)
		if recs[r.Host] == nil {
			recs[r.Host] = map[string]output.Record{}
		}
		if _, dup := recs[r.Host][k]; dup {
			t.Fatalf("two records for %s %s:\n%s", r.Host, k, stdout)
		}
		recs[r.Host][k] = r
	}
	return recs
}

// inside runs script as root in container host, without ssh: an
// independent look at what dt reports.
func inside(t *testing.T, f *fleet.Fleet, host, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := f.Exec(ctx, host, script)
	if err != nil {
		t.Fatalf("%s: %s: %v: %s", host, script, err, out)
	}
	return strings.TrimSpace(string(out))
}

// mainPIDs returns the MainPID of unit on each host, as systemd says.
func mainPIDs(t *testing.T, f *fleet.Fleet, hosts []string, unit string) map[string]string {
	t.Helper()
	pids := map[string]string{}
	for _, h := range hosts {
		pids[h] = inside(t, f, h, "systemctl show -p MainPID --value "+unit)
	}
	return pids
}

// TestSystemd drives the systemctl, journal, sudo and svc modules against
// real systemd (PID 1 of two containers), its journald, and a real
// lingering user manager.
func TestSystemd(t *testing.T) {
	f := fleet.StartSystemdTest(t, fleet.SystemdOptions{N: 2})
	all := allNames(f)
	asFleet := userDB(t, f, fleet.SystemdUser)
	asNoLinger := userDB(t, f, fleet.NoLingerUser)

	t.Run("status", func(t *testing.T) {
		r := dt(t, f, nil, "", "all:", "systemctl", "status", "demo-ok", "demo-fail", "demo-stopped", "nosuch")
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		recs := unitRecords(t, r.stdout)
		pids := mainPIDs(t, f, all, "demo-ok")
		for _, h := range all {
			checkRecord(t, h+" demo-ok", recs[h]["demo-ok.service"], output.Okay,
				`demo-ok.service active \(running\) since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+; pid `+pids[h]+`; restarts 0; enabled`)
			checkRecord(t, h+" demo-fail", recs[h]["demo-fail.service"], output.Fail, `demo-fail.service failed \(failed\) since .*; result exit-code; restarts 0; enabled`)
			checkRecord(t, h+" demo-stopped", recs[h]["demo-stopped.service"], output.Fail, `demo-stopped.service inactive \(dead\); restarts 0; disabled`)
			checkRecord(t, h+" nosuch", recs[h]["nosuch.service"], output.Fail, `nosuch.service not found`)
		}
	})

	t.Run("query verbs", func(t *testing.T) {
		for _, tt := range []struct {
			verb, unit string
			want       output.Status
			re         string
		}{
			{"is-active", "demo-ok", output.Okay, `demo-ok.service active \(running\) .*`},
			{"is-enabled", "demo-stopped", output.Fail, `demo-stopped.service inactive .*; disabled`},
			{"is-enabled", "demo-ok", output.Okay, `demo-ok.service .*; enabled`},
			{"is-failed", "demo-fail", output.Okay, `demo-fail.service failed \(failed\) .*`},
			{"is-failed", "demo-ok", output.Fail, `demo-ok.service active .*`},
			{"show", "demo-ok", output.Okay, `demo-ok.service LoadState=loaded ActiveState=active SubState=running MainPID=\d+ .* UnitFileState=enabled .*`},
		} {
			r := dt(t, f, nil, "", "all:", "systemctl", tt.verb, tt.unit)
			recs := unitRecords(t, r.stdout)
			for _, h := range all {
				checkRecord(t, h+" "+tt.verb+" "+tt.unit, recs[h][tt.unit+".service"], tt.want, tt.re)
			}
		}
		r := dt(t, f, nil, "", "all:", "systemctl", "frobnicate", "demo-ok")
		if r.code != 3 || !strings.Contains(r.stderr, "verbs: daemon-reload, disable, enable, is-active, is-enabled, is-failed, reload, reload-or-restart, restart, show, start, status, stop, try-restart") {
			t.Errorf("unknown verb: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("restart healthy", func(t *testing.T) {
		before := mainPIDs(t, f, all, "demo-ok")
		r := dt(t, f, nil, "", "all:", "systemctl", "--settle", "1s", "restart", "demo-ok")
		if r.code != 0 {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		recs := unitRecords(t, r.stdout)
		after := mainPIDs(t, f, all, "demo-ok")
		for _, h := range all {
			if after[h] == before[h] {
				t.Errorf("%s: main pid %s unchanged by restart", h, after[h])
			}
			checkRecord(t, h, recs[h]["demo-ok.service"], output.Okay, `demo-ok.service active \(running\) since .*; pid `+after[h]+`; restarts 0; enabled`)
		}
	})

	t.Run("restart failing carries journal", func(t *testing.T) {
		hs := map[string]int{}
		for _, h := range all {
			hs[h], _ = f.Handshakes(h)
		}
		r := dt(t, f, nil, "", "all:", "systemctl", "restart", "demo-fail")
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		recs := unitRecords(t, r.stdout)
		for _, h := range all {
			rec := recs[h]["demo-fail.service"]
			checkRecord(t, h, rec, output.Fail, `(?s)demo-fail.service failed \(failed\) .*; restart: exit 1: Job for demo-fail.service failed .*`)
			msg := string(rec.Message)
			if !strings.Contains(msg, "\n") || !strings.Contains(msg, "demo-fail: config invalid") {
				t.Errorf("%s: no journal lines in the record: %q", h, msg)
			}
			// restart + verify + journal: one connection.
			if n, err := f.Handshakes(h); err != nil || n-hs[h] != 1 {
				t.Errorf("%s: %d handshakes (err %v) for restart+verify+journal, want 1", h, n-hs[h], err)
			}
		}
	})

	t.Run("crash loop is caught", func(t *testing.T) {
		r := dt(t, f, nil, "", "all:", "systemctl", "--settle", "3s", "restart", "demo-crash")
		if r.code != 1 {
			t.Errorf("exit %d, want 1\n%s", r.code, r.stdout)
		}
		recs := unitRecords(t, r.stdout)
		for _, h := range all {
			rec := recs[h]["demo-crash.service"]
			checkRecord(t, h, rec, output.Fail, `(?s)demo-crash.service .*restart: (restarted \d+ time\(s\) within 3s \(crash loop\?\)|not active after 3s|main pid changed).*`)
			if !strings.Contains(string(rec.Message), "demo-crash: crashed") {
				t.Errorf("%s: journal lines missing: %q", h, rec.Message)
			}
		}
	})

	t.Run("start stop enable disable", func(t *testing.T) {
		steps := []struct {
			args      []string
			re        string
			active    string
			fileState string
		}{
			{[]string{"start", "demo-stopped"}, `demo-stopped.service active \(running\) since .*; disabled`, "active", "disabled"},
			{[]string{"stop", "demo-stopped"}, `demo-stopped.service inactive \(dead\)( since .*)?; restarts 0; disabled`, "inactive", "disabled"},
			{[]string{"enable", "--now", "demo-stopped"}, `demo-stopped.service active \(running\) .*; enabled`, "active", "enabled"},
			{[]string{"disable", "--now", "demo-stopped"}, `demo-stopped.service inactive \(dead\).*; disabled`, "inactive", "disabled"},
		}
		for _, s := range steps {
			r := dt(t, f, nil, "", append([]string{"all:", "systemctl", "--settle", "500ms"}, s.args...)...)
			if r.code != 0 {
				t.Errorf("%q: exit %d\n%s%s", s.args, r.code, r.stdout, r.stderr)
			}
			recs := unitRecords(t, r.stdout)
			for _, h := range all {
				checkRecord(t, h+" "+strings.Join(s.args, " "), recs[h]["demo-stopped.service"], output.Okay, s.re)
				if got := inside(t, f, h, "systemctl is-active demo-stopped; systemctl is-enabled demo-stopped; true"); got != s.active+"\n"+s.fileState {
					t.Errorf("%s after %q: systemd says %q", h, s.args, got)
				}
			}
		}
	})

	t.Run("reload, try-restart, daemon-reload", func(t *testing.T) {
		pids := mainPIDs(t, f, all, "demo-ok")
		r := dt(t, f, nil, "", "all:", "systemctl", "--settle", "500ms", "reload", "demo-ok")
		if r.code != 0 {
			t.Errorf("reload: exit %d\n%s", r.code, r.stdout)
		}
		recs := unitRecords(t, r.stdout)
		for _, h := range all {
			// A reload keeps the process (demo-ok logs it on SIGHUP).
			checkRecord(t, h+" reload", recs[h]["demo-ok.service"], output.Okay, `demo-ok.service active \(running\) since .*; pid `+pids[h]+`; restarts 0; enabled`)
			if got := inside(t, f, h, "journalctl -u demo-ok --since -1min --no-pager -q | grep -c 'demo-ok: reloaded' || true"); got == "0" {
				t.Errorf("%s: demo-ok did not log a reload", h)
			}
		}
		r = dt(t, f, nil, "", "all:", "systemctl", "--settle", "500ms", "reload-or-restart", "demo-ok")
		if r.code != 0 {
			t.Errorf("reload-or-restart: exit %d\n%s", r.code, r.stdout)
		}
		// try-restart leaves a stopped unit stopped, and that is okay.
		r = dt(t, f, nil, "", "all:", "systemctl", "try-restart", "demo-stopped")
		recs = unitRecords(t, r.stdout)
		for _, h := range all {
			checkRecord(t, h+" try-restart", recs[h]["demo-stopped.service"], output.Okay, `demo-stopped.service inactive \(dead\).*; disabled`)
			if got := inside(t, f, h, "systemctl is-active demo-stopped || true"); got != "inactive" {
				t.Errorf("%s: try-restart started demo-stopped: %s", h, got)
			}
		}
		r = dt(t, f, nil, "", "all:", "systemctl", "daemon-reload")
		if r.code != 0 || len(lines(r.stdout)) != len(all) {
			t.Errorf("daemon-reload: exit %d\n%s", r.code, r.stdout)
		}
		for _, line := range lines(r.stdout) {
			if !strings.HasPrefix(line, "okay::dt:systemctl:") || !strings.HasSuffix(line, ":daemon-reload") {
				t.Errorf("daemon-reload line %q", line)
			}
		}
	})

	t.Run("hostile unit names", func(t *testing.T) {
		r := dt(t, f, nil, "", "all:", "systemctl", "restart", "--", "--now", "x; touch /tmp/pwned", "$(touch /tmp/pwned2)")
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		for _, line := range lines(r.stdout) {
			if !strings.HasPrefix(line, "fail::dt:systemctl:") || !strings.Contains(line, " not found") {
				t.Errorf("line %q: want a not-found failure", line)
			}
		}
		if n := len(lines(r.stdout)); n != 3*len(all) {
			t.Errorf("%d lines, want %d", n, 3*len(all))
		}
		for _, h := range all {
			if got := inside(t, f, h, "ls /tmp/pwned /tmp/pwned2 2>&1 || true"); !strings.Contains(got, "No such file") || strings.Contains(got, "/tmp/pwned\n") {
				t.Errorf("%s: a unit name was executed: %s", h, got)
			}
		}
	})

	t.Run("user units", func(t *testing.T) {
		r := dt(t, f, nil, "", "-D", asFleet, "all:", "systemctl", "--user", "status", "demo-ok", "demo-stopped")
		recs := unitRecords(t, r.stdout)
		for _, h := range all {
			pid := inside(t, f, h, "XDG_RUNTIME_DIR=/run/user/1000 setpriv --reuid=1000 --regid=1000 --init-groups systemctl --user show -p MainPID --value demo-ok")
			checkRecord(t, h+" user demo-ok", recs[h]["demo-ok.service"], output.Okay, `demo-ok.service active \(running\) since .*; pid `+pid+`; restarts 0; enabled`)
			checkRecord(t, h+" user demo-stopped", recs[h]["demo-stopped.service"], output.Fail, `demo-stopped.service inactive \(dead\); restarts 0; disabled`)
		}
		r = dt(t, f, nil, "", "-D", asFleet, "all:", "systemctl", "--user", "restart", "demo-fail")
		recs = unitRecords(t, r.stdout)
		for _, h := range all {
			rec := recs[h]["demo-fail.service"]
			checkRecord(t, h+" user restart demo-fail", rec, output.Fail, `(?s)demo-fail.service failed \(failed\) .*; restart: exit 1: .*`)
			if !strings.Contains(string(rec.Message), "demo-fail: config invalid") {
				t.Errorf("%s: no user journal lines: %q", h, rec.Message)
			}
		}
		r = dt(t, f, nil, "", "-D", asNoLinger, "all:", "systemctl", "--user", "status", "demo-ok")
		if r.code != 1 {
			t.Errorf("no manager: exit %d", r.code)
		}
		for _, line := range lines(r.stdout) {
			if !strings.Contains(line, "demo-ok: no systemd user manager is running for nolinger (lingering off?); hint: as root, loginctl enable-linger nolinger") {
				t.Errorf("no manager: line %q", line)
			}
		}
	})

	t.Run("non-root and sudo", func(t *testing.T) {
		// Without privileges, systemd refuses (no polkit agent).
		r := dt(t, f, nil, "", "-D", asFleet, "all:", "systemctl", "restart", "demo-ok")
		for _, line := range lines(r.stdout) {
			if !strings.HasPrefix(line, "fail::") || !strings.Contains(line, "use --sudo") {
				t.Errorf("non-root restart: %q", line)
			}
		}
		// sudo -n: a password is needed.
		r = dt(t, f, nil, "", "-D", asFleet, "all:", "sudo", "id", "-u")
		if r.code != 1 {
			t.Errorf("sudo -n: exit %d", r.code)
		}
		for _, line := range lines(r.stdout) {
			if !strings.Contains(line, "a password is required") || !strings.Contains(line, "-K/--ask-sudo-pass") {
				t.Errorf("sudo -n: %q", line)
			}
		}
		// -K: asked once on the terminal, fed to every host.
		before := mainPIDs(t, f, all, "demo-ok")
		screen := dtAskingSudo(t, f, "-D", asFleet, "-K", "--sudo", "all:", "systemctl", "--settle", "500ms", "restart", "demo-ok")
		if strings.Count(screen, "sudo password") != 1 {
			t.Errorf("asked more than once:\n%s", screen)
		}
		after := mainPIDs(t, f, all, "demo-ok")
		for _, h := range all {
			if !strings.Contains(screen, "okay::dt:systemctl:"+h+":demo-ok.service active (running)") {
				t.Errorf("%s: no okay line:\n%s", h, screen)
			}
			if after[h] == before[h] {
				t.Errorf("%s: demo-ok not restarted (pid %s)", h, after[h])
			}
		}
		// A wrong password fails every host with a hint; nothing hangs.
		cmd := exec.Command(dtBin, "-N", "-D", asFleet, "-K", "all:", "sudo", "true")
		cmd.Env = f.Env()
		term := startOnPTY(t, cmd)
		term.waitFor("dt: sudo password: ")
		term.typeIn("wrong\n")
		screen, _ = term.wait()
		if strings.Count(screen, "fail::dt:sudo:") != len(all) || !strings.Contains(screen, "sudo rejected the password") {
			t.Errorf("wrong password:\n%s", screen)
		}
		// sudoers with timestamp_timeout=0 keeps no credential between
		// sudo runs: the command's own sudo asks again, and gets the
		// password through askpass, not stdin.
		for _, h := range all {
			inside(t, f, h, `echo 'Defaults:fleet timestamp_timeout=0' > /etc/sudoers.d/zz-dt-test && chmod 440 /etc/sudoers.d/zz-dt-test && visudo -c >/dev/null`)
		}
		defer func() {
			for _, h := range all {
				inside(t, f, h, "rm -f /etc/sudoers.d/zz-dt-test")
			}
		}()
		screen = dtAskingSudo(t, f, "-D", asFleet, "-K", "all:", "sudo", `env | grep -q '^DT_SUDO_PW=' && echo LEAK; id -u`)
		for _, h := range all {
			if !strings.Contains(screen, "okay::dt:sudo:"+h+":0") || strings.Contains(screen, "LEAK") {
				t.Errorf("-K with timestamp_timeout=0: %s did not run as root:\n%s", h, screen)
			}
		}
	})

	t.Run("copy --sudo into a root-owned directory", func(t *testing.T) {
		testCopySudo(t, f, asFleet)
	})

	t.Run("ssh-copy-id --sudo goes to root", func(t *testing.T) {
		testSSHCopyIDSudo(t, f, asFleet)
	})

	t.Run("journal merged by time", func(t *testing.T) {
		// Alternate log lines between the hosts, in a known order.
		tag := fmt.Sprintf("dtmerge%d", time.Now().UnixNano())
		var want []string
		for i := 0; i < 6; i++ {
			h := all[i%len(all)]
			msg := fmt.Sprintf("%s line %d", tag, i)
			inside(t, f, h, "logger -t "+tag+" '"+msg+"'")
			want = append(want, h+" "+msg)
			time.Sleep(20 * time.Millisecond)
		}
		r := dt(t, f, nil, "", "all:", "journal", "-g", tag, "--since", "-5min")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		var got []string
		var stamps []string
		entry := regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) ` + tag + `\[\d+\]: (.*)$`)
		for _, line := range lines(r.stdout) {
			rec, err := output.Parse(line)
			if err != nil {
				t.Fatal(err)
			}
			m := entry.FindStringSubmatch(string(rec.Message))
			if rec.Status != output.Okay || m == nil {
				t.Errorf("line %q", line)
				continue
			}
			stamps = append(stamps, m[1])
			got = append(got, rec.Host+" "+m[2])
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("merged log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if !sort.StringsAreSorted(stamps) {
			t.Errorf("timestamps out of order: %q", stamps)
		}
	})

	t.Run("journal finds lines that lost their unit", func(t *testing.T) {
		// A process that logs through syslog and exits before journald
		// reads the message is stored without its unit: journalctl -u
		// misses it. Stopping journald while the unit runs makes that
		// certain. dt also asks for the unit's exec processes by PID.
		mark := fmt.Sprintf("dtlost%d", time.Now().UnixNano())
		unit := "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exec logger -t dt-lost " + mark + "'\nExecStartPost=/bin/false\n"
		pids := map[string]string{}
		for _, h := range all {
			inside(t, f, h, "printf \""+unit+"\" > /etc/systemd/system/dt-lost.service && systemctl daemon-reload")
			inside(t, f, h, `j=$(systemctl show -p MainPID --value systemd-journald); kill -STOP $j; `+
				`systemctl start dt-lost; rc=$?; sleep 0.3; kill -CONT $j; [ $rc != 0 ]`)
			pids[h] = inside(t, f, h, "systemctl show -p ExecMainPID --value dt-lost")
			// The precondition: journald did lose the unit.
			if n := inside(t, f, h, "journalctl -u dt-lost --no-pager -o cat | grep -c "+mark+" || true"); n != "0" {
				t.Fatalf("%s: journald kept the unit of the line (%s found with -u); the test needs it lost", h, n)
			}
		}
		r := dt(t, f, nil, "", "all:", "journal", "dt-lost", "-n", "20")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		for _, h := range all {
			want := "okay::dt:journal:" + h + ":"
			found := 0
			for _, line := range lines(r.stdout) {
				if strings.HasPrefix(line, want) && strings.HasSuffix(line, " dt-lost["+pids[h]+"]: "+mark) {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%s: %d lines dt-lost[%s]: %s, want 1", h, found, pids[h], mark)
			}
		}
	})

	t.Run("journal permissions and --user", func(t *testing.T) {
		r := dt(t, f, nil, "", "-D", asFleet, "all:", "journal", "demo-ok", "-n", "3")
		if r.code != 1 || !strings.Contains(r.stdout, "hint: add the user to group systemd-journal") {
			t.Errorf("system journal as fleet: exit %d\n%s", r.code, r.stdout)
		}
		r = dt(t, f, nil, "", "-D", asFleet, "all:", "journal", "--user", "demo-ok", "-n", "3")
		if r.code != 0 || !strings.Contains(r.stdout, "demo-ok: started") {
			t.Errorf("user journal: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("journal follow and Ctrl-C", func(t *testing.T) {
		tag := fmt.Sprintf("dtfollow%d", time.Now().UnixNano())
		cmd := exec.Command(dtBin, "all:", "journal", "-f", "-n", "0", "-g", tag)
		cmd.Env = f.Env()
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; ; i++ {
			for _, h := range all {
				inside(t, f, h, fmt.Sprintf("logger -t %s '%s live %d'", tag, tag, i))
			}
			if n := strings.Count(out.String(), "live "); n >= 2*len(all) || time.Now().After(deadline) {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		for _, h := range all {
			if !strings.Contains(out.String(), "okay::dt:journal:"+h+":") {
				t.Errorf("%s: no live line:\n%s", h, out.String())
			}
		}
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
				t.Errorf("after Ctrl-C: %v, want exit 130", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("dt journal -f did not stop on Ctrl-C")
		}
		if strings.Contains(out.String(), "fail::") {
			t.Errorf("Ctrl-C while following printed failures:\n%s", out.String())
		}
		for _, h := range all {
			deadline := time.Now().Add(5 * time.Second)
			for {
				got := inside(t, f, h, "pgrep -a journalctl | grep -- "+tag+" || true")
				if got == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s: journalctl still running: %s", h, got)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	})

	t.Run("journal follow until --timeout", func(t *testing.T) {
		t0 := time.Now()
		r := dt(t, f, nil, "", "--timeout", "2s", "all:", "journal", "-f", "-n", "1")
		took := time.Since(t0)
		if r.code != 0 || strings.Contains(r.stdout, "fail::") {
			t.Errorf("exit %d, want 0 and no failures:\n%s%s", r.code, r.stdout, r.stderr)
		}
		if took < 2*time.Second || took > 15*time.Second {
			t.Errorf("took %v, want about 2s", took)
		}
		for _, h := range all {
			if !strings.Contains(r.stdout, "okay::dt:journal:"+h+":") {
				t.Errorf("%s: no line before the timeout", h)
			}
		}
	})

	t.Run("svc on systemd", func(t *testing.T) {
		r := dt(t, f, nil, "", "all:", "svc", "status", "demo-ok", "demo-fail")
		recs := unitRecords(t, r.stdout)
		for _, h := range all {
			checkRecord(t, h, recs[h]["demo-ok"], output.Okay, `^demo-ok state=running pid=\d+ uptime=\d+.*s restarts=0 manager=systemd$`)
			checkRecord(t, h, recs[h]["demo-fail"], output.Fail, `^demo-fail state=failed pid=- uptime=- restarts=0 manager=systemd$`)
		}
		r = dt(t, f, nil, "", "all:", "svc", "--settle", "500ms", "restart", "demo-ok")
		if r.code != 0 {
			t.Errorf("svc restart: exit %d\n%s", r.code, r.stdout)
		}
	})
}
