package modules

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Systemctl manages systemd units (system or --user) and verifies actions.
type Systemctl struct{}

// Name implements Module.
func (Systemctl) Name() string { return "systemctl" }

// Summary implements Module.
func (Systemctl) Summary() string {
	return "start/stop/restart/status systemd units (--user too), verified, with journal lines on failure"
}

// Usage implements Module.
func (Systemctl) Usage() string {
	return `dt PATTERN systemctl [--user] [--now] [--settle D] [--lines N] VERB [--] UNIT...

Manages systemd units on every host and prints one line per host and unit,
starting with the unit name and its state read from "systemctl show":

  $ dt tag:web systemctl restart nginx
  okay::dt:systemctl:web1:nginx.service active (running) since 2026-11-23 17:00:01 UTC; pid 1234; restarts 0; enabled
  fail::dt:systemctl:web2:nginx.service failed (failed) since 2026-11-23 17:00:02 UTC; result exit-code; restarts 0; enabled; restart: exit 1: Job for nginx.service failed ...\n2026-11-23T17:00:02+0000 web2 nginx[99]: bad config

VERBS
   status, is-active    okay when the unit is active
   is-enabled           okay when the unit file is enabled (or static, alias, ...)
   is-failed            okay when the unit is failed
   show                 okay when the unit exists; prints the properties as KEY=VALUE
   start, restart, reload-or-restart, reload, try-restart, stop
                        do it, then verify on the same connection: after the
                        settle window (--settle, default 2s) the unit must be
                        active (inactive for stop) and must not have restarted
                        meanwhile; try-restart leaves a stopped unit stopped
   enable, disable      change the unit file state (with --now also start/stop)
   daemon-reload        reload unit files, one line per host

A unit that does not exist fails with "not found". When an action leaves a
unit failed or not active, the line is fail and carries the unit's last
journal lines since the action (--lines N, default 10), so you see why
without a second command. All of it costs one SSH connection per host.

OPTIONS
   --user       user units of the login user (systemctl --user); needs the
                user's manager running: "loginctl enable-linger USER"
   --now        with enable/disable: start/stop the unit too
   --settle D   how long an action must hold before it counts (default 2s; 0: check at once)
   --lines N    journal lines on failure (default 10; 0: none)

Unit names are passed after "--" and shell-quoted: a unit named "--now" or
"x; rm -rf /" is only ever a unit name. A deploy hook:

  dt tag:web systemctl restart app || exit 1
  dt --sudo tag:web systemctl restart app     (non-root login; -K for a password)`
}

type verbKind int

const (
	verbQuery  verbKind = iota // read the state, change nothing
	verbAction                 // change the state, then verify
	verbFile                   // enable/disable
	verbDaemon                 // daemon-reload: per host, no units
)

// systemctlVerbs maps each verb to its kind.
var systemctlVerbs = map[string]verbKind{
	"status": verbQuery, "is-active": verbQuery, "is-enabled": verbQuery, "is-failed": verbQuery, "show": verbQuery,
	"start": verbAction, "stop": verbAction, "restart": verbAction, "reload": verbAction,
	"try-restart": verbAction, "reload-or-restart": verbAction,
	"enable": verbFile, "disable": verbFile,
	"daemon-reload": verbDaemon,
}

// SystemctlVerbs lists the verbs, sorted.
func SystemctlVerbs() []string { return sortedKeys(systemctlVerbs) }

