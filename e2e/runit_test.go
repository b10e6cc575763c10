package e2e

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
)

// svRecords parses dt runit's output into records by host and service. The
// service of a record is the one of services its message starts with
// (followed by " " or ": ", the longest match); a record for no known
// service, or two for the same host and service, fail the test. It also
// returns, per host, the services in the order their records came.
func svRecords(t *testing.T, stdout string, services ...string) (map[string]map[string]output.Record, map[string][]string) {
	t.Helper()
	recs := map[string]map[string]output.Record{}
	order := map[string][]string{}
	for _, line := range lines(stdout) {
		r, err := output.Parse(line)
		if err != nil {
			t.Fatalf("unparseable line %q: %v", line, err)
		}
		// A host that failed before sv ran: "STAGE: NAME: ERROR".
		m := string(r.Message)
		if r.Status == output.Fail {
			if stage, rest, ok := strings.Cut(m, ": "); ok && stageRE.MatchString(stage) {
				m = rest
			}
		}
		svc := ""
		for _, s := range services {
			if (strings.HasPrefix(m, s+" ") || strings.HasPrefix(m, s+": ")) && len(s) > len(svc) {
				svc = s
			}
		}
		if svc == "" {
			t.Fatalf("record %q names none of the services %q", line, services)
		}
		if recs[r.Host] == nil {
			recs[r.Host] = map[string]output.Record{}
		}
		if _, dup := recs[r.Host][svc]; dup {
			t.Fatalf("two records for %s %s", r.Host, svc)
		}
		recs[r.Host][svc] = r
		order[r.Host] = append(order[r.Host], svc)
	}
	return recs, order
}

// sshSV runs "sv status SERVICE" on host with the OpenSSH client (not dt),
// for an independent look at the state dt reports; SVDIR is the host's.
// The client keeps one master connection per host (see sshMasters).
func sshSV(t *testing.T, f *fleet.Fleet, host, service string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(sshMasterOpts(t), host, "sv status "+service)
	cmd := exec.CommandContext(ctx, "ssh", append([]string{"-F", f.SSHConfig}, args...)...)
	cmd.Env = f.Env()
	out, _ := cmd.CombinedOutput() // sv status exits 1 on a fail line
	return strings.TrimSpace(string(out))
}

// sshControlDir holds the OpenSSH master sockets of the current TestRunit.
var sshControlDir string

func sshMasterOpts(t *testing.T) []string {
	if sshControlDir == "" {
		t.Fatal("sshSV outside TestRunit")
	}
	return []string{"-o", "BatchMode=yes", "-o", "ControlMaster=auto", "-o", "ControlPersist=yes",
		"-o", "ControlPath=" + filepath.Join(sshControlDir, "%h")}
}

// sshMasters makes sshSV share one OpenSSH connection per host, and stops
// those connections when t ends.
func sshMasters(t *testing.T, f *fleet.Fleet) {
	dir, err := os.MkdirTemp("", "dt-ssh-")
	if err != nil {
		t.Fatal(err)
	}
	sshControlDir = dir
	t.Cleanup(func() {
		for _, h := range f.Hosts {
			cmd := exec.Command("ssh", append([]string{"-F", f.SSHConfig}, append(sshMasterOpts(t), "-O", "exit", h.Name)...)...)
			cmd.Env = f.Env()
			_ = cmd.Run() // no master for a host never checked
		}
		sshControlDir = ""
		os.RemoveAll(dir)
	})
}

// checkRecord fails t unless rec has the status and its message matches
// the anchored regular expression re.
func checkRecord(t *testing.T, what string, rec output.Record, status output.Status, re string) {
	t.Helper()
	if rec.Status != status || !regexp.MustCompile("^(?:"+re+")$").Match(rec.Message) {
		t.Errorf("%s: %s %q, want %s matching %q", what, rec.Status, rec.Message, status, re)
	}
}

var stageRE = regexp.MustCompile(`^(resolve|connect|handshake|hostkey|auth|session|exit|timeout|interrupt|module)$`)

var pidRE = regexp.MustCompile(`pid[= ](\d+)`)

