package modules

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRunitPrepare(t *testing.T) {
	tests := []struct {
		args     []string
		verb     string
		services []string
		svdir    string
		wait     int
		err      string // substring of the usage error
	}{
		{args: []string{"status", "web"}, verb: "status", services: []string{"web"}, wait: 7},
		{args: []string{"restart", "web", "db"}, verb: "restart", services: []string{"web", "db"}, wait: 7},
		{args: []string{"-w", "30", "stop", "web"}, verb: "stop", services: []string{"web"}, wait: 30},
		{args: []string{"--wait=2s", "stop", "web"}, verb: "stop", services: []string{"web"}, wait: 2},
		{args: []string{"--svdir", "/srv/sv", "-w", "3", "hup", "web"}, verb: "hup", services: []string{"web"}, svdir: "/srv/sv", wait: 3},
		{args: []string{"--svdir=/x y", "status", "web"}, verb: "status", services: []string{"web"}, svdir: "/x y", wait: 7},
		// After the verb everything is a service, even what looks like an option.
		{args: []string{"status", "-w", "--svdir", "--"}, verb: "status", services: []string{"-w", "--svdir", "--"}, wait: 7},
		{args: []string{"--", "status", "-v"}, verb: "status", services: []string{"-v"}, wait: 7},
		{args: []string{"status", "--", "-v", "--"}, verb: "status", services: []string{"-v", "--"}, wait: 7},
		{args: []string{"status", "--"}, err: "missing service"},
		{args: nil, err: "missing verb"},
		{args: []string{"-w", "5"}, err: "missing verb"},
		{args: []string{"status"}, err: "missing service"},
		{args: []string{"restrat", "web"}, err: `unknown verb "restrat"; verbs: status, up, down, once, pause, cont, hup, alarm, interrupt, quit, 1, 2, term, kill, exit, start, stop, reload, restart, shutdown, force-stop, force-reload, force-restart, force-shutdown, try-restart, check`},
		{args: []string{"-v", "status", "web"}, err: `unknown option "-v"`},
		{args: []string{"-w"}, err: "-w needs a value"},
		{args: []string{"-w", "0", "stop", "web"}, err: `-w "0": want whole seconds`},
		{args: []string{"--wait", "soon", "stop", "web"}, err: `--wait "soon": want whole seconds`},
		{args: []string{"--svdir=", "status", "web"}, err: "--svdir needs a directory"},
		{args: []string{"status", "web", ""}, err: "empty service name"},
	}
	for _, tt := range tests {
		job, err := Runit{}.Prepare(tt.args, Options{})
		if tt.err != "" {
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Prepare(%q) = %v, want a usage error containing %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Prepare(%q): %v", tt.args, err)
			continue
		}
		j := job.(runitJob)
		if j.verb != tt.verb || !reflect.DeepEqual(j.services, tt.services) || j.svdir != tt.svdir || j.wait != tt.wait {
			t.Errorf("Prepare(%q) = verb %q services %q svdir %q wait %d", tt.args, j.verb, j.services, j.svdir, j.wait)
		}
	}
}

// TestRunitVerbs: every verb of sv's man page is accepted, with the goal
// that decides its record.
func TestRunitVerbs(t *testing.T) {
	goals := map[string]svGoal{
		"status": goalStatus,
		"up":     goalRun, "start": goalRun, "restart": goalRun, "once": goalRun, "force-restart": goalRun, "force-reload": goalRun,
		"down": goalDown, "stop": goalDown, "force-stop": goalDown,
		"exit": goalExit, "shutdown": goalExit, "force-shutdown": goalExit,
		"pause": goalSent, "cont": goalSent, "hup": goalSent, "alarm": goalSent, "interrupt": goalSent, "quit": goalSent,
		"1": goalSent, "2": goalSent, "term": goalSent, "kill": goalSent, "reload": goalSent, "try-restart": goalSent, "check": goalSent,
	}
	if len(svVerbs) != len(goals) {
		t.Errorf("%d verbs, want %d", len(svVerbs), len(goals))
	}
	for verb, goal := range goals {
		job, err := Runit{}.Prepare([]string{verb, "web"}, Options{})
		if err != nil {
			t.Errorf("verb %s: %v", verb, err)
			continue
		}
		if g := job.(runitJob).goal; g != goal {
			t.Errorf("verb %s: goal %d, want %d", verb, g, goal)
		}
	}
}

