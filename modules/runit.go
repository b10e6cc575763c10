package modules

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Runit controls runit services with sv on every host: one record per host
// and service, carrying the service's parsed state.
type Runit struct{}

// Name implements Module.
func (Runit) Name() string { return "runit" }

// Summary implements Module.
func (Runit) Summary() string {
	return "runit services: sv status/start/stop/restart/signals, one line per service"
}

// Usage implements Module.
func (Runit) Usage() string {
	return `dt PATTERN runit [--svdir DIR] [-w SECONDS] VERB SERVICE...

Runs runit's sv on every host for each SERVICE and prints one line per host
and service with the state sv reports, parsed:

  $ dt tag:web runit status nginx
  okay::dt:runit:web1:nginx run pid=7536 uptime=6s normally=up
  fail::dt:runit:web2:nginx down uptime=3s normally=up want=up
  fail::dt:runit:web3:nginx: no such service in /etc/service

  dt tag:web runit restart nginx php-fpm     # restart, then report the state
  dt tag:web runit -w 30 stop nginx          # wait up to 30 s for it to stop
  dt tag:web runit --svdir /var/service hup nginx
  dt tag:web runit status nginx | grep ^fail # where is it not running?
  dt all: runit status nginx | cut -d: -f5- | awk '$2 == "run" {print $3}'

VERBS (sv's)
  status                           report; okay when the service runs, or is
                                   down on purpose (./down file, not wanted up)
  up start restart once
  force-restart force-reload       okay when it runs afterwards
  down stop force-stop             okay when it is down afterwards
  exit shutdown force-shutdown     okay when sv succeeds; runsv exits, and
                                   the line says "NAME: runsv exited"
  pause cont hup alarm interrupt
  quit 1 2 term kill reload        send the signal; okay when sv succeeds
  try-restart check                okay when sv succeeds

Every verb but status runs "sv -w SECONDS VERB SERVICE" (default 7 s, as sv),
then "sv status SERVICE", and reports the state after the action, all on the
host's one connection; an action is okay only if sv also exited 0. A failed
action says why at the end of the line ("; stop timed out after 7s").

OPTIONS (before VERB; after VERB, and an optional --, everything is a
service name)
  --svdir DIR         service directory (default: the remote $SVDIR, else
                      runit's /etc/service)
  -w, --wait SECONDS  how long sv waits for an action to take effect (7)

SERVICE is a name in the service directory, or, as with sv, a path if it
starts with "/" or "." or ends with "/". Names reach sv shell-quoted and
after the verb, so they are never options or shell code.

MESSAGE (one service)
  NAME STATE [pid=N] uptime=Ns normally=up|down [want=up|down] [paused=yes]
       [got=TERM] [; log: STATE ...] [; NOTE]
STATE is run, down or finish; pid is there when STATE is not down; the
bracketed keys appear only when sv reports them, in this order; "; log:"
is the log service (NAME/log) if there is one. A service sv cannot report on
gives "NAME: WHY" instead (no such service in DIR; not supervised: no runsv
is running for it; ...). A host that cannot be reached gives one fail line
per service, STAGE: NAME: ERROR.`
}

// svGoal is what makes a verb's record okay.
type svGoal int

const (
	goalStatus svGoal = iota // runs, or is down on purpose
	goalRun                  // runs after the action
	goalDown                 // is down after the action
	goalSent                 // sv succeeded
	goalExit                 // sv succeeded; runsv may have exited
)

// svVerbs are sv's commands and what each must achieve, in the order the
// usage error lists them.
var svVerbs = []struct {
	name string
	goal svGoal
}{
	{"status", goalStatus},
	{"up", goalRun}, {"down", goalDown}, {"once", goalRun},
	{"pause", goalSent}, {"cont", goalSent}, {"hup", goalSent}, {"alarm", goalSent},
	{"interrupt", goalSent}, {"quit", goalSent}, {"1", goalSent}, {"2", goalSent},
	{"term", goalSent}, {"kill", goalSent}, {"exit", goalExit},
	{"start", goalRun}, {"stop", goalDown}, {"reload", goalSent}, {"restart", goalRun},
	{"shutdown", goalExit}, {"force-stop", goalDown}, {"force-reload", goalRun},
	{"force-restart", goalRun}, {"force-shutdown", goalExit},
	{"try-restart", goalSent}, {"check", goalSent},
}