// pidOf returns the first pid in s ("pid=N" from dt, "(pid N)" from sv),
// or -1.
func pidOf(s string) int {
	m := pidRE.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestRunit drives dt runit against real runsvdir/runsv on a fleet of four
// hosts, each with the fleet's RunitServices. The subtests run in order
// and share the fleet; each leaves the services as it found them.
func TestRunit(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 4, Runit: true})
	sshMasters(t, f)
	all := allNames(f)

	t.Run("status", func(t *testing.T) {
		svcs := []string{"sleeper", "stopped", "logged", "flaky", "nosuch"}
		r := dt(t, f, nil, "", "all:", "runit", "status", "sleeper", "stopped", "logged", "flaky", "nosuch")
		if r.code != 1 {
			t.Errorf("exit %d, want 1 (nosuch fails)", r.code)
		}
		recs, order := svRecords(t, r.stdout, svcs...)
		if !equal(names2(recs), all) {
			t.Fatalf("hosts %q, want %q", names2(recs), all)
		}
		for _, h := range f.Hosts {
			if !equal(order[h.Name], svcs) {
				t.Errorf("%s: records in order %q, want %q", h.Name, order[h.Name], svcs)
			}
			got := recs[h.Name]
			checkRecord(t, h.Name+" sleeper", got["sleeper"], output.Okay, `sleeper run pid=\d+ uptime=\d+s normally=up`)
			checkRecord(t, h.Name+" stopped", got["stopped"], output.Okay, `stopped down uptime=\d+s normally=down`)
			checkRecord(t, h.Name+" logged", got["logged"], output.Okay, `logged run pid=\d+ uptime=\d+s normally=up; log: run pid=\d+ uptime=\d+s normally=up`)
			// flaky runs 2 s, then is down (want up) 1 s: either is right,
			// with the matching status.
			if got["flaky"].Status == output.Okay {
				checkRecord(t, h.Name+" flaky", got["flaky"], output.Okay, `flaky run pid=\d+ uptime=[0-3]s normally=up`)
			} else {
				checkRecord(t, h.Name+" flaky", got["flaky"], output.Fail, `flaky down uptime=[0-2]s normally=up want=up`)
			}
			checkRecord(t, h.Name+" nosuch", got["nosuch"], output.Fail, regexp.QuoteMeta("nosuch: no such service in "+h.SVDir))
			// The same process sv shows over a plain ssh session.
			if p, want := pidOf(string(got["sleeper"].Message)), pidOf(sshSV(t, f, h.Name, "sleeper")); p != want || p <= 0 {
				t.Errorf("%s: dt says sleeper pid %d, sv over ssh %d", h.Name, p, want)
			}
		}
	})

	t.Run("crash-looping", func(t *testing.T) {
		// crashing exits at once and runsv restarts it every second: it
		// is down (want up) but for a few milliseconds a second, during
		// which "run ... uptime=0s" is the truth. Ask again in that case.
		for attempt := 1; ; attempt++ {
			r := dt(t, f, nil, "", "all:", "runit", "status", "crashing")
			recs, _ := svRecords(t, r.stdout, "crashing")
			caught := false
			for _, h := range all {
				rec := recs[h]["crashing"]
				if rec.Status == output.Okay && regexp.MustCompile(`^crashing run pid=\d+ uptime=0s normally=up$`).Match(rec.Message) {
					caught = true
					continue
				}
				checkRecord(t, h+" crashing", rec, output.Fail, `crashing down uptime=[01]s normally=up want=up`)
			}
			if !caught || attempt == 3 {
				if caught {
					t.Errorf("crashing seen running 3 times in a row")
				}
				if r.code != 1 {
					t.Errorf("exit %d, want 1", r.code)
				}
				break
			}
		}
		// Starting it fails after the wait, saying so.
		r := dt(t, f, nil, "", "sys:h001", "runit", "-w", "1", "start", "crashing")
		recs, _ := svRecords(t, r.stdout, "crashing")
		checkRecord(t, "start crashing", recs["h001"]["crashing"], output.Fail, `crashing (down uptime=[01]s normally=up want=up|run pid=\d+ uptime=0s normally=up); start timed out after 1s`)
	})

	t.Run("actions", func(t *testing.T) {
		type step struct {
			args   []string
			status output.Status
			re     string // the sleeper record
			sv     string // prefix of sv status over ssh afterwards
		}
		var lastPID = map[string]int{}
		for _, st := range []step{
			{[]string{"stop"}, output.Okay, `sleeper down uptime=\d+s normally=up`, "down: sleeper: "},
			{[]string{"status"}, output.Fail, `sleeper down uptime=\d+s normally=up`, "down: sleeper: "},
			{[]string{"start"}, output.Okay, `sleeper run pid=\d+ uptime=[01]s normally=up`, "run: sleeper: (pid "},
			{[]string{"restart"}, output.Okay, `sleeper run pid=\d+ uptime=[01]s normally=up`, "run: sleeper: (pid "},
			{[]string{"down"}, output.Okay, `sleeper down uptime=\d+s normally=up`, "down: sleeper: "},
			{[]string{"up"}, output.Okay, `sleeper run pid=\d+ uptime=[01]s normally=up`, "run: sleeper: (pid "},
			{[]string{"pause"}, output.Okay, `sleeper run pid=\d+ uptime=\d+s normally=up paused=yes`, "run: sleeper: (pid "},
			{[]string{"cont"}, output.Okay, `sleeper run pid=\d+ uptime=\d+s normally=up`, "run: sleeper: (pid "},
			{[]string{"hup"}, output.Okay, `sleeper (run pid=\d+ uptime=\d+s normally=up|down uptime=0s normally=up want=up)`, ""},
			{[]string{"up"}, output.Okay, `sleeper run pid=\d+ uptime=\d+s normally=up`, "run: sleeper: (pid "},
		} {
			if st.args[0] == "restart" {
				// runit may lose a TERM sent in the first second after a
				// service starts (see "hostile names"): restart a
				// service that has been up for a moment, as deploys do.
				time.Sleep(1100 * time.Millisecond)
			}
			args := append([]string{"all:", "runit"}, st.args...)
			r := dt(t, f, nil, "", append(args, "sleeper")...)
			recs, _ := svRecords(t, r.stdout, "sleeper")
			for _, h := range all {
				rec := recs[h]["sleeper"]
				checkRecord(t, h+" "+st.args[0], rec, st.status, st.re)
				if st.sv == "" {
					continue
				}
				sv := sshSV(t, f, h, "sleeper")
				if !strings.HasPrefix(sv, st.sv) {
					t.Errorf("%s after %s: sv status over ssh says %q, want %q...", h, st.args[0], sv, st.sv)
				}
				if p := pidOf(string(rec.Message)); p > 0 {
					if p != pidOf(sv) {
						t.Errorf("%s after %s: dt pid %d, sv over ssh %q", h, st.args[0], p, sv)
					}
					if st.args[0] == "restart" && p == lastPID[h] {
						t.Errorf("%s: restart kept pid %d", h, p)
					}
					lastPID[h] = p
				}
			}
		}
		if strings.Contains(sshSV(t, f, "h001", "sleeper"), "paused") {
			t.Error("sleeper still paused")
		}
	})

	t.Run("wait", func(t *testing.T) {
		// slowstop needs 1.5 s to stop after TERM: a 1 s wait is too short.
		r := dt(t, f, nil, "", "sys:h002", "runit", "-w", "1", "stop", "slowstop")
		recs, _ := svRecords(t, r.stdout, "slowstop")
		// (By the time sv status runs, it may have stopped.)
		checkRecord(t, "-w 1 stop", recs["h002"]["slowstop"], output.Fail,
			`slowstop (run pid=\d+ uptime=\d+s normally=up want=down got=TERM|down uptime=[01]s normally=up); stop timed out after 1s`)
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		// It does stop a little later.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.HasPrefix(sshSV(t, f, "h002", "slowstop"), "down: slowstop: ") {
			if time.Now().After(deadline) {
				t.Fatal("slowstop never stopped")
			}
			time.Sleep(200 * time.Millisecond)
		}
		r = dt(t, f, nil, "", "sys:h002", "runit", "up", "slowstop")
		recs, _ = svRecords(t, r.stdout, "slowstop")
		checkRecord(t, "up", recs["h002"]["slowstop"], output.Okay, `slowstop run pid=\d+ uptime=[01]s normally=up`)
		// With the default 7 s, stop waits the 1.5 s and succeeds.
		t0 := time.Now()
		r = dt(t, f, nil, "", "sys:h002", "runit", "--wait=7", "stop", "slowstop")
		took := time.Since(t0)
		recs, _ = svRecords(t, r.stdout, "slowstop")
		checkRecord(t, "-w 7 stop", recs["h002"]["slowstop"], output.Okay, `slowstop down uptime=[01]s normally=up`)
		if took < 1500*time.Millisecond {
			t.Errorf("stop took %v: it did not wait for the 1.5 s stop", took)
		}
		if sv := sshSV(t, f, "h002", "slowstop"); !strings.HasPrefix(sv, "down: slowstop: ") {
			t.Errorf("sv status over ssh: %q", sv)
		}
		dt(t, f, nil, "", "sys:h002", "runit", "up", "slowstop")
	})

	t.Run("svdir", func(t *testing.T) {
		h := f.Host("h003")
		// Relative names resolve in --svdir (the log service, inside
		// logged), not in the host's $SVDIR...
		r := dt(t, f, nil, "", "sys:h003", "runit", "--svdir", filepath.Join(h.SVDir, "logged"), "status", "log")
		recs, _ := svRecords(t, r.stdout, "log")
		checkRecord(t, "--svdir", recs["h003"]["log"], output.Okay, `log run pid=\d+ uptime=\d+s normally=up`)
		// ...and in $SVDIR without it.
		r = dt(t, f, nil, "", "sys:h003", "runit", "status", "log")
		recs, _ = svRecords(t, r.stdout, "log")
		checkRecord(t, "$SVDIR", recs["h003"]["log"], output.Fail, regexp.QuoteMeta("log: no such service in "+h.SVDir))
		// --svdir wins over $SVDIR.
		r = dt(t, f, nil, "", "sys:h003", "runit", "--svdir=/nonexistent/sv dir", "status", "sleeper")
		recs, _ = svRecords(t, r.stdout, "sleeper")
		checkRecord(t, "missing --svdir", recs["h003"]["sleeper"], output.Fail, regexp.QuoteMeta("sleeper: service directory /nonexistent/sv dir does not exist"))
		// A path is used as it is.
		r = dt(t, f, nil, "", "sys:h003", "runit", "status", filepath.Join(h.SVDir, "stopped"))
		recs, _ = svRecords(t, r.stdout, filepath.Join(h.SVDir, "stopped"))
		checkRecord(t, "path", recs["h003"][filepath.Join(h.SVDir, "stopped")], output.Okay, regexp.QuoteMeta(filepath.Join(h.SVDir, "stopped"))+` down uptime=\d+s normally=down`)
		// Without $SVDIR (the plain fleet's hosts) sv's default applies.
		sf := shared(t)
		r = dt(t, sf, nil, "", "sys:h001", "runit", "status", "sleeper")
		recs, _ = svRecords(t, r.stdout, "sleeper")
		checkRecord(t, "default", recs["h001"]["sleeper"], output.Fail, `sleeper: (no such service in /etc/service|service directory /etc/service does not exist)`)
	})

	t.Run("hostile names", func(t *testing.T) {
		h := f.Host("h003")
		evidence := filepath.Join(remoteDir(t, f), "pwned")
		// A real service named -v, to show it is a name and not an option.
		dash := filepath.Join(h.SVDir, "-v")
		if err := os.Mkdir(dash, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dash, "run"), []byte("#!/bin/sh\nexec sleep 100004\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		u, err := user.Lookup(f.User)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dash, filepath.Join(dash, "run")} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		defer os.RemoveAll(dash)
		// runsvdir looks for new services every 5 s.
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(dash, "supervise", "stat")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("runsvdir did not pick up the service -v")
			}
			time.Sleep(100 * time.Millisecond)
		}
		// A TERM that reaches ./run before it has set itself up can be
		// lost (runsv then reports "got TERM" for a running service): let
		// it start in peace before restarting it.
		time.Sleep(1100 * time.Millisecond)
		hostile := []string{"-v", "--help", "x; touch " + evidence, "$(touch " + evidence + ")", "`touch " + evidence + "`", "a b", "it's"}
		r := dt(t, f, nil, "", append([]string{"sys:h003", "runit", "restart"}, hostile...)...)
		recs, order := svRecords(t, r.stdout, hostile...)
		if !equal(order["h003"], hostile) {
			t.Errorf("records for %q, want %q", order["h003"], hostile)
		}
		checkRecord(t, "-v", recs["h003"]["-v"], output.Okay, `-v run pid=\d+ uptime=[01]s normally=up`)
		dashPID := pidOf(string(recs["h003"]["-v"].Message))
		if sv := sshSV(t, f, "h003", "-v"); !strings.HasPrefix(sv, "run: -v: (pid ") || pidOf(sv) != dashPID {
			log, _ := os.ReadFile(filepath.Join(h.Dir, "runsvdir.log"))
			t.Errorf("sv status over ssh: %q; runsvdir log:\n%s", sv, log)
		}
		for _, name := range hostile[1:] {
			checkRecord(t, name, recs["h003"][name], output.Fail, regexp.QuoteMeta(name+": no such service in "+h.SVDir))
		}
		if _, err := os.Stat(evidence); err == nil {
			t.Error("a service name ran as shell code")
		}
		// exit stops it and its runsv.
		r = dt(t, f, nil, "", "sys:h003", "runit", "exit", "-v")
		recs, _ = svRecords(t, r.stdout, "-v")
		checkRecord(t, "exit -v", recs["h003"]["-v"], output.Okay, `-v: runsv exited`)
		// (runsvdir starts a new runsv within 5 s, which starts it anew.)
		sv := sshSV(t, f, "h003", "-v")
		if sv != "fail: -v: runsv not running" && !(regexp.MustCompile(`^run: -v: \(pid \d+\) [01]s$`).MatchString(sv) && pidOf(sv) != dashPID) {
			t.Errorf("after exit, sv status over ssh: %q", sv)
		}
	})

	t.Run("one handshake per host", func(t *testing.T) {
		before := map[string]int{}
		for _, h := range all {
			before[h], _ = f.Handshakes(h)
		}
		t0 := time.Now()
		r := dt(t, f, nil, "", "all:", "runit", "restart", "sleeper", "logged", "slowstop")
		took := time.Since(t0)
		if r.code != 0 {
			t.Errorf("exit %d", r.code)
		}
		recs, _ := svRecords(t, r.stdout, "sleeper", "logged", "slowstop")
		for _, h := range all {
			n, _ := f.Handshakes(h)
			if n-before[h] != 1 {
				t.Errorf("%s: %d handshakes for restart of 3 services, want 1", h, n-before[h])
			}
			if len(recs[h]) != 3 {
				t.Errorf("%s: %d records, want 3", h, len(recs[h]))
			}
		}
		t.Logf("restart of 3 services (slowstop takes 1.5 s) on %d hosts: %v", len(all), took)
	})

	t.Run("svc", func(t *testing.T) {
		// svc finds runit here (no systemd as PID 1 on these hosts) and
		// prints the normalized fields.
		r := dt(t, f, nil, "", "all:", "svc", "status", "sleeper", "stopped", "nosuch")
		if r.code != 1 {
			t.Errorf("exit %d, want 1 (nosuch fails)", r.code)
		}
		recs, _ := svRecords(t, r.stdout, "sleeper", "stopped", "nosuch")
		for _, h := range all {
			checkRecord(t, h+" svc sleeper", recs[h]["sleeper"], output.Okay, `sleeper state=running pid=\d+ uptime=\d+s restarts=- manager=runit`)
			checkRecord(t, h+" svc stopped", recs[h]["stopped"], output.Okay, `stopped state=stopped pid=- uptime=\d+s restarts=- manager=runit`)
			checkRecord(t, h+" svc nosuch", recs[h]["nosuch"], output.Fail, `nosuch state=unknown manager=none; no systemd unit or runit service named nosuch`)
		}
		before := map[string]int{}
		for _, h := range all {
			before[h] = pidOf(sshSV(t, f, h, "sleeper"))
		}
		r = dt(t, f, nil, "", "all:", "svc", "restart", "sleeper")
		if r.code != 0 {
			t.Errorf("svc restart: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		recs, _ = svRecords(t, r.stdout, "sleeper")
		for _, h := range all {
			checkRecord(t, h+" svc restart", recs[h]["sleeper"], output.Okay, `sleeper state=running pid=\d+ uptime=\d+s restarts=- manager=runit`)
			after := pidOf(sshSV(t, f, h, "sleeper"))
			if got := pidOf(string(recs[h]["sleeper"].Message)); got != after || after == before[h] {
				t.Errorf("%s: svc restart says pid %d; sv over ssh says %d (was %d)", h, got, after, before[h])
			}
		}
	})

	t.Run("failing host", func(t *testing.T) {
		if err := f.StopHost("h004"); err != nil {
			t.Fatal(err)
		}
		r := dt(t, f, nil, "", "all:", "runit", "status", "sleeper", "stopped")
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		recs, _ := svRecords(t, r.stdout, "sleeper", "stopped")
		for _, h := range []string{"h001", "h002", "h003"} {
			checkRecord(t, h, recs[h]["sleeper"], output.Okay, `sleeper run pid=\d+ uptime=\d+s normally=up`)
			checkRecord(t, h, recs[h]["stopped"], output.Okay, `stopped down uptime=\d+s normally=down`)
		}
		for _, s := range []string{"sleeper", "stopped"} {
			checkRecord(t, "h004 "+s, recs["h004"][s], output.Fail, "connect: "+s+": dial tcp .*: connection refused")
		}
	})
}

func names2(recs map[string]map[string]output.Record) []string {
	var n []string
	for h := range recs {
		n = append(n, h)
	}
	sort.Strings(n)
	return n
}