// fakeSV writes an sv into a new directory that logs its arguments (one
// per line, NUL-separated) to dir/argv and answers like sv: status prints
// a run line for a service whose name starts with "ok", a fail line
// otherwise; actions print "ok: ..." and exit 0. It returns the directory.
func fakeSV(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
for a in "$@"; do printf '%s\0' "$a"; done >>"$FAKESV_LOG"
printf '\n' >>"$FAKESV_LOG"
printf 'SVDIR=%s\n' "$SVDIR" >>"$FAKESV_LOG"
if [ "$1" = status ]; then name=$2; else name=$4; fi
case $name in
ok*) [ "$1" = status ] || printf 'ok: '; printf 'run: %s: (pid 42) 3s\n' "$name";;
*) printf 'fail: %s: unable to change to service directory: file does not exist\n' "$name"; exit 1;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "sv"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runLocal runs the job's remote command with the local sh and a fake sv,
// and returns its output and the fake sv's log.
func runLocal(t *testing.T, j runitJob, env ...string) (out, log string) {
	t.Helper()
	dir := fakeSV(t)
	logFile := filepath.Join(dir, "argv")
	cmd := exec.Command("/bin/sh", "-c", j.command())
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + dir + ":/usr/bin:/bin", "FAKESV_LOG=" + logFile}, env...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	l, _ := os.ReadFile(logFile)
	return string(b), string(l)
}

