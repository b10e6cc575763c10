package modules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// deployProps are the properties deploy reads: systemctl's, and what ties
// sockets, timers and paths to their services.
var deployProps = append(append([]string(nil), showProps...), "Triggers", "TriggeredBy", "Type", "NeedDaemonReload")

// unitRun is one unit of a deploy on one host.
type unitRun struct {
	deployUnit
	files    []*unitFile
	changed  bool      // a file of it was written
	before   unitState // before the deploy (nil for a template: never shown)
	state    unitState // the latest state read
	enabled  bool      // deploy enabled it
	started  bool      // a restart or start step ran on it
	verb     string    // that step's verb
	stopped  bool      // it was stopped for its socket
	words    []string  // what deploy did, for the line
	problems []string  // why it failed
	detail   []byte    // lines after the first: verify output, journal
	rollback string    // what the rollback did to it
}

// unitFile returns the unit's own file among the deployed ones (not a
// drop-in), or nil.
func (u *unitRun) unitFile() *unitFile {
	for _, f := range u.files {
		if !f.DropIn {
			return f
		}
	}
	return nil
}

// message is the unit's line: "UNIT WORDS: STATE[; PROBLEM...][;
// ROLLBACK][\nDETAIL]".
func (u *unitRun) message() []byte {
	var b strings.Builder
	b.WriteString(u.Name)
	if len(u.words) > 0 {
		b.WriteString(" " + strings.Join(u.words, ", "))
	}
	b.WriteString(": " + stateText(u.Name, u.state))
	for _, p := range u.problems {
		b.WriteString("; " + p)
	}
	if u.rollback != "" {
		b.WriteString("; " + u.rollback)
	}
	if d := bytes.TrimRight(u.detail, "\n"); len(d) > 0 {
		b.WriteString("\n")
		b.Write(d)
	}
	return []byte(b.String())
}

// stateText is a unit's state as systemctl's lines print it, without the
// name.
func stateText(name string, st unitState) string {
	switch {
	case template(name):
		return "template"
	case st == nil:
		return "state unknown"
	}
	return strings.TrimPrefix(st.summary(name), st.name(name)+" ")
}

// deployRun is a deploy on one host.
type deployRun struct {
	j       deployJob
	h       *Host
	files   []*unitFile
	units   []*unitRun
	since   int64  // remote clock before anything, for the journal
	token   string // frames the steps of remote scripts
	touched bool   // files were written, units enabled or restarted: a failure rolls back
	// extra are the states of services that a restarted socket activates
	// and that are not among the units.
	extra map[string]unitState
}

func newDeployRun(j deployJob, h *Host) *deployRun {
	d := &deployRun{j: j, h: h, token: "@@dt-" + randomHex(6), extra: map[string]unitState{}}
	dir := systemUnitDir
	if j.sc.user {
		dir = userUnitDir
	}
	for _, f := range j.files {
		d.files = append(d.files, &unitFile{
			deployFile: f,
			spec:       pushSpec{target: path.Join(dir, f.Rel), mode: unitFileMode},
			local:      j.cache.get(f.Local),
		})
	}
	for _, u := range j.units {
		ur := &unitRun{deployUnit: u}
		for _, i := range u.Files {
			ur.files = append(ur.files, d.files[i])
		}
		d.units = append(d.units, ur)
	}
	return d
}

// shownUnits are the units systemctl show is asked about: all but
// templates.
func (d *deployRun) shownUnits() []string {
	var names []string
	for _, u := range d.units {
		if !template(u.Name) {
			names = append(names, u.Name)
		}
	}
	return names
}

// show reads the units' states into state (and into before, the first
// time). When it fails, ok is false and the record says why, for the
// caller to emit or turn into an error.
func (d *deployRun) show(ctx context.Context) (output.Record, bool) {
	names := d.shownUnits()
	if len(names) == 0 {
		// Nothing to show (templates only): the clock, and the --user
		// preamble's check for the manager.
		res, err := d.h.Run(ctx, runner.Command{Cmd: d.j.sc.wrap("date +%s")})
		if r, failed := d.j.sc.remoteFailure(d.h, res, err); failed {
			return r, false
		}
		if d.since == 0 {
			d.since, _ = strconv.ParseInt(strings.TrimSpace(string(res.Output)), 10, 64)
		}
		return output.Record{}, true
	}
	states, rec, ok := d.j.sc.showProps(ctx, d.h, deployProps, names...)
	if !ok {
		return rec, false
	}
	k := 0
	for _, u := range d.units {
		if template(u.Name) {
			continue
		}
		u.state = states[k]
		if u.before == nil {
			u.before = states[k]
		}
		k++
	}
	if d.since == 0 {
		d.since, _ = strconv.ParseInt(states[0][keyEpoch], 10, 64)
	}
	return output.Record{}, true
}