// Prepare implements Module.
func (m Systemctl) Prepare(args []string, opts Options) (Job, error) {
	fs := flag.NewFlagSet(m.Name(), flag.ContinueOnError)
	j := systemctlJob{}
	fs.BoolVar(&j.user, "user", false, "")
	fs.BoolVar(&j.now, "now", false, "")
	fs.DurationVar(&j.settle, "settle", 2*time.Second, "")
	fs.IntVar(&j.lines, "lines", 10, "")
	rest, err := parseArgs(m.Name(), fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		return nil, usagef(m.Name(), "missing verb; verbs: %s", strings.Join(SystemctlVerbs(), ", "))
	}
	j.verb, j.units = rest[0], rest[1:]
	kind, ok := systemctlVerbs[j.verb]
	if !ok {
		return nil, usagef(m.Name(), "unknown verb %q; verbs: %s", j.verb, strings.Join(SystemctlVerbs(), ", "))
	}
	j.kind = kind
	switch {
	case kind == verbDaemon && len(j.units) > 0:
		return nil, usagef(m.Name(), "daemon-reload takes no units, got %q", j.units)
	case kind != verbDaemon && len(j.units) == 0:
		return nil, usagef(m.Name(), "missing unit; usage: dt PATTERN systemctl %s UNIT...", j.verb)
	case j.user && opts.Sudo:
		return nil, usagef(m.Name(), "--user with --sudo would manage root's user units; log in as the user instead (user@host in the inventory)")
	case j.now && kind != verbFile:
		return nil, usagef(m.Name(), "--now goes with enable or disable only")
	case j.settle < 0:
		return nil, usagef(m.Name(), "--settle must not be negative")
	case j.lines < 0:
		return nil, usagef(m.Name(), "--lines must not be negative")
	}
	for _, u := range j.units {
		if u == "" || strings.ContainsAny(u, "\n\x00") {
			return nil, usagef(m.Name(), "bad unit name %q", u)
		}
	}
	return j, nil
}

type systemctlJob struct {
	verb   string
	kind   verbKind
	units  []string
	user   bool
	now    bool
	settle time.Duration
	lines  int
	// render turns a unit's state into the start of its record; nil means
	// unitState.summary (svc passes its normalized form).
	render func(st unitState, typed string) string
}

func (j systemctlJob) describe(st unitState, typed string) string {
	if j.render != nil {
		return j.render(st, typed)
	}
	return st.summary(typed)
}

// exitNoManager is the exit status of the remote preamble when --user finds
// no running user manager.
const exitNoManager = 97

// noManagerMark starts the preamble's message; the login name follows.
const noManagerMark = "dt: no systemd user manager for "

// setRuntimeDir gives a session without XDG_RUNTIME_DIR the user's
// runtime directory, where systemd --user and its journal live.
const setRuntimeDir = `XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"`

// userPreamble comes before every remote command of a --user job: it supplies
// XDG_RUNTIME_DIR when the session lacks it and checks that the user's
// manager is listening.
const userPreamble = setRuntimeDir + `; export XDG_RUNTIME_DIR; ` +
	`[ -S "$XDG_RUNTIME_DIR/systemd/private" ] || { echo "` + noManagerMark + `$(id -un)"; exit 97; }; `

// systemctlCmd builds "systemctl [--user] --no-ask-password ARGS -- UNITS",
// after the --user preamble.
func (j systemctlJob) systemctlCmd(args []string, units ...string) string {
	return j.wrap(j.rawSystemctl(args, units...))
}

func (j systemctlJob) rawSystemctl(args []string, units ...string) string {
	words := []string{"systemctl"}
	if j.user {
		words = append(words, "--user")
	}
	words = append(words, "--no-ask-password")
	words = append(words, args...)
	cmd := QuoteAll(words)
	if len(units) > 0 {
		cmd += " -- " + QuoteAll(units)
	}
	return cmd
}

func (j systemctlJob) wrap(cmd string) string {
	if j.user {
		return userPreamble + cmd
	}
	return cmd
}

// showProps are the properties the summary is made of.
var showProps = []string{"Id", "LoadState", "ActiveState", "SubState", "MainPID",
	"ActiveEnterTimestamp", "InactiveEnterTimestamp", "NRestarts", "UnitFileState", "Result",
	"ActiveEnterTimestampMonotonic"}

func (j systemctlJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	switch j.kind {
	case verbDaemon:
		res, err := h.Run(ctx, runner.Command{Cmd: j.systemctlCmd([]string{"daemon-reload"})})
		if r, failed := j.remoteFailure(h, res, err); failed {
			emit(r)
			return
		}
		rec := h.Result(res, err)
		rec.Message = append([]byte("daemon-reload"+sep(res.Output)), res.Output...)
		emit(rec)
	case verbQuery:
		states, rec, ok := j.show(ctx, h, j.units...)
		if !ok {
			for _, u := range j.units {
				emit(withUnit(rec, u))
			}
			return
		}
		for i, st := range states {
			emit(j.queryRecord(h, j.units[i], st))
		}
	default:
		for i, u := range j.units {
			if stop := j.act(ctx, h, u, emit); stop != nil {
				// Every unit gets its line: those not tried fail for
				// the same reason.
				for _, rest := range j.units[i+1:] {
					emit(withUnit(*stop, rest))
				}
				return
			}
		}
	}
}