// DefaultSVWait is how long sv waits for an action to take effect unless
// -w says otherwise: sv's own default.
const DefaultSVWait = 7

// defaultSVDir is where sv looks for services when SVDIR is unset (Debian's
// and runit's default).
const defaultSVDir = "/etc/service"

func svVerbNames() []string {
	n := make([]string, len(svVerbs))
	for i, v := range svVerbs {
		n[i] = v.name
	}
	return n
}

func svGoalOf(verb string) (svGoal, bool) {
	for _, v := range svVerbs {
		if v.name == verb {
			return v.goal, true
		}
	}
	return 0, false
}

const runitSynopsis = "usage: dt PATTERN runit [--svdir DIR] [-w SECONDS] VERB SERVICE..."

// Prepare implements Module.
func (m Runit) Prepare(args []string, opts Options) (Job, error) {
	j := runitJob{wait: DefaultSVWait}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		name, val, hasVal := strings.Cut(a, "=")
		switch name {
		case "--svdir", "-w", "--wait":
		default:
			return nil, usagef(m.Name(), "unknown option %q; %s", a, runitSynopsis)
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, usagef(m.Name(), "%s needs a value; %s", name, runitSynopsis)
			}
			i++
			val = args[i]
		}
		if name == "--svdir" {
			if val == "" {
				return nil, usagef(m.Name(), "--svdir needs a directory")
			}
			j.svdir = val
			continue
		}
		w, err := strconv.Atoi(strings.TrimSuffix(val, "s"))
		if err != nil || w < 1 || w > 3600 {
			return nil, usagef(m.Name(), "%s %q: want whole seconds from 1 to 3600", name, val)
		}
		j.wait = w
	}
	if i >= len(args) {
		return nil, usagef(m.Name(), "missing verb; %s; verbs: %s", runitSynopsis, strings.Join(svVerbNames(), ", "))
	}
	j.verb = args[i]
	goal, ok := svGoalOf(j.verb)
	if !ok {
		return nil, usagef(m.Name(), "unknown verb %q; verbs: %s", j.verb, strings.Join(svVerbNames(), ", "))
	}
	j.goal = goal
	j.services = args[i+1:]
	if len(j.services) > 0 && j.services[0] == "--" {
		j.services = j.services[1:] // "VERB -- SERVICE...", as with other commands
	}
	if len(j.services) == 0 {
		return nil, usagef(m.Name(), "missing service; %s", runitSynopsis)
	}
	for _, s := range j.services {
		if s == "" {
			return nil, usagef(m.Name(), "empty service name")
		}
		if strings.ContainsRune(s, 0) {
			return nil, usagef(m.Name(), "service name %q contains a NUL byte", s)
		}
	}
	j.nonce = newNonce()
	return j, nil
}

func newNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "dt-runit-" + hex.EncodeToString(b)
}

// runitJob runs one sv verb on a list of services.
type runitJob struct {
	verb     string
	goal     svGoal
	services []string
	svdir    string // "" for the remote $SVDIR or the default
	wait     int    // seconds, sv -w
	nonce    string // marks the sections of the remote script's output
	// render formats a parsed state after the name; nil means
	// SVStatus.Fields (svc passes its normalized form).
	render func(st SVStatus) string
}

func (j runitJob) describe(st SVStatus) string {
	if j.render != nil {
		return j.render(st)
	}
	return st.Fields()
}