// failAll emits rec's failure for every unit, as "UNIT: MESSAGE".
func (d *deployRun) failAll(rec output.Record, emit func(output.Record)) {
	for _, u := range d.units {
		emit(withUnit(rec, u.Name))
	}
}

// run does the deploy's five steps on the host.
func (d *deployRun) run(ctx context.Context, emit func(output.Record)) {
	// The state before anything: what ran, for the rollback; this also
	// checks --user's manager and --restart's units before any change.
	if rec, ok := d.show(ctx); !ok {
		d.failAll(rec, emit)
		return
	}
	for _, u := range d.units {
		if len(u.files) == 0 && !u.before.exists() {
			for _, v := range d.units {
				v.problems = []string{u.Name + " (--restart) not found; nothing deployed"}
				if v == u {
					v.problems = []string{"not found (--restart); nothing deployed"}
				}
			}
			d.emitAll(output.Fail, emit)
			return
		}
	}

	// 1. Push what differs, keeping the previous versions.
	if err := d.push(ctx); err != nil {
		d.fatal(ctx, err, emit)
		return
	}
	changed := false
	for _, u := range d.units {
		for _, f := range u.files {
			if !f.same {
				u.changed, changed = true, true
			}
		}
		if len(u.files) > 0 {
			if u.changed {
				u.words = append(u.words, "changed")
			} else {
				u.words = append(u.words, "unchanged")
			}
		}
		// The host has the files, but systemd runs the unit from older
		// ones: a deploy that lost its connection (or was killed) after
		// the push, or an edit by hand. Apply them as if just written.
		if !u.changed && len(u.files) > 0 && u.before["NeedDaemonReload"] == "yes" {
			u.changed, changed = true, true
			u.words = append(u.words, "not loaded before")
		}
	}

	// 2. Verify the changed units before anything live changes.
	if changed {
		if err := d.verify(ctx); err != nil {
			d.fatal(ctx, err, emit)
			return
		}
		if d.failed() {
			d.restoreUnverified(ctx)
			d.emitAll(output.Fail, emit)
			return
		}
	}

	// 3. Enable, reload.
	if changed {
		d.touched = true
	}
	if reloaded, err := d.reload(ctx, changed); err != nil {
		d.fatal(ctx, err, emit)
		return
	} else if reloaded {
		if rec, ok := d.show(ctx); !ok {
			d.fatal(ctx, recordError(rec), emit)
			return
		}
	}

	// 4. Restart what changed, sockets first.
	restart := d.toRestart()
	if len(restart) > 0 {
		d.touched = d.touched || changed
		if err := d.restart(ctx, restart); err != nil {
			d.fatal(ctx, err, emit)
			return
		}
	}

	// 5. Verify as systemctl does; on failure, journal and roll back.
	if len(restart) > 0 || changed {
		if err := d.settle(ctx); err != nil {
			d.fatal(ctx, err, emit)
			return
		}
	}
	if d.failed() {
		d.journals(ctx, true)
		if d.touched {
			d.rollback(ctx, d.failedNames())
		}
		d.emitAll(output.Fail, emit)
		return
	}
	if d.touched {
		d.h.OnGateFailure(d.undo)
	}
	d.h.OnDone(d.dropOlder)
	d.emitAll(output.Okay, emit)
}

// emitAll emits every unit's line with status; a failed host's units all
// fail.
func (d *deployRun) emitAll(status output.Status, emit func(output.Record)) {
	for _, u := range d.units {
		if status == output.Okay {
			emit(d.h.Okay(u.message()))
			continue
		}
		emit(d.h.Record(output.Fail, output.StageModule, u.message(), -1))
	}
}

// failed says whether any unit has a problem.
func (d *deployRun) failed() bool {
	for _, u := range d.units {
		if len(u.problems) > 0 {
			return true
		}
	}
	return false
}

