package modules

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dtools/dt/runner"
)

// toRestart lists the units to restart, in the units' order: --restart
// units, and the changed units of the types deploy restarts, except a
// service that something else activates and that did not run.
func (d *deployRun) toRestart() []string {
	if d.failed() {
		return nil
	}
	var names []string
	for _, u := range d.units {
		switch {
		case u.Restart:
		case !u.changed || !restartable(u.Name):
			continue
		case unitType(u.Name) == "service" && len(d.triggeredBy(u)) > 0 && !running(u.before):
			u.words = append(u.words, "not started ("+strings.Join(d.triggeredBy(u), ", ")+" starts it)")
			continue
		}
		names = append(names, u.Name)
	}
	return names
}

// triggeredBy lists the units that activate u: its TriggeredBy, and the
// units of the deploy whose Triggers name it (systemd fills in a service's
// TriggeredBy only once it has been started through them).
func (d *deployRun) triggeredBy(u *unitRun) []string {
	by := strings.Fields(u.state["TriggeredBy"])
	for _, v := range d.units {
		if v != u && slices.Contains(strings.Fields(v.state["Triggers"]), u.Name) && !slices.Contains(by, v.Name) {
			by = append(by, v.Name)
		}
	}
	return by
}

// running says whether a unit was up (or coming up) in state st.
func running(st unitState) bool {
	return st != nil && !st.stopped() && st.exists()
}

// unit returns the unit run named name, or nil.
func (d *deployRun) unit(name string) *unitRun {
	for _, u := range d.units {
		if u.Name == name {
			return u
		}
	}
	return nil
}

// states returns every known unit state by name: the units' and the extra
// services'.
func (d *deployRun) states() map[string]unitState {
	m := map[string]unitState{}
	for n, st := range d.extra {
		m[n] = st
	}
	for _, u := range d.units {
		if u.state != nil {
			m[u.Name] = u.state
		}
	}
	return m
}

// showExtra reads the state of the services the sockets to restart
// activate that are not among the units.
func (d *deployRun) showExtra(ctx context.Context, restart []string) error {
	var names []string
	for _, s := range restart {
		if unitType(s) != "socket" || d.unit(s) == nil {
			continue
		}
		for _, t := range strings.Fields(d.unit(s).state["Triggers"]) {
			if d.unit(t) == nil && unitType(t) == "service" {
				names = append(names, t)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	states, rec, ok := d.j.sc.showProps(ctx, d.h, deployProps, names...)
	if !ok {
		return recordError(rec)
	}
	for i, n := range names {
		d.extra[n] = states[i]
	}
	return nil
}

// restart runs the restarts in the order orderRestarts gives, in one
// remote command, and notes what happened to each unit.
func (d *deployRun) restart(ctx context.Context, names []string) error {
	if err := d.showExtra(ctx, names); err != nil {
		return err
	}
	order := orderRestarts(names, d.states())
	steps := make([]unitStep, len(order))
	for i, o := range order {
		steps[i] = unitStep{Verb: o[0], Unit: o[1], Cmd: d.j.sc.rawSystemctl([]string{o[0]}, o[1])}
	}
	res, err := d.h.Run(ctx, runner.Command{Cmd: d.j.sc.wrap(stepScript(d.token, steps))})
	if err != nil {
		return err
	}
	results := parseSteps(res.Output, d.token)
	for i, s := range steps {
		u := d.unit(s.Unit)
		var r stepResult
		if i < len(results) {
			r = results[i]
		} else {
			r = stepResult{Verb: s.Verb, Unit: s.Unit, Exit: -1, Output: []byte("did not run")}
		}
		if u == nil { // a socket's service outside the units: its sockets answer for it
			if r.Exit != 0 {
				for _, sock := range d.units {
					if unitType(sock.Name) == "socket" && strings.Contains(" "+sock.state["Triggers"]+" ", " "+s.Unit+" ") {
						sock.problems = append(sock.problems, stepProblem(r, d.h)+" ("+s.Unit+")")
					}
				}
			}
			continue
		}
		switch s.Verb {
		case "stop":
			u.stopped = true
		case "restart", "start":
			u.started, u.verb = true, s.Verb
			if running(u.before) {
				u.words = append(u.words, "restarted")
			} else {
				u.words = append(u.words, "started")
			}
		}
		if r.Exit != 0 {
			u.problems = append(u.problems, stepProblem(r, d.h))
		}
	}
	return nil
}

// stepProblem words a failed step, with a hint when systemd refused the
// login user.
func stepProblem(r stepResult, h *Host) string {
	p := fmt.Sprintf("%s: exit %d", r.Verb, r.Exit)
	if o := oneLine(r.Output); o != "" {
		p += ": " + o
	}
	if hint := h.SudoHint(r.Output); hint != "" {
		p += "; hint: " + hint
	} else if bytes.Contains(r.Output, []byte("Access denied")) || bytes.Contains(r.Output, []byte("Interactive authentication required")) {
		p += "; hint: the login user may not manage system units; log in as root or use --sudo"
	}
	return p
}

// settle waits --settle after the restarts and reads every unit's state,
// then judges the units as systemctl judges an action: a unit started must
// be active (a oneshot service may have finished with success) and must
// not have restarted or changed its main process within the window; a
// changed unit must have loaded.
func (d *deployRun) settle(ctx context.Context) error {
	var first map[string]unitState
	if d.j.sc.settle > 0 && d.anyStarted() {
		if rec, ok := d.show(ctx); !ok {
			return recordError(rec)
		}
		first = map[string]unitState{}
		for _, u := range d.units {
			first[u.Name] = u.state
		}
		select {
		case <-time.After(d.j.sc.settle):
		case <-ctx.Done():
			return &runner.Error{Stage: runner.Stage(context.Cause(ctx)), Err: context.Cause(ctx)}
		}
	}
	if rec, ok := d.show(ctx); !ok {
		return recordError(rec)
	}
	for _, u := range d.units {
		st := u.state
		if template(u.Name) {
			continue
		}
		if u.changed && st["LoadState"] != "loaded" {
			u.problems = append(u.problems, "not loaded: "+st["LoadState"])
			continue
		}
		if !u.started || len(u.problems) > 0 {
			continue
		}
		verb := "restart"
		if u.verb == "start" || !running(u.before) {
			verb = "start"
		}
		finished := st["Type"] == "oneshot" && st["ActiveState"] == "inactive" && st["Result"] == "success"
		switch {
		case !st.active() && !finished && first != nil:
			u.problems = append(u.problems, fmt.Sprintf("%s: not active after %s", verb, d.j.sc.settle))
		case !st.active() && !finished:
			u.problems = append(u.problems, verb+": not active")
		case first != nil && unitType(u.Name) == "service":
			f := first[u.Name]
			if n := st.restarts() - f.restarts(); n > 0 {
				u.problems = append(u.problems, fmt.Sprintf("%s: restarted %d time(s) within %s (crash loop?)", verb, n, d.j.sc.settle))
			} else if f["MainPID"] != st["MainPID"] && f["MainPID"] != "0" && st.active() {
				u.problems = append(u.problems, fmt.Sprintf("%s: main pid changed from %s to %s within %s", verb, f["MainPID"], st["MainPID"], d.j.sc.settle))
			}
		}
	}
	return nil
}
