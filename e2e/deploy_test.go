package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
)

// units writes unit files (NAME: content, NAME may be UNIT.d/FILE.conf)
// into a new directory and returns their paths in the order given.
func units(t *testing.T, files ...[2]string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, f := range files {
		p := filepath.Join(dir, f[0])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// appUnit is a service whose main process carries its version in its
// environment (DTAPP_VERSION), so a test can tell which file the running
// process was started from; bad makes it exit at once.
func appUnit(version string, bad bool) string {
	start := `/bin/sh -c 'echo "dtapp ` + version + ` started"; exec sleep infinity'`
	if bad {
		start = `/bin/sh -c 'echo "dtapp ` + version + ` bad config" >&2; exit 3'`
	}
	return fmt.Sprintf("[Unit]\nDescription=dt deploy test app %s\n[Service]\nEnvironment=DTAPP_VERSION=%s\nExecStart=%s\n[Install]\nWantedBy=multi-user.target\n", version, version, start)
}

// runningVersion is DTAPP_VERSION of unit's main process on host (as root,
// or in fleet's user manager), "" when it has none.
func runningVersion(t *testing.T, f *fleet.Fleet, host, unit string, user bool) (version, pid string) {
	t.Helper()
	pid = inside(t, f, host, asUser(user, "systemctl "+userFlag(user)+" show -p MainPID --value "+unit))
	if pid == "0" {
		return "", pid
	}
	env := inside(t, f, host, "tr '\\0' '\\n' < /proc/"+pid+"/environ | sed -n 's/^DTAPP_VERSION=//p'")
	return env, pid
}

func userFlag(user bool) string {
	if user {
		return "--user"
	}
	return ""
}

// asUser runs script as fleet with its user manager's runtime directory
// when user is set.
func asUser(user bool, script string) string {
	if !user {
		return script
	}
	return "XDG_RUNTIME_DIR=/run/user/1000 setpriv --reuid=1000 --regid=1000 --init-groups sh -c " + strconv.Quote(script)
}

// TestDeploy drives deploy against real systemd (PID 1 of two containers)
// and a real lingering user manager: new, changed and unchanged units, a
// unit that does not verify, one that crashes (rolled back), a failed
// gate (rolled back), a socket and its service, --user, --sudo, one login
// per host, and deploy inside batches with a failure budget.
func TestDeploy(t *testing.T) {
	f := fleet.StartSystemdTest(t, fleet.SystemdOptions{N: 2})
	all := allNames(f)
	settle := []string{"--settle", "1s"}
	deploy := func(extra []string, args ...string) (run, map[string]map[string]output.Record) {
		t.Helper()
		r := dt(t, f, nil, "", append(extra, append(append([]string{"all:", "deploy"}, settle...), args...)...)...)
		return r, unitRecords(t, r.stdout)
	}
	v1 := units(t, [2]string{"dtapp.service", appUnit("v1", false)})
	v2 := units(t, [2]string{"dtapp.service", appUnit("v2", false)})

	t.Run("new unit", func(t *testing.T) {
		r, recs := deploy(nil, v1...)
		if r.code != 0 {
			t.Errorf("exit %d", r.code)
		}
		for _, h := range all {
			version, pid := runningVersion(t, f, h, "dtapp", false)
			checkRecord(t, h, recs[h]["dtapp.service"], output.Okay,
				`dtapp.service changed, enabled, started: active \(running\) since .*; pid `+pid+`; restarts 0; enabled`)
			if version != "v1" {
				t.Errorf("%s: running version %q, want v1", h, version)
			}
			if got := inside(t, f, h, "systemctl is-enabled dtapp; stat -c '%a %U' /etc/systemd/system/dtapp.service; ls /etc/systemd/system/ | grep -c dtapp.service.dt-prev || true"); got != "enabled\n644 root\n0" {
				t.Errorf("%s: enabled, mode, owner, previous copies: %q", h, got)
			}
		}
	})

	t.Run("unchanged unit is not restarted", func(t *testing.T) {
		before := mainPIDs(t, f, all, "dtapp")
		r, recs := deploy(nil, v1...)
		if r.code != 0 {
			t.Errorf("exit %d", r.code)
		}
		for _, h := range all {
			checkRecord(t, h, recs[h]["dtapp.service"], output.Okay,
				`dtapp.service unchanged: active \(running\) since .*; pid `+before[h]+`; restarts 0; enabled`)
		}
		after := mainPIDs(t, f, all, "dtapp")
		for _, h := range all {
			if after[h] != before[h] {
				t.Errorf("%s: main pid %s became %s: an unchanged unit was restarted", h, before[h], after[h])
			}
		}
	})

	t.Run("changed unit is restarted", func(t *testing.T) {
		before := mainPIDs(t, f, all, "dtapp")
		r, recs := deploy(nil, v2...)
		if r.code != 0 {
			t.Errorf("exit %d", r.code)
		}
		for _, h := range all {
			version, pid := runningVersion(t, f, h, "dtapp", false)
			if pid == before[h] || version != "v2" {
				t.Errorf("%s: main pid %s (before %s) runs version %q, want a new process of v2", h, pid, before[h], version)
			}
			checkRecord(t, h, recs[h]["dtapp.service"], output.Okay,
				`dtapp.service changed, restarted: active \(running\) since .*; pid `+pid+`; restarts 0; enabled`)
			if got := inside(t, f, h, "grep -h Description= /etc/systemd/system/dtapp.service /etc/systemd/system/dtapp.service.dt-prev"); got != "Description=dt deploy test app v2\nDescription=dt deploy test app v1" {
				t.Errorf("%s: the unit and its previous version: %q", h, got)
			}
		}
	})

	t.Run("files systemd has not loaded are applied", func(t *testing.T) {
		// A deploy that lost its connection after the push leaves the new
		// file on the host, not loaded: running it again must apply it,
		// not call it unchanged.
		for _, h := range all {
			inside(t, f, h, "cat > /etc/systemd/system/dtapp.service <<'DT_EOF'\n"+appUnit("v1", false)+"DT_EOF")
		}
		r, recs := deploy(nil, v1...)
		if r.code != 0 {
			t.Errorf("exit %d", r.code)
		}
		for _, h := range all {
			version, pid := runningVersion(t, f, h, "dtapp", false)
			if version != "v1" {
				t.Errorf("%s: running version %q, want v1", h, version)
			}
			checkRecord(t, h, recs[h]["dtapp.service"], output.Okay,
				`dtapp.service unchanged, not loaded before, restarted: active \(running\) since .*; pid `+pid+`; restarts 0; enabled`)
		}
		// Back to v2, as the tests below expect.
		if r, _ := deploy(nil, v2...); r.code != 0 {
			t.Fatalf("deploy v2: exit %d", r.code)
		}
	})

	t.Run("crashing unit is rolled back on one connection", func(t *testing.T) {
		hs := map[string]int{}
		for _, h := range all {
			hs[h], _ = f.Handshakes(h)
		}
		v3 := units(t, [2]string{"dtapp.service", appUnit("v3", true)})
		r, recs := deploy(nil, v3...)
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		for _, h := range all {
			version, pid := runningVersion(t, f, h, "dtapp", false)
			if version != "v2" {
				t.Errorf("%s: after the rollback the running process (pid %s) has version %q, want v2", h, pid, version)
			}
			rec := recs[h]["dtapp.service"]
			checkRecord(t, h, rec, output.Fail,
				`(?s)dtapp.service changed, restarted: failed \(failed\) since .*; result exit-code; restarts 0; enabled; restart: not active after 1s; `+
					`rolled back to previous dtapp.service: active \(running\) since .*; pid `+pid+`; restarts 0; enabled\n.*`)
			if !strings.Contains(string(rec.Message), "dtapp v3 bad config") {
				t.Errorf("%s: no journal lines of the crash: %q", h, rec.Message)
			}
			if got := inside(t, f, h, "grep -h Description= /etc/systemd/system/dtapp.service; systemctl is-active dtapp"); got != "Description=dt deploy test app v2\nactive" {
				t.Errorf("%s: after the rollback: %q", h, got)
			}
			// Exactly as before: the previous version deploy found (v1)
			// is back too, and nothing else is left.
			if got := inside(t, f, h, "cd /etc/systemd/system && grep -h Description= dtapp.service.dt-prev; ls -a | grep -c '^dtapp.service.' || true"); got != "Description=dt deploy test app v1\n1" {
				t.Errorf("%s: after the rollback, the previous version and the copies: %q, want v1 and 1 copy", h, got)
			}
			// Compare, push, verify, reload, restart, settle, journal,
			// rollback: one login.
			if n, err := f.Handshakes(h); err != nil || n-hs[h] != 1 {
				t.Errorf("%s: %d logins (err %v) for the whole deploy and its rollback, want 1", h, n-hs[h], err)
			}
		}
	})

	t.Run("unit that does not verify changes nothing", func(t *testing.T) {
		before := mainPIDs(t, f, all, "dtapp")
		bad := units(t,
			[2]string{"dtother.service", "[Service]\nExecStart=/bin/sleep infinity\n"},
			[2]string{"dtapp.service", "[Service]\nExecStart=/nonexistent/dtapp\n"})
		r, recs := deploy(nil, bad...)
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		for _, h := range all {
			checkRecord(t, h, recs[h]["dtapp.service"], output.Fail,
				`dtapp.service changed: active \(running\) since .*; pid `+before[h]+`; restarts 0; enabled; systemd-analyze verify failed \(exit 1\); previous file restored, nothing restarted\n`+
					`dtapp.service: Command /nonexistent/dtapp is not executable: No such file or directory`)
			checkRecord(t, h, recs[h]["dtother.service"], output.Fail,
				`dtother.service changed: not found; not deployed: dtapp.service did not verify; new file removed, nothing restarted`)
			if got := inside(t, f, h, "grep -h Description= /etc/systemd/system/dtapp.service; ls /etc/systemd/system/dtother.service 2>&1 || true"); !strings.HasPrefix(got, "Description=dt deploy test app v2\n") || !strings.Contains(got, "No such file") {
				t.Errorf("%s: files after a failed verify: %q", h, got)
			}
		}
		after := mainPIDs(t, f, all, "dtapp")
		for _, h := range all {
			if after[h] != before[h] {
				t.Errorf("%s: main pid %s became %s: something restarted", h, before[h], after[h])
			}
		}
	})

	t.Run("warnings, masked units", func(t *testing.T) {
		// A unit that verifies with a warning about its own file: okay,
		// and the warning is on its line.
		warn := units(t, [2]string{"dtwarn.service", "[Service]\nExecStart=/bin/sleep infinity\nFrobnicate=yes\n"})
		r := dt(t, f, nil, "", "all:", "deploy", "--settle", "0", "--no-enable", warn[0])
		recs := unitRecords(t, r.stdout)
		for _, h := range all {
			checkRecord(t, h, recs[h]["dtwarn.service"], output.Okay,
				`dtwarn.service changed, started: active \(running\) since .*; pid \d+; restarts 0; static\n/etc/systemd/system/dtwarn.service:3: Unknown key 'Frobnicate' in section \[Service\], ignoring\.`)
		}
		// A masked unit is a symlink to /dev/null: never replaced.
		for _, h := range all {
			inside(t, f, h, "systemctl mask dtmasked.service")
		}
		masked := units(t, [2]string{"dtmasked.service", "[Service]\nExecStart=/bin/sleep infinity\n"})
		r = dt(t, f, nil, "", "all:", "deploy", masked[0])
		recs = unitRecords(t, r.stdout)
		for _, h := range all {
			checkRecord(t, h, recs[h]["dtmasked.service"], output.Fail,
				`dtmasked.service: /etc/systemd/system/dtmasked.service is a symbolic link \(a masked or linked unit\?\); deploy replaces only regular files: unmask or remove it first`)
			if got := inside(t, f, h, "systemctl is-enabled dtmasked.service || true"); got != "masked" {
				t.Errorf("%s: dtmasked is %q, want still masked", h, got)
			}
		}
	})

	t.Run("failed gate rolls back", func(t *testing.T) {
		v4 := units(t, [2]string{"dtapp.service", appUnit("v4", false)})
		r, recs := deploy([]string{"--gate", "systemctl show -p Environment --value dtapp | grep -q DTAPP_VERSION=v2", "--gate-timeout", "1s", "--gate-interval", "200ms"}, v4...)
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		for _, h := range all {
			version, pid := runningVersion(t, f, h, "dtapp", false)
			if version != "v2" {
				t.Errorf("%s: after the gate's rollback version %q runs, want v2", h, version)
			}
			rec := recs[h]["gate"]
			checkRecord(t, h, rec, output.Fail, `(?s)gate: '.*' did not pass within 1s \(\d+ tries; last: exit 1\); dtapp.service changed, restarted: active \(running\) .*; `+
				`rolled back to previous dtapp.service: active \(running\) since .*; pid `+pid+`; restarts 0; enabled\n.*dtapp v4 started.*`)
		}
	})

	t.Run("timeout rolls back", func(t *testing.T) {
		// --timeout ends the deploy in its settle window; the rollback
		// still runs, on its own time.
		v5 := units(t, [2]string{"dtapp.service", appUnit("v5", false)})
		r := dt(t, f, nil, "", "--timeout", "2s", "all:", "deploy", "--settle", "20s", v5[0])
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		recs := unitRecords(t, r.stdout)
		for _, h := range all {
			version, pid := runningVersion(t, f, h, "dtapp", false)
			if version != "v2" {
				t.Errorf("%s: after the timeout version %q runs, want v2", h, version)
			}
			checkRecord(t, h, recs[h]["timeout"], output.Fail,
				`timeout: dtapp.service changed, restarted: timed out after 2s; rolled back to previous dtapp.service: active \(running\) since .*; pid `+pid+`; restarts 0; enabled`)
		}
	})

	t.Run("socket before its service", func(t *testing.T) {
		pair := func(v string) []string {
			return units(t,
				[2]string{"dtsock.socket", "[Unit]\nDescription=dt socket " + v + "\n[Socket]\nListenStream=/run/dtsock-" + v + ".sock\n[Install]\nWantedBy=sockets.target\n"},
				[2]string{"dtsock.service", "[Unit]\nDescription=dt socket service " + v + "\n[Service]\nExecStart=/usr/bin/perl -MSocket -e 'open(L, \"+<&=3\") or die \"no socket: $!\"; while (accept(C, L)) { print C \"dtsock " + v + "\\n\"; close C }'\n"})
		}
		ask := func(h, v string) string {
			return inside(t, f, h, `perl -MIO::Socket::UNIX -e 'my $s = IO::Socket::UNIX->new(Peer => "/run/dtsock-`+v+`.sock") or die "connect: $!\n"; print $s->getline'`)
		}
		r, recs := deploy(nil, pair("v1")...)
		if r.code != 0 {
			t.Errorf("new pair: exit %d", r.code)
		}
		for _, h := range all {
			checkRecord(t, h, recs[h]["dtsock.socket"], output.Okay, `dtsock.socket changed, enabled, started: active \(listening\) since .*; enabled`)
			checkRecord(t, h, recs[h]["dtsock.service"], output.Okay, `dtsock.service changed, not started \(dtsock.socket starts it\): inactive \(dead\); restarts 0; static`)
			// The socket activates the service, which answers.
			if got := ask(h, "v1"); got != "dtsock v1" {
				t.Errorf("%s: the service answered %q through its socket", h, got)
			}
		}
		// Both change while the service runs: the service must stop
		// before its socket restarts (systemd refuses otherwise), and
		// start after it, on the new socket.
		r, recs = deploy(nil, pair("v2")...)
		if r.code != 0 {
			t.Errorf("changed pair: exit %d", r.code)
		}
		for _, h := range all {
			checkRecord(t, h, recs[h]["dtsock.socket"], output.Okay, `dtsock.socket changed, restarted: active \(running\) since .*; enabled`)
			checkRecord(t, h, recs[h]["dtsock.service"], output.Okay, `dtsock.service changed, restarted: active \(running\) since .*; pid \d+; restarts 0; static`)
			if got := ask(h, "v2"); got != "dtsock v2" {
				t.Errorf("%s: the service answered %q through the new socket", h, got)
			}
			stamps := strings.Fields(inside(t, f, h, "systemctl show -p ActiveEnterTimestampMonotonic --value dtsock.socket dtsock.service"))
			sock, _ := strconv.ParseInt(stamps[0], 10, 64)
			svc, _ := strconv.ParseInt(stamps[1], 10, 64)
			if len(stamps) != 2 || sock == 0 || svc <= sock {
				t.Errorf("%s: socket active since %v, service since %v: want the socket first", h, sock, svc)
			}
		}
	})

	t.Run("user units", func(t *testing.T) {
		asFleet := userDB(t, f, fleet.SystemdUser)
		u1 := units(t, [2]string{"dtuser.service", appUnit("u1", false)})
		u2 := units(t, [2]string{"dtuser.service", appUnit("u2", true)})
		r, recs := deploy([]string{"-D", asFleet}, append([]string{"--user"}, u1...)...)
		if r.code != 0 {
			t.Errorf("--user new: exit %d", r.code)
		}
		for _, h := range all {
			version, pid := runningVersion(t, f, h, "dtuser", true)
			checkRecord(t, h, recs[h]["dtuser.service"], output.Okay,
				`dtuser.service changed, enabled, started: active \(running\) since .*; pid `+pid+`; restarts 0; enabled`)
			if version != "u1" {
				t.Errorf("%s: user unit runs version %q, want u1", h, version)
			}
			if got := inside(t, f, h, "stat -c '%U %a' /home/fleet/.config/systemd/user/dtuser.service"); got != "fleet 644" {
				t.Errorf("%s: user unit file: %q", h, got)
			}
		}
		r, recs = deploy([]string{"-D", asFleet}, append([]string{"--user"}, u2...)...)
		if r.code != 1 {
			t.Errorf("--user crash: exit %d, want 1", r.code)
		}
		for _, h := range all {
			version, pid := runningVersion(t, f, h, "dtuser", true)
			checkRecord(t, h, recs[h]["dtuser.service"], output.Fail,
				`(?s)dtuser.service changed, restarted: failed \(failed\) .*; rolled back to previous dtuser.service: active \(running\) since .*; pid `+pid+`; restarts 0; enabled\n.*dtapp u2 bad config.*`)
			if version != "u1" {
				t.Errorf("%s: after the rollback the user unit runs version %q, want u1", h, version)
			}
		}
	})

	t.Run("sudo", func(t *testing.T) {
		asFleet := userDB(t, f, fleet.SystemdUser)
		s1 := units(t, [2]string{"dtsudo.service", appUnit("s1", false)}, [2]string{"dtsudo.service.d/limits.conf", "[Service]\nEnvironment=DTAPP_DROPIN=yes\n"})
		r, _ := deploy([]string{"-D", asFleet}, s1...)
		if r.code != 1 || strings.Count(r.stdout, "permission denied: cannot create files in /etc/systemd/system") != len(all) {
			t.Errorf("without --sudo: exit %d", r.code)
		}
		screen := dtAskingSudo(t, f, append([]string{"-D", asFleet, "-K", "--sudo", "all:", "deploy", "--settle", "1s"}, s1...)...)
		for _, h := range all {
			if !strings.Contains(screen, "okay::dt:deploy:"+h+":dtsudo.service changed, enabled, started: active (running)") {
				t.Errorf("%s: no okay line:\n%s", h, screen)
			}
			if got := inside(t, f, h, "stat -c '%U' /etc/systemd/system/dtsudo.service /etc/systemd/system/dtsudo.service.d/limits.conf; systemctl show -p Environment --value dtsudo"); got != "root\nroot\nDTAPP_VERSION=s1 DTAPP_DROPIN=yes" {
				t.Errorf("%s: files and environment: %q", h, got)
			}
		}
	})

	t.Run("batches and a failure budget", func(t *testing.T) {
		crash := units(t, [2]string{"dtbatch.service", appUnit("b1", true)})
		r := dt(t, f, nil, "", "--batch", "1", "--max-fail", "0", "all:", "deploy", "--settle", "500ms", crash[0])
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		recs := records(t, r.stdout)
		first, rest := all[0], all[1]
		checkRecord(t, first, recs[first], output.Fail, `(?s)dtbatch.service changed, enabled, started: failed \(failed\) .*; rolled back: the new dtbatch.service stopped and removed\n.*dtapp b1 bad config.*`)
		checkRecord(t, rest, recs[rest], output.Skip, `not started: 1 host failed, more than --max-fail 0 \(stopped after batch 1 of 2\)`)
		for _, h := range all {
			// No file, no link, not listed as failed.
			if got := inside(t, f, h, "find /etc/systemd/system -name 'dtbatch*' | wc -l; systemctl --failed --no-legend | grep -c dtbatch || true"); got != "0\n0" {
				t.Errorf("%s: dtbatch left behind (files, failed units): %q", h, got)
			}
		}
		// Finishing the stopped rollout: the failed and skipped hosts.
		good := units(t, [2]string{"dtbatch.service", appUnit("b2", false)})
		r = dt(t, f, nil, r.stdout, "out:fail,skip", "deploy", "--settle", "500ms", good[0])
		if r.code != 0 || len(lines(r.stdout)) != len(all) {
			t.Errorf("resume: exit %d\n%s", r.code, r.stdout)
		}
	})
}