// failedNames lists the units with problems, for the others' lines.
func (d *deployRun) failedNames() []string {
	var n []string
	for _, u := range d.units {
		if len(u.problems) > 0 {
			n = append(n, u.Name)
		}
	}
	return n
}

// fatal ends the deploy on an error of the host rather than of a unit (the
// connection was lost, the run interrupted or timed out, a file could not
// be written): every unit fails with it, after a rollback of whatever was
// changed.
func (d *deployRun) fatal(ctx context.Context, err error, emit func(output.Record)) {
	// A failure of the session, the run or the clock has its stage (the
	// line then starts with it, as systemctl's do); the module's own
	// (a file that cannot be written) has none.
	stage := output.StageModule
	var re *runner.Error
	var te *runner.TimeoutError
	if errors.As(err, &re) || errors.As(err, &te) || errors.Is(err, runner.ErrInterrupted) {
		stage = runner.Stage(err)
	}
	msg := err.Error()
	pushed := false
	for _, f := range d.files {
		pushed = pushed || f.pushed || f.kept || f.older != ""
	}
	if d.touched {
		d.rollback(ctx, nil)
	} else if pushed {
		failures := d.restoreFiles(ctx)
		for _, u := range d.units {
			if anyPushed(u.files) {
				u.rollback = restoredText(u) + ", nothing restarted"
			}
			if f := failures[u.Name]; f != "" {
				u.rollback += "; restoring failed: " + f
			}
		}
	}
	for _, u := range d.units {
		parts := []string{u.Name}
		if len(u.words) > 0 {
			parts[0] += " " + strings.Join(u.words, ", ")
		}
		line := parts[0] + ": " + msg
		if u.rollback != "" {
			line += "; " + u.rollback
		}
		emit(d.h.Record(output.Fail, stage, []byte(line), -1))
	}
}

// recordError turns a failed show's record back into an error.
func recordError(rec output.Record) error {
	if rec.Stage == output.StageModule || rec.Stage == output.StageExit || rec.Stage == "" {
		return errors.New(string(rec.Message))
	}
	return &runner.Error{Stage: rec.Stage, Err: errors.New(strings.TrimPrefix(string(rec.Message), rec.Stage+": "))}
}

// push compares the files with the host's and writes those that differ.
func (d *deployRun) push(ctx context.Context) error {
	c, err := openSFTP(ctx, d.h, d.j.sudo)
	if err != nil {
		return err
	}
	defer c.Close()
	if d.j.sc.user {
		if err := c.MkdirAll(userUnitDir); err != nil {
			return fmt.Errorf("~/%s: cannot create the directory: %s", userUnitDir, errText(err))
		}
	}
	specs := make([]pushSpec, len(d.files))
	locals := make([]*localFile, len(d.files))
	for i, f := range d.files {
		specs[i], locals[i] = f.spec, f.local
	}
	same, err := c.sameFiles(ctx, specs, locals)
	if err != nil {
		return err
	}
	for i, f := range d.files {
		f.spec.existing, f.same = specs[i].existing, same[i]
		if err := f.checkReplaceable(); err != nil {
			return err
		}
	}
	if err := c.pushUnitFiles(ctx, d.files); err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return &runner.Error{Stage: runner.Stage(cause), Err: cause}
		}
		return err
	}
	return nil
}

// restoreFiles puts back every file written, and returns the failures by
// unit.
func (d *deployRun) restoreFiles(ctx context.Context) map[string]string {
	ctx, cancel := rollbackContext(ctx)
	defer cancel()
	failures := map[string]string{}
	steps := restoreSteps(d.files)
	if len(steps) == 0 {
		return failures
	}
	res, err := d.h.Run(ctx, runner.Command{Cmd: d.j.sc.wrap(stepScript(d.token, steps))})
	d.stepFailures(res, err, steps, failures)
	return failures
}