func sep(out []byte) string {
	if len(bytes.TrimSpace(out)) == 0 {
		return ""
	}
	return ": "
}

// remoteFailure turns a connection error or the --user preamble's verdict
// into a fail record.
func (j systemctlJob) remoteFailure(h *Host, res runner.Result, err error) (output.Record, bool) {
	if err != nil {
		return h.Result(res, err), true
	}
	if j.user && res.ExitCode == exitNoManager {
		if i := bytes.Index(res.Output, []byte(noManagerMark)); i >= 0 {
			user := strings.TrimSpace(string(res.Output[i+len(noManagerMark):]))
			user, _, _ = strings.Cut(user, "\n")
			msg := fmt.Sprintf("no systemd user manager is running for %s (lingering off?); hint: as root, loginctl enable-linger %s", user, user)
			return h.Record(output.Fail, output.StageModule, []byte(msg), res.ExitCode), true
		}
	}
	return output.Record{}, false
}

// unitState is one unit's "systemctl show" properties.
type unitState map[string]string

// clockCmd prints the remote clock (Unix seconds) and uptime (seconds
// since boot) before "systemctl show": the first for journalctl --since,
// the second to turn ActiveEnterTimestampMonotonic into an uptime free of
// time zones and clock skew.
const clockCmd = "date +%s && cut -d' ' -f1 /proc/uptime && "

// show reads the properties of units, and the remote clock, in one remote
// command.
func (j systemctlJob) show(ctx context.Context, h *Host, units ...string) ([]unitState, output.Record, bool) {
	res, err := h.Run(ctx, runner.Command{Cmd: j.wrap(clockCmd + j.rawSystemctl([]string{"show", "-p", strings.Join(showProps, ",")}, units...))})
	if r, failed := j.remoteFailure(h, res, err); failed {
		return nil, r, false
	}
	states, perr := parseClockShow(res.Output)
	if res.ExitCode != 0 || perr != nil || len(states) != len(units) {
		r := h.Result(res, err)
		if r.Status == output.Okay {
			r = h.Record(output.Fail, output.StageModule, append([]byte("unexpected systemctl show output: "), res.Output...), res.ExitCode)
		}
		return nil, r, false
	}
	return states, output.Record{}, true
}

// Keys parseClockShow adds to every unitState.
const (
	keyEpoch  = "dt.Epoch"  // remote Unix time, seconds
	keyUptime = "dt.Uptime" // remote seconds since boot
)

// parseClockShow parses clockCmd's two lines and the "systemctl show"
// blocks after them.
func parseClockShow(out []byte) ([]unitState, error) {
	epoch, rest, _ := bytes.Cut(out, []byte("\n"))
	uptime, rest, _ := bytes.Cut(rest, []byte("\n"))
	if _, err := strconv.ParseInt(string(epoch), 10, 64); err != nil {
		return nil, fmt.Errorf("remote clock: %q", epoch)
	}
	if _, err := strconv.ParseFloat(string(uptime), 64); err != nil {
		return nil, fmt.Errorf("remote uptime: %q", uptime)
	}
	states := parseShow(rest)
	for _, st := range states {
		st[keyEpoch], st[keyUptime] = string(epoch), string(uptime)
	}
	return states, nil
}

// uptime is how long the unit has been active, from the remote clocks;
// ok is false when it is not active.
func (s unitState) uptime() (time.Duration, bool) {
	enter, err1 := strconv.ParseInt(s["ActiveEnterTimestampMonotonic"], 10, 64)
	now, err2 := strconv.ParseFloat(s[keyUptime], 64)
	if err1 != nil || err2 != nil || enter == 0 || !s.active() {
		return 0, false
	}
	d := time.Duration(now*float64(time.Second)) - time.Duration(enter)*time.Microsecond
	return max(d, 0).Truncate(time.Second), true
}

// parseShow splits "systemctl show" output into one map per unit (blocks
// separated by blank lines, in the order the units were given).
func parseShow(out []byte) []unitState {
	var states []unitState
	var cur unitState
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if cur != nil {
				states = append(states, cur)
				cur = nil
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if cur == nil {
			cur = unitState{}
		}
		cur[k] = v
	}
	if cur != nil {
		states = append(states, cur)
	}
	return states
}

