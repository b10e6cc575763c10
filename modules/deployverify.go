package modules

import (
	"context"
	"fmt"
	"strings"

	"github.com/dtools/dt/runner"
)

// verify runs systemd-analyze verify on every changed unit, in one remote
// command: a unit's problem says why it did not verify, its detail has
// what systemd-analyze said. Its default mode fails a unit for errors (a
// missing executable, a setting systemd refuses), not for warnings (a key
// it ignores), which stay on the unit's okay line; --recursive-errors
// would fail warnings too, and older systemd lacks it. --man=no keeps
// Documentation=man:... from failing hosts without man pages.
func (d *deployRun) verify(ctx context.Context) error {
	analyze := "systemd-analyze"
	if d.j.sc.user {
		analyze += " --user"
	}
	analyze += " --man=no verify -- "
	var steps []unitStep
	var units []*unitRun
	for _, u := range d.units {
		if !u.changed {
			continue
		}
		target := u.Name
		if f := u.unitFile(); f != nil {
			target = f.spec.target
		}
		steps = append(steps, unitStep{Verb: "verify", Unit: u.Name, Cmd: analyze + Quote(target)})
		units = append(units, u)
	}
	res, err := d.h.Run(ctx, runner.Command{Cmd: d.j.sc.wrap(stepScript(d.token, steps))})
	if err != nil {
		return err
	}
	results := parseSteps(res.Output, d.token)
	for i, u := range units {
		if i >= len(results) || results[i].Unit != u.Name {
			u.problems = append(u.problems, fmt.Sprintf("systemd-analyze verify did not finish (exit %d)", res.ExitCode))
			u.detail = res.Output
			continue
		}
		r := results[i]
		if r.Exit != 0 {
			u.problems = append(u.problems, fmt.Sprintf("systemd-analyze verify failed (exit %d)", r.Exit))
			u.detail = r.Output
			if r.Exit == 127 {
				u.detail = append(u.detail, "\n(no systemd-analyze on this host)"...)
			}
			continue
		}
		u.detail = ownWarnings(r.Output, u)
	}
	return nil
}

// ownWarnings keeps the lines of systemd-analyze's output that are about
// the unit or its files (a unit that verifies may still have a key systemd
// ignores: "Unknown key 'Foo' in section [Service], ignoring.").
func ownWarnings(out []byte, u *unitRun) []byte {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		mine := strings.HasPrefix(l, u.Name+":")
		for _, f := range u.files {
			mine = mine || strings.Contains(l, f.spec.target+":")
		}
		if mine {
			keep = append(keep, l)
		}
	}
	return []byte(strings.Join(keep, "\n"))
}

// restoreUnverified puts the files back after a unit did not verify:
// nothing was reloaded, so nothing else is to be done.
func (d *deployRun) restoreUnverified(ctx context.Context) {
	var bad []string
	for _, u := range d.units {
		if len(u.problems) > 0 {
			bad = append(bad, u.Name)
		}
	}
	failures := d.restoreFiles(ctx)
	for _, u := range d.units {
		switch {
		case len(u.problems) == 0:
			u.problems = []string{"not deployed: " + strings.Join(bad, ", ") + " did not verify"}
			if u.changed {
				u.rollback = restoredText(u) + ", nothing restarted"
			}
		default:
			u.rollback = restoredText(u) + ", nothing restarted"
		}
		if f := failures[u.Name]; f != "" {
			u.rollback += "; restoring failed: " + f
		}
	}
}

// restoredText says what restoring a changed unit's files did.
func restoredText(u *unitRun) string {
	for _, f := range u.files {
		if f.pushed && f.prev != "" {
			return "previous file restored"
		}
	}
	return "new file removed"
}