// TestRunitCommandQuoting runs the remote command locally against a fake
// sv: hostile names arrive as exactly one argument each, after the verb,
// and nothing they contain runs.
func TestRunitCommandQuoting(t *testing.T) {
	evidence := filepath.Join(t.TempDir(), "pwned")
	hostile := []string{
		"ok-plain", "-v", "--help", "x; touch " + evidence, "$(touch " + evidence + ")", "`touch " + evidence + "`",
		"it's", `a"b`, "new\nline", "ok; echo dt-runit-fake st 0", "*", "~root", "a b\tc",
	}
	job, err := Runit{}.Prepare(append([]string{"--svdir", "/srv/my sv; touch " + evidence, "-w", "3", "restart"}, hostile...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	j := job.(runitJob)
	out, log := runLocal(t, j)
	if _, err := os.Stat(evidence); err == nil {
		t.Fatal("a service name or --svdir ran as shell code")
	}
	var want strings.Builder
	for _, h := range hostile {
		want.WriteString("-w\x003\x00restart\x00" + h + "\x00\nSVDIR=/srv/my sv; touch " + evidence + "\n")
		want.WriteString("status\x00" + h + "\x00\nSVDIR=/srv/my sv; touch " + evidence + "\n")
	}
	if log != want.String() {
		t.Errorf("sv was called with\n%q\nwant\n%q", log, want.String())
	}
	o := j.parseOutput(out)
	if !o.hasDir || o.dir != "/srv/my sv; touch "+evidence || !o.noDir {
		t.Errorf("dir %q (has %v, missing %v)", o.dir, o.hasDir, o.noDir)
	}
	for i, h := range hostile {
		r := o.replies[i]
		if !r.done || !r.hasAct {
			t.Errorf("%q: reply not complete: %+v", h, r)
			continue
		}
		v := j.judge(h, o, r)
		if strings.HasPrefix(h, "ok") {
			if want := h + " run pid=42 uptime=3s normally=up"; !v.okay || v.msg != want {
				t.Errorf("%q: %v %q, want okay %q", h, v.okay, v.msg, want)
			}
		} else if want := h + ": service directory " + o.dir + " does not exist"; v.okay || v.msg != want {
			t.Errorf("%q: %v %q, want fail %q", h, v.okay, v.msg, want)
		}
	}
}

// TestRunitSVDirDefault: without --svdir the remote $SVDIR is used, else
// /etc/service; the status verb runs sv status only.
func TestRunitSVDirDefault(t *testing.T) {
	job, err := Runit{}.Prepare([]string{"status", "ok1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	j := job.(runitJob)
	for _, tt := range []struct{ env, want string }{{"SVDIR=/remote/sv", "/remote/sv"}, {"SVDIR=", "/etc/service"}, {"X=1", "/etc/service"}} {
		out, log := runLocal(t, j, tt.env)
		if want := "status\x00ok1\x00\nSVDIR=" + tt.want + "\n"; log != want {
			t.Errorf("%s: sv log %q, want %q", tt.env, log, want)
		}
		if o := j.parseOutput(out); o.dir != tt.want {
			t.Errorf("%s: dir %q, want %q", tt.env, o.dir, tt.want)
		}
	}
}

// TestRunitNoSV: a host without sv says so for every service.
func TestRunitNoSV(t *testing.T) {
	job, _ := Runit{}.Prepare([]string{"status", "a", "b"}, Options{})
	j := job.(runitJob)
	bin := t.TempDir() // sh and nothing else
	if err := os.Symlink("/bin/sh", filepath.Join(bin, "sh")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", j.command())
	cmd.Env = []string{"PATH=" + bin}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if o := j.parseOutput(string(b)); !o.noSV {
		t.Errorf("output %q: noSV not seen", b)
	}
}

// TestRunitJudge decides records from sv replies captured from real runit.
func TestRunitJudge(t *testing.T) {
	dirOut := svOutput{dir: "/etc/service", hasDir: true}
	tests := []struct {
		verb    string
		service string
		r       svReply
		okay    bool
		msg     string
	}{
		{"status", "sleeper", svReply{status: "run: sleeper: (pid 740) 2s", done: true}, true, "sleeper run pid=740 uptime=2s normally=up"},
		{"status", "stopped", svReply{status: "down: stopped: 2s", done: true}, true, "stopped down uptime=2s normally=down"},
		{"status", "sleeper", svReply{status: "down: sleeper: 1s, normally up", done: true}, false, "sleeper down uptime=1s normally=up"},
		{"status", "badstart", svReply{status: "down: badstart: 1s, normally up, want up", done: true}, false, "badstart down uptime=1s normally=up want=up"},
		{"status", "stopped", svReply{status: "down: stopped: 1s, want up", done: true}, false, "stopped down uptime=1s normally=down want=up"},
		{"status", "finisher", svReply{status: "finish: finisher: (pid 870) 2s", done: true}, false, "finisher finish pid=870 uptime=2s normally=up"},
		{"status", "nosuch", svReply{status: "fail: nosuch: unable to change to service directory: file does not exist", statusRC: 1, done: true}, false, "nosuch: no such service in /etc/service"},
		{"status", "./nosuch", svReply{status: "fail: ./nosuch: unable to change to service directory: file does not exist", statusRC: 1, done: true}, false, "./nosuch: no such service directory"},
		{"status", "/o/unsup", svReply{status: "warning: /o/unsup: unable to open supervise/ok: file does not exist", statusRC: 1, done: true}, false,
			"/o/unsup: not supervised: no runsv is running for it (sv: unable to open supervise/ok: file does not exist)"},
		{"status", "web", svReply{status: "warning: web: unable to open supervise/ok: access denied", statusRC: 1, done: true}, false,
			"web: permission denied (sv: unable to open supervise/ok: access denied); runsv runs as another user: log in as that user or use --sudo"},
		{"status", "web", svReply{status: "something else", done: true}, false, "web: unexpected output from sv status: something else"},
		{"restart", "sleeper", svReply{act: "ok: run: sleeper: (pid 2691) 0s", hasAct: true, status: "run: sleeper: (pid 2691) 0s", done: true}, true, "sleeper run pid=2691 uptime=0s normally=up"},
		{"start", "badstart", svReply{act: "timeout: down: badstart: 0s, normally up, want up", actRC: 1, hasAct: true, status: "down: badstart: 0s, normally up, want up", done: true}, false,
			"badstart down uptime=0s normally=up want=up; start timed out after 7s"},
		{"stop", "ignterm", svReply{act: "timeout: run: ignterm: (pid 739) 21s, want down, got TERM", actRC: 1, hasAct: true, status: "run: ignterm: (pid 739) 21s, want down, got TERM", done: true}, false,
			"ignterm run pid=739 uptime=21s normally=up want=down got=TERM; stop timed out after 7s"},
		{"force-stop", "ignterm", svReply{act: "kill: run: ignterm: (pid 739) 24s, want down, got TERM", actRC: 1, hasAct: true, status: "down: ignterm: 0s, normally up", done: true}, false,
			"ignterm down uptime=0s normally=up; force-stop timed out after 7s, sent KILL"},
		{"stop", "stopped", svReply{act: "ok: down: stopped: 1s", hasAct: true, status: "down: stopped: 1s", done: true}, true, "stopped down uptime=1s normally=down"},
		// sv said ok, but by the time of sv status the service was back up.
		{"stop", "x", svReply{act: "ok: down: x: 0s", hasAct: true, status: "run: x: (pid 5) 0s", done: true}, false, "x run pid=5 uptime=0s normally=up; not down after stop"},
		{"up", "x", svReply{act: "ok: run: x: (pid 5) 0s", hasAct: true, status: "down: x: 0s, normally up, want up", done: true}, false, "x down uptime=0s normally=up want=up; not running after up"},
		{"hup", "stopped", svReply{act: "ok: down: stopped: 14s", hasAct: true, status: "down: stopped: 14s", done: true}, true, "stopped down uptime=14s normally=down"},
		{"hup", "nosuch", svReply{act: "fail: nosuch: unable to change to service directory: file does not exist", actRC: 1, hasAct: true,
			status: "fail: nosuch: unable to change to service directory: file does not exist", statusRC: 1, done: true}, false, "nosuch: no such service in /etc/service"},
		{"exit", "sleeper", svReply{act: "ok: sleeper: runsv not running", hasAct: true, status: "fail: sleeper: runsv not running", statusRC: 1, done: true}, true, "sleeper: runsv exited"},
		{"exit", "dead", svReply{act: "fail: dead: runsv not running", actRC: 1, hasAct: true, status: "fail: dead: runsv not running", statusRC: 1, done: true}, false,
			"dead: not supervised: no runsv is running for it (sv: runsv not running)"},
		{"term", "dead", svReply{act: "fail: dead: runsv not running", actRC: 1, hasAct: true, status: "fail: dead: runsv not running", statusRC: 1, done: true}, false,
			"dead: not supervised: no runsv is running for it (sv: runsv not running)"},
		{"kill", "x", svReply{act: "weird", actRC: 2, hasAct: true, status: "run: x: (pid 5) 0s", done: true}, false, "x run pid=5 uptime=0s normally=up; sv kill exit 2: weird"},
	}
	for _, tt := range tests {
		job, err := Runit{}.Prepare([]string{tt.verb, tt.service}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		v := job.(runitJob).judge(tt.service, dirOut, tt.r)
		if v.okay != tt.okay || v.msg != tt.msg {
			t.Errorf("%s %s: %v %q\nwant %v %q", tt.verb, tt.service, v.okay, v.msg, tt.okay, tt.msg)
		}
	}
}

// TestRunitParseOutput: sections, a reply cut short, and junk between.
func TestRunitParseOutput(t *testing.T) {
	job, _ := Runit{}.Prepare([]string{"restart", "a", "b"}, Options{})
	j := job.(runitJob)
	n := j.nonce
	out := "motd junk\n" + n + " dir\n/etc/ser\nvice\n" +
		n + " act 0\nok: run: a: (pid 1) 0s\n\n" + n + " rc 0 0\n" +
		n + " st 0\nrun: a: (pid 1) 0s\n\n" + n + " src 0 0\n" +
		n + " act 1\ntimeout: down: b: 0s" // cut short
	o := j.parseOutput(out)
	if !o.hasDir || o.dir != "/etc/ser\nvice" || o.noDir || o.noSV {
		t.Errorf("dir %q %+v", o.dir, o)
	}
	a := o.replies[0]
	if a != (svReply{act: "ok: run: a: (pid 1) 0s", status: "run: a: (pid 1) 0s", hasAct: true, done: true}) {
		t.Errorf("a = %+v", a)
	}
	if b := o.replies[1]; b.done || b.hasAct || b.act != "timeout: down: b: 0s" {
		t.Errorf("b = %+v", b)
	}
	// Another nonce is just output.
	if o := j.parseOutput("dt-runit-000 nosv\n"); o.noSV || o.hasDir {
		t.Errorf("a foreign header was obeyed: %+v", o)
	}
}