// exists says whether systemd knows the unit.
func (s unitState) exists() bool {
	return s["LoadState"] != "" && s["LoadState"] != "not-found"
}

func (s unitState) active() bool { return s["ActiveState"] == "active" }

func (s unitState) stopped() bool {
	return s["ActiveState"] == "inactive" || s["ActiveState"] == "failed"
}

// enabled mirrors "systemctl is-enabled": these states exit 0.
func (s unitState) enabled() bool {
	switch s["UnitFileState"] {
	case "enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient":
		return true
	}
	return false
}

func (s unitState) restarts() int {
	n, _ := strconv.Atoi(s["NRestarts"])
	return n
}

// name is the unit's full name, or what the user typed when systemd gave
// none.
func (s unitState) name(typed string) string {
	if s["Id"] != "" {
		return s["Id"]
	}
	return typed
}

// Summary renders the one-line state, e.g.
// "nginx.service active (running) since 2026-11-23 17:00:01 UTC; pid 1234; restarts 0; enabled".
func (s unitState) summary(typed string) string {
	name := s.name(typed)
	if !s.exists() {
		return name + " not found"
	}
	var b strings.Builder
	b.WriteString(name + " " + s["ActiveState"])
	if sub := s["SubState"]; sub != "" {
		b.WriteString(" (" + sub + ")")
	}
	since := s["InactiveEnterTimestamp"]
	if s.active() || s["ActiveState"] == "reloading" {
		since = s["ActiveEnterTimestamp"]
	}
	if t := trimWeekday(since); t != "" {
		b.WriteString(" since " + t)
	}
	if pid := s["MainPID"]; pid != "" && pid != "0" {
		b.WriteString("; pid " + pid)
	}
	if r := s["Result"]; r != "" && r != "success" {
		b.WriteString("; result " + r)
	}
	if r := s["NRestarts"]; r != "" {
		b.WriteString("; restarts " + r)
	}
	if f := s["UnitFileState"]; f != "" {
		b.WriteString("; " + f)
	}
	return b.String()
}

// trimWeekday turns "Mon 2026-11-23 17:00:01 UTC" into
// "2026-11-23 17:00:01 UTC"; "n/a" and "" become "".
func trimWeekday(ts string) string {
	if ts == "" || ts == "n/a" {
		return ""
	}
	if day, rest, ok := strings.Cut(ts, " "); ok && len(day) == 3 {
		return rest
	}
	return ts
}

// queryRecord judges a query verb.
func (j systemctlJob) queryRecord(h *Host, typed string, st unitState) output.Record {
	if !st.exists() {
		return h.Record(output.Fail, output.StageModule, []byte(j.describe(st, typed)), -1)
	}
	var ok bool
	msg := j.describe(st, typed)
	switch j.verb {
	case "status", "is-active":
		ok = st.active()
	case "is-enabled":
		ok = st.enabled()
	case "is-failed":
		ok = st["ActiveState"] == "failed"
	case "show":
		ok = true
		var b strings.Builder
		b.WriteString(st.name(typed))
		for _, p := range showProps[1:] {
			b.WriteString(" " + p + "=" + st[p])
		}
		msg = b.String()
	}
	if ok {
		return h.Okay([]byte(msg))
	}
	return h.Record(output.Fail, output.StageModule, []byte(msg), -1)
}

