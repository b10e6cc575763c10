package modules

import (
	"context"
	"strings"
	"time"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// rollbackTimeout bounds a rollback. It runs even when the run was
// interrupted or the host's --timeout passed: a host is not left half
// deployed because the person pressed Ctrl-C.
const rollbackTimeout = time.Minute

// rollbackContext is ctx without its cancellation, for rollbackTimeout.
func rollbackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
}

// undo is deploy's answer to a failed --gate: the journal of the units it
// started, then the rollback; the lines are the okay ones with both added,
// which Execute then marks as failures of stage gate.
func (d *deployRun) undo(ctx context.Context, _ error, _ []output.Record) []output.Record {
	jctx, cancel := rollbackContext(ctx)
	d.journals(jctx, false)
	cancel()
	d.rollback(ctx, nil)
	recs := make([]output.Record, 0, len(d.units))
	for _, u := range d.units {
		recs = append(recs, d.h.Okay(u.message()))
	}
	return recs
}

// rollback puts the host back as it was before the deploy, and says so in
// every unit's rollback text: units deploy started that did not run
// before are stopped, those it enabled disabled (with the new files, whose
// [Install] made the links), the previous files renamed back (new ones
// removed), the manager reloaded, and the units that ran before and that
// deploy restarted (or stopped for their socket) restarted on their old
// files, sockets first. failed names the units whose failure caused it.
func (d *deployRun) rollback(ctx context.Context, failed []string) {
	ctx, cancel := rollbackContext(ctx)
	defer cancel()
	failures := map[string]string{}

	var steps []unitStep
	stop := func(u *unitRun) {
		if (u.started || u.changed) && !running(u.before) && !template(u.Name) {
			steps = append(steps, unitStep{Verb: "stop", Unit: u.Name, Cmd: d.j.sc.rawSystemctl([]string{"stop"}, u.Name)})
		}
	}
	for _, u := range d.units { // sockets first: nothing activates a service stopped after them
		if unitType(u.Name) == "socket" {
			stop(u)
		}
	}
	for _, u := range d.units {
		if unitType(u.Name) != "socket" {
			stop(u)
		}
	}
	reload := false
	for _, u := range d.units {
		if u.enabled { // the links only: one reload below
			steps = append(steps, unitStep{Verb: "disable", Unit: u.Name, Cmd: d.j.sc.rawSystemctl([]string{"disable", "--no-reload"}, u.Name)})
			reload = true
		}
	}
	restore := restoreSteps(d.files)
	steps = append(steps, restore...)
	if reload || len(restore) > 0 {
		steps = append(steps, unitStep{Verb: "daemon-reload", Cmd: d.j.sc.rawSystemctl([]string{"daemon-reload"})})
	}
	for _, u := range d.units { // a removed unit that failed is not left listed as failed
		if f := u.unitFile(); f != nil && f.pushed && f.prev == "" && !template(u.Name) {
			steps = append(steps, unitStep{Verb: "reset-failed", Unit: u.Name, Cmd: d.j.sc.rawSystemctl([]string{"reset-failed"}, u.Name) + " 2>/dev/null || true"})
		}
	}
	if len(steps) > 0 {
		res, err := d.h.Run(ctx, runner.Command{Cmd: d.j.sc.wrap(stepScript(d.token, steps))})
		d.stepFailures(res, err, steps, failures)
		if err != nil {
			d.rolledBack(failed, failures, false)
			return
		}
	}

	// The failure's states stay on the lines; the rollback's go after.
	failState := map[string]unitState{}
	for _, u := range d.units {
		failState[u.Name] = u.state
	}
	var again []string
	for _, u := range d.units {
		if (u.started || u.stopped) && running(u.before) {
			again = append(again, u.Name)
		}
	}
	for n, st := range d.extra {
		if running(st) {
			again = append(again, n)
		}
	}
	if len(again) > 0 {
		if rec, ok := d.show(ctx); ok {
			var order [][2]string
			if err := d.showExtra(ctx, again); err == nil {
				order = orderRestarts(again, d.states())
			}
			steps = steps[:0]
			for _, o := range order {
				steps = append(steps, unitStep{Verb: o[0], Unit: o[1], Cmd: d.j.sc.rawSystemctl([]string{o[0]}, o[1])})
			}
			if len(steps) > 0 {
				res, err := d.h.Run(ctx, runner.Command{Cmd: d.j.sc.wrap(stepScript(d.token, steps))})
				d.stepFailures(res, err, steps, failures)
			}
		} else {
			failures[""] = string(rec.Message)
		}
	}
	_, shown := d.show(ctx)
	d.rolledBack(failed, failures, shown)
	for _, u := range d.units {
		u.state = failState[u.Name]
	}
}

// rolledBack writes each unit's rollback text: what was restored, why
// (when another unit failed), what went wrong, and, when shown, the
// state it is in now.
func (d *deployRun) rolledBack(failed []string, failures map[string]string, shown bool) {
	bad := map[string]bool{}
	for _, n := range failed {
		bad[n] = true
	}
	for _, u := range d.units {
		var pushed, previous, newUnit bool
		for _, f := range u.files {
			if f.pushed {
				pushed = true
				previous = previous || f.prev != ""
				newUnit = newUnit || !f.DropIn && f.prev == ""
			}
		}
		var text string
		switch {
		case newUnit:
			text = "rolled back: the new " + u.Name + " stopped and removed"
		case previous:
			text = "rolled back to previous " + u.Name
		case pushed:
			text = "rolled back: new drop-ins removed"
		case u.started || u.stopped || u.enabled:
			text = "rolled back"
		default:
			text = "host rolled back"
		}
		if len(failed) > 0 && !bad[u.Name] {
			text += " (" + strings.Join(failed, ", ") + " failed)"
		}
		if shown && !newUnit && !template(u.Name) && u.state != nil {
			text += ": " + stateText(u.Name, u.state)
		}
		if f := failures[u.Name]; f != "" {
			text += "; rollback failed: " + f
		}
		if f := failures[""]; f != "" {
			text += "; rollback: " + f
		}
		u.rollback = text
	}
}