// script is the remote command: one sh script for every service, so the
// whole job is one session on the host's one connection. Its output is
// sections, each introduced by a line "NONCE KIND [I [RC]]":
//
//	NONCE nosv                     sv is not installed (nothing else follows)
//	NONCE dir                      then the service directory
//	NONCE nodir                    the service directory does not exist
//	NONCE act I                    then sv VERB's output for service I
//	NONCE rc I RC                  its exit status
//	NONCE st I                     then sv status's output for service I
//	NONCE src I RC                 its exit status
//
// The nonce is random, so no service name or sv output can forge a header.
func (j runitJob) script() string {
	n := j.nonce
	var b strings.Builder
	fmt.Fprintf(&b, "command -v sv >/dev/null 2>&1 || { echo %s nosv; exit 0; }\n", n)
	if j.svdir != "" {
		fmt.Fprintf(&b, "SVDIR=%s\n", Quote(j.svdir))
	} else {
		fmt.Fprintf(&b, "SVDIR=${SVDIR:-%s}\n", defaultSVDir)
	}
	b.WriteString("export SVDIR\n")
	fmt.Fprintf(&b, "printf '%%s dir\\n%%s\\n' %s \"$SVDIR\"\n", n)
	fmt.Fprintf(&b, "[ -d \"$SVDIR\" ] || echo %s nodir\n", n)
	for i, s := range j.services {
		q := Quote(s)
		if j.goal != goalStatus {
			fmt.Fprintf(&b, "echo %s act %d; sv -w %d %s %s 2>&1; printf '\\n%s rc %d %%d\\n' \"$?\"\n", n, i, j.wait, j.verb, q, n, i)
		}
		fmt.Fprintf(&b, "echo %s st %d; sv status %s 2>&1; printf '\\n%s src %d %%d\\n' \"$?\"\n", n, i, q, n, i)
	}
	return b.String()
}

// command is the remote command line: the script run by sh whatever the
// login shell is.
func (j runitJob) command() string { return "sh -c " + Quote(j.script()) }

// svReply is what the script reported for one service.
type svReply struct {
	act, status     string // sv's output, trailing newlines removed
	actRC, statusRC int
	hasAct, done    bool // the act section finished; the status section finished
}

// svOutput is the parsed output of the script.
type svOutput struct {
	noSV    bool
	dir     string
	hasDir  bool
	noDir   bool // the service directory does not exist
	replies []svReply
}

// parseOutput splits the script's output into its sections. Output cut
// short (a timeout) leaves the missing services not done.
func (j runitJob) parseOutput(out string) svOutput {
	o := svOutput{replies: make([]svReply, len(j.services))}
	prefix := j.nonce + " "
	var cur *string // the section being collected
	var buf strings.Builder
	flush := func() {
		if cur != nil {
			*cur = strings.TrimRight(buf.String(), "\n")
		}
		buf.Reset()
		cur = nil
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		head, ok := strings.CutPrefix(line, prefix)
		if !ok {
			if cur != nil {
				buf.WriteString(line)
			}
			continue
		}
		flush()
		f := strings.Fields(head)
		if len(f) == 0 {
			continue
		}
		idx := -1
		if len(f) >= 2 {
			if k, err := strconv.Atoi(f[1]); err == nil && k >= 0 && k < len(o.replies) {
				idx = k
			}
		}
		rc := -1
		if len(f) >= 3 {
			if k, err := strconv.Atoi(f[2]); err == nil {
				rc = k
			}
		}
		switch {
		case f[0] == "nosv":
			o.noSV = true
		case f[0] == "nodir":
			o.noDir = true
		case f[0] == "dir":
			o.hasDir = true
			cur = &o.dir
		case idx < 0:
		case f[0] == "act":
			cur = &o.replies[idx].act
		case f[0] == "rc":
			o.replies[idx].actRC, o.replies[idx].hasAct = rc, true
		case f[0] == "st":
			cur = &o.replies[idx].status
		case f[0] == "src":
			o.replies[idx].statusRC, o.replies[idx].done = rc, true
		}
	}
	flush()
	return o
}

// isSVPath reports whether sv takes service as a path rather than a name in
// the service directory.
func isSVPath(service string) bool {
	return strings.HasPrefix(service, "/") || strings.HasPrefix(service, ".") || strings.HasSuffix(service, "/")
}

// verdict is one service's record, before it is tied to a host.
type verdict struct {
	okay bool
	msg  string
	exit int
}