// act runs an action or file verb on one unit and verifies the outcome. It
// returns nil, or, when the host is unusable (connection lost, sudo
// refused) and the other units need not be tried, the failure (without the
// unit's name), which Run gives the units not tried.
func (j systemctlJob) act(ctx context.Context, h *Host, unit string, emit func(output.Record)) (stop *output.Record) {
	// Before: the unit's state and the remote clock (for the journal).
	before, rec, ok := j.show(ctx, h, unit)
	if !ok {
		emit(withUnit(rec, unit))
		if rec.Stage == output.StageModule || rec.Stage == output.StageExit {
			return nil
		}
		return &rec
	}
	since, _ := strconv.ParseInt(before[0][keyEpoch], 10, 64)
	if !before[0].exists() {
		emit(h.Record(output.Fail, output.StageModule, []byte(j.describe(before[0], unit)), -1))
		return nil
	}

	args := []string{j.verb}
	if j.now {
		args = append(args, "--now")
	}
	actRes, err := h.Run(ctx, runner.Command{Cmd: j.systemctlCmd(args, unit)})
	if err != nil {
		rec := h.Result(actRes, err)
		emit(withUnit(rec, unit))
		return &rec
	}
	wantActive, wantStopped := j.expect(before[0])
	var first unitState
	if wantActive && j.settle > 0 && actRes.ExitCode == 0 {
		states, rec, ok := j.show(ctx, h, unit)
		if !ok {
			emit(withUnit(rec, unit))
			return nil
		}
		first = states[0]
		select {
		case <-time.After(j.settle):
		case <-ctx.Done():
			rec := h.Result(runner.Result{ExitCode: -1}, context.Cause(ctx))
			emit(withUnit(rec, unit))
			return &rec
		}
	}
	states, rec, ok := j.show(ctx, h, unit)
	if !ok {
		emit(withUnit(rec, unit))
		return nil
	}
	after := states[0]

	var problems []string
	if actRes.ExitCode != 0 {
		problems = append(problems, fmt.Sprintf("%s: exit %d%s%s", j.verb, actRes.ExitCode, sep(actRes.Output), oneLine(actRes.Output)))
		if hint := h.SudoHint(actRes.Output); hint != "" {
			problems = append(problems, "hint: "+hint)
		} else if bytes.Contains(actRes.Output, []byte("Access denied")) || bytes.Contains(actRes.Output, []byte("Interactive authentication required")) {
			problems = append(problems, "hint: the login user may not manage system units; log in as root or use --sudo")
		}
	}
	switch {
	case wantActive && !after.active() && first != nil:
		problems = append(problems, fmt.Sprintf("%s: not active after %s", j.verb, j.settle))
	case wantActive && !after.active():
		problems = append(problems, j.verb+": not active")
	case wantStopped && !after.stopped():
		problems = append(problems, fmt.Sprintf("%s: still %s", j.verb, after["ActiveState"]))
	}
	if wantActive && first != nil {
		if n := after.restarts() - first.restarts(); n > 0 {
			problems = append(problems, fmt.Sprintf("%s: restarted %d time(s) within %s (crash loop?)", j.verb, n, j.settle))
		} else if first["MainPID"] != after["MainPID"] && first["MainPID"] != "0" && after.active() {
			problems = append(problems, fmt.Sprintf("%s: main pid changed from %s to %s within %s", j.verb, first["MainPID"], after["MainPID"], j.settle))
		}
	}
	if j.verb == "enable" && !after.enabled() {
		problems = append(problems, "enable: unit file is "+after["UnitFileState"])
	}
	if j.verb == "disable" && after["UnitFileState"] != "disabled" {
		problems = append(problems, "disable: unit file is "+after["UnitFileState"])
	}

	msg := j.describe(after, unit)
	if len(problems) == 0 {
		emit(h.Okay([]byte(msg)))
		return nil
	}
	msg += "; " + strings.Join(problems, "; ")
	if j.lines > 0 {
		if lines := j.failureJournal(ctx, h, unit, since, first == nil); len(lines) > 0 {
			msg += "\n" + strings.TrimRight(string(lines), "\n")
		}
	}
	exit := actRes.ExitCode
	if exit == 0 {
		exit = -1
	}
	emit(h.Record(output.Fail, output.StageModule, []byte(msg), exit))
	return nil
}

// journalWaits are the pauses before each read of a failed unit's journal
// when no settle window has passed yet. The unit's own output reaches
// journald through a stream that a busy journald may read well after
// systemd's messages about the failure, so while the lines read so far come
// from systemd alone, dt waits and reads again.
var journalWaits = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// failureJournal reads the unit's journal for a failure record, waiting for
// the unit's own lines as journalWaits says (after a settle window it reads
// once, at once).
func (j systemctlJob) failureJournal(ctx context.Context, h *Host, unit string, since int64, wait bool) []byte {
	waits := journalWaits
	if !wait {
		waits = []time.Duration{0}
	}
	var lines []byte
	for _, d := range waits {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return lines
		}
		lines = j.journal(ctx, h, unit, since)
		if hasUnitOutput(lines) {
			break
		}
	}
	return lines
}