// stepFailures records failed steps (by the unit of their file, for
// restore steps) in failures.
func (d *deployRun) stepFailures(res runner.Result, err error, steps []unitStep, failures map[string]string) {
	byRel := map[string]string{}
	for _, f := range d.files {
		byRel[f.Rel] = f.Unit
	}
	unitOf := func(s string) string {
		if u, ok := byRel[s]; ok {
			return u
		}
		return s
	}
	if err != nil {
		for _, s := range steps {
			failures[unitOf(s.Unit)] = err.Error()
		}
		return
	}
	results := parseSteps(res.Output, d.token)
	for i, s := range steps {
		if i >= len(results) {
			failures[unitOf(s.Unit)] = s.Verb + ": did not run"
			continue
		}
		if r := results[i]; r.Exit != 0 {
			failures[unitOf(s.Unit)] = fmt.Sprintf("%s: exit %d: %s", r.Verb, r.Exit, oneLine(r.Output))
		}
	}
}

// reload enables the deployed unit files that are disabled (unless
// --no-enable) and reloads the manager once, in one remote command: each
// "enable --no-reload" only makes the links (systemctl enable would
// reload the manager for each), then daemon-reload. A changed file is
// asked "systemctl is-enabled" there, since the state read before it
// changed is stale; an unchanged one is enabled when the first show said
// it is disabled. It reports whether the manager was reloaded. A failed
// enable is its unit's problem, a failed reload every changed unit's.
func (d *deployRun) reload(ctx context.Context, changed bool) (bool, error) {
	var steps []unitStep
	var cands []*unitRun
	if !d.j.noEnable && !d.failed() {
		for _, u := range d.units {
			if u.unitFile() == nil || template(u.Name) || !u.changed && u.state["UnitFileState"] != "disabled" {
				continue
			}
			enable := d.j.sc.rawSystemctl([]string{"enable", "--no-reload"}, u.Name) + " && echo " + Quote(d.token+"-enabled")
			cmd := `[ "$(` + d.j.sc.rawSystemctl([]string{"is-enabled"}, u.Name) + ` 2>/dev/null)" != disabled ] || { ` + enable + "; }"
			steps = append(steps, unitStep{Verb: "enable", Unit: u.Name, Cmd: cmd})
			cands = append(cands, u)
		}
	}
	if len(steps) == 0 && !changed {
		return false, nil
	}
	if len(cands) > 0 {
		d.touched = true
	}
	steps = append(steps, unitStep{Verb: "daemon-reload", Cmd: d.j.sc.rawSystemctl([]string{"daemon-reload"})})
	res, err := d.h.Run(ctx, runner.Command{Cmd: d.j.sc.wrap(stepScript(d.token, steps))})
	if err != nil {
		return false, err
	}
	results := parseSteps(res.Output, d.token)
	for i, u := range cands {
		switch {
		case i >= len(results):
			u.problems = append(u.problems, "enable: did not run")
		case results[i].Exit != 0:
			u.problems = append(u.problems, stepProblem(results[i], d.h))
		case bytes.Contains(results[i].Output, []byte(d.token+"-enabled")):
			u.enabled = true
			u.words = append(u.words, "enabled")
		}
	}
	if len(results) < len(steps) || results[len(steps)-1].Exit != 0 {
		why := "daemon-reload: did not run"
		if len(results) == len(steps) {
			why = stepProblem(results[len(steps)-1], d.h)
		}
		for _, u := range d.units {
			if u.changed || u.enabled {
				u.problems = append(u.problems, why)
			}
		}
	}
	return true, nil
}

// anyPushed says whether any of files was written.
func anyPushed(files []*unitFile) bool {
	for _, f := range files {
		if f.pushed {
			return true
		}
	}
	return false
}

// anyStarted says whether a unit was restarted or started.
func (d *deployRun) anyStarted() bool {
	for _, u := range d.units {
		if u.started {
			return true
		}
	}
	return false
}

// journals reads the journal of the units that were started, since the
// deploy began, into their detail: all of them (a gate failed), or only
// those with problems.
func (d *deployRun) journals(ctx context.Context, onlyFailed bool) {
	if d.j.sc.lines == 0 {
		return
	}
	for _, u := range d.units {
		if !u.started || onlyFailed && len(u.problems) == 0 {
			continue
		}
		wait := d.j.sc.settle == 0 && onlyFailed
		if lines := d.j.sc.failureJournal(ctx, d.h, u.Name, d.since, wait); len(lines) > 0 {
			u.detail = append(append(bytes.TrimRight(u.detail, "\n"), '\n'), lines...)
			u.detail = bytes.TrimLeft(u.detail, "\n")
		}
	}
}