// judge decides one service's record from what the script reported.
func (j runitJob) judge(service string, o svOutput, r svReply) verdict {
	st, err := parseSVStatusOf(r.status, service)
	if err != nil {
		if e, ok := err.(*SVError); ok {
			return j.judgeProblem(service, o, r, e)
		}
		return verdict{msg: service + ": unexpected output from sv status: " + r.status, exit: r.statusRC}
	}
	v := verdict{msg: service + " " + j.describe(st), exit: r.actRC}
	if j.goal == goalStatus {
		v.exit = r.statusRC
		v.okay = st.State == "run" || st.State == "down" && st.Normally == "down" && st.Want != "up"
		return v
	}
	switch j.goal {
	case goalRun:
		v.okay = r.actRC == 0 && st.State == "run"
	case goalDown:
		v.okay = r.actRC == 0 && st.State == "down"
	default:
		v.okay = r.actRC == 0
	}
	if !v.okay {
		v.msg += "; " + j.actionNote(r, st)
	}
	return v
}

// judgeProblem decides the record of a service sv could not report on.
func (j runitJob) judgeProblem(service string, o svOutput, r svReply, e *SVError) verdict {
	v := verdict{exit: r.statusRC}
	switch e.Problem {
	case SVNoService:
		switch {
		case isSVPath(service):
			v.msg = service + ": no such service directory"
		case o.noDir:
			v.msg = service + ": service directory " + o.dir + " does not exist"
		default:
			v.msg = service + ": no such service in " + o.dir
		}
	case SVNotSupervised:
		if j.goal == goalExit && r.hasAct && r.actRC == 0 {
			// What exit asks for: runsv stopped the service and exited.
			return verdict{okay: true, msg: service + ": runsv exited", exit: 0}
		}
		v.msg = service + ": not supervised: no runsv is running for it (sv: " + e.Msg + ")"
	case SVDenied:
		v.msg = service + ": permission denied (sv: " + e.Msg + "); runsv runs as another user: log in as that user or use --sudo"
	default:
		v.msg = service + ": sv: " + e.Msg
	}
	return v
}

// actionNote says why an action did not have the effect asked for.
func (j runitJob) actionNote(r svReply, st SVStatus) string {
	first, _, _ := strings.Cut(r.act, "\n")
	switch {
	case !r.hasAct:
		return j.verb + ": no answer from sv"
	case strings.HasPrefix(first, "timeout: "):
		return fmt.Sprintf("%s timed out after %ds", j.verb, j.wait)
	case strings.HasPrefix(first, "kill: "):
		return fmt.Sprintf("%s timed out after %ds, sent KILL", j.verb, j.wait)
	case r.actRC != 0:
		return fmt.Sprintf("sv %s exit %d: %s", j.verb, r.actRC, first)
	case j.goal == goalRun:
		return "not running after " + j.verb
	default:
		return "not down after " + j.verb
	}
}

// Run implements Job: one session runs sv for every service; a record
// follows for each service, in the order given.
func (j runitJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	res, err := h.Run(ctx, runner.Command{Cmd: j.command()})
	o := j.parseOutput(string(res.Output))
	if err == nil && res.Signal == "" && !o.noSV && !o.hasDir {
		err = &runner.Error{Stage: output.StageModule, Err: fmt.Errorf("unexpected output: %q", res.Output)}
		if res.ExitCode != 0 {
			err = &runner.Error{Stage: output.StageExit, Err: fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Output)))}
		}
	}
	for i, s := range j.services {
		r := o.replies[i]
		switch {
		case o.noSV:
			rec := h.Record(output.Fail, output.StageModule, []byte(s+": sv not found on the host (is runit installed?)"), -1)
			emit(rec)
		case !r.done:
			e := err
			if e == nil {
				e = &runner.Error{Stage: output.StageModule, Err: fmt.Errorf("no answer from sv (%s)", describeEnd(res))}
			}
			rec := h.Fail(e)
			rec.Message = []byte(s + ": " + string(rec.Message))
			emit(rec)
		default:
			v := j.judge(s, o, r)
			if v.okay {
				rec := h.Okay([]byte(v.msg))
				emit(rec)
			} else {
				emit(h.Record(output.Fail, output.StageModule, []byte(v.msg), v.exit))
			}
		}
	}
}

func describeEnd(res runner.Result) string {
	if res.Signal != "" {
		return "killed by signal " + res.Signal
	}
	return fmt.Sprintf("exit %d", res.ExitCode)
}
