package modules

import (
	"bytes"
	"context"
	"flag"
	"fmt"
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
	fs.DurationVar(&j.settle, "settle", defaultSettle, "")
	fs.IntVar(&j.lines, "lines", defaultFailureLines, "")
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

// defaultSettle is how long an action must hold before it counts (--settle),
// for systemctl and svc alike.
const defaultSettle = 2 * time.Second

// defaultFailureLines is how many journal lines a failed unit's record
// carries (--lines).
const defaultFailureLines = 10

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

// userPreamble comes before every remote command of a --user job: it supplies
// XDG_RUNTIME_DIR when the session lacks it and checks that the user's
// manager is listening.
var userPreamble = setRuntimeDir + `; export XDG_RUNTIME_DIR; ` +
	`[ -S "$XDG_RUNTIME_DIR/systemd/private" ] || { echo "` + noManagerMark + `$(id -un)"; exit ` + strconv.Itoa(exitNoManager) + `; }; `

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

// show reads the properties of units, and the remote clock, in one remote
// command. systemctl's stderr joins its stdout on the host (2>&1): a
// warning such as `Invalid unit name "$(x)" escaped as ...` then comes
// after the clock lines, where parseShow passes over it, instead of
// racing them over SSH's separate stderr stream and arriving first.
func (j systemctlJob) show(ctx context.Context, h *Host, units ...string) ([]unitState, output.Record, bool) {
	return j.showProps(ctx, h, showProps, units...)
}

// showProps is show with the properties props.
func (j systemctlJob) showProps(ctx context.Context, h *Host, props []string, units ...string) ([]unitState, output.Record, bool) {
	res, err := h.Run(ctx, runner.Command{Cmd: j.wrap(clockCmd + j.rawSystemctl([]string{"show", "-p", strings.Join(props, ",")}, units...) + " 2>&1")})
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