// hasUnitOutput says whether short-iso journal lines include one that is
// not systemd's own ("HOST systemd[PID]: ...").
func hasUnitOutput(lines []byte) bool {
	for _, l := range strings.Split(string(lines), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && !strings.HasPrefix(f[2], "systemd[") {
			return true
		}
	}
	return false
}

// expect says what state the verb should leave the unit in.
func (j systemctlJob) expect(before unitState) (active, stopped bool) {
	switch j.verb {
	case "start", "restart", "reload", "reload-or-restart":
		return true, false
	case "try-restart":
		return before.active(), false
	case "stop":
		return false, true
	case "enable":
		return j.now, false
	case "disable":
		return false, j.now
	}
	return false, false
}

// journal returns the unit's last journal lines since the remote clock read
// before the action, or nil when there are none or they cannot be read.
//
// "journalctl -u UNIT" alone misses the output of processes that exit
// within milliseconds (a daemon rejecting its config): journald cannot tell
// their unit any more and stores the lines without it. So the same remote
// command also asks for the lines of the unit's exec processes by PID (from
// "systemctl show": ExecStartPre=... pid=N ...), and the two are merged.
func (j systemctlJob) journal(ctx context.Context, h *Host, unit string, since int64) []byte {
	jc := []string{"journalctl"}
	sc := []string{"systemctl"}
	if j.user {
		jc = append(jc, "--user")
		sc = append(sc, "--user")
	}
	jc = append(jc, "--no-pager", "-q", "-o", "short-iso-precise", "-n", strconv.Itoa(j.lines),
		"--since", "@"+strconv.FormatInt(since, 10))
	q := Quote(unit)
	script := unitPIDs(sc, unit) + QuoteAll(jc) + " -u " + q + "; " +
		`if [ -n "$pids" ]; then ` + QuoteAll(jc) + " " + pidMatches + "; fi"
	res, err := h.Run(ctx, runner.Command{Cmd: j.wrap(script)})
	if err != nil || res.ExitCode != 0 {
		return nil
	}
	return lastLines(mergeLines(res.Output), j.lines)
}

// execProps are the "systemctl show" properties naming the unit's
// processes.
var execProps = []string{"ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost", "ExecMainPID"}

// unitPIDs is a shell command that sets $pids to the PIDs of the units'
// latest exec processes (ExecStartPre=... pid=N ..., ExecMainPID=N), with
// sc the "systemctl [--user]" words. journald loses the unit of a process
// that exits within milliseconds (a daemon rejecting its config), so its
// lines can only be found by _PID; pidMatches turns $pids into the
// journalctl matches.
func unitPIDs(sc []string, units ...string) string {
	props := []string{"show"}
	for _, p := range execProps {
		props = append(props, "-p", p)
	}
	return "pids=$(" + QuoteAll(sc) + " " + QuoteAll(props) + " -- " + QuoteAll(units) +
		` 2>/dev/null | grep -o 'pid=[0-9]*\|MainPID=[0-9]*' | grep -o '[0-9]*$' | grep -vx 0 | sort -u); `
}

// pidMatches expands unitPIDs' $pids into journalctl's _PID=N matches.
const pidMatches = `$(for p in $pids; do echo "_PID=$p"; done)`

// mergeLines sorts journal lines by their leading timestamp (short-iso-
// precise: fixed width, so text order is time order within one host) and
// drops duplicates, keeping each line once.
func mergeLines(out []byte) []string {
	seen := map[string]bool{}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		lines = append(lines, l)
	}
	sort.SliceStable(lines, func(a, b int) bool {
		ta, _, _ := strings.Cut(lines[a], " ")
		tb, _, _ := strings.Cut(lines[b], " ")
		return ta < tb
	})
	return lines
}

// lastLines joins the last n lines.
func lastLines(lines []string, n int) []byte {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// withUnit prefixes a record's message with the unit name, so every record
// of this module starts with one.
func withUnit(r output.Record, unit string) output.Record {
	r.Message = append([]byte(unit+": "), r.Message...)
	return r
}

// oneLine joins the non-empty lines of out with spaces, for the middle of
// a record's first line.
func oneLine(out []byte) string {
	var parts []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}
