package modules

import (
	"bufio"
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

// Svc is one view over systemd units and runit services: it finds out per
// host which manager runs NAME and prints the same normalized line for
// both.
type Svc struct{}

// Name implements Module.
func (Svc) Name() string { return "svc" }

// Summary implements Module.
func (Svc) Summary() string {
	return "status/start/stop/restart a service whether systemd or runit runs it, one normalized line"
}

// Usage implements Module.
func (Svc) Usage() string {
	return `dt PATTERN svc [--settle D] status|start|stop|restart NAME...

Finds out on every host whether NAME is a systemd unit or a runit service
(in $SVDIR, else /etc/service) and prints the same normalized line for
both, so a mixed fleet reads alike:

  $ dt tag:linux svc status app
  okay::dt:svc:web1:app state=running pid=1234 uptime=3h2m1s restarts=0 manager=systemd
  okay::dt:svc:old1:app state=running pid=7536 uptime=6s restarts=- manager=runit
  fail::dt:svc:web2:app state=failed pid=- uptime=- restarts=4 manager=systemd
  fail::dt:svc:db1:app state=unknown manager=none; no systemd unit or runit service named app

The fields after NAME are always state, pid, uptime, restarts and manager,
in that order, "-" when the manager does not know (runit counts no
restarts). state is running, starting, stopping, stopped or failed.

status is okay when the service runs. start, restart and stop act through
the service's own manager and verify the result exactly as the systemctl
and runit modules do (systemd: --settle, default 2s, journal lines on
failure; runit: sv -w 7).`
}

var svcVerbs = map[string]bool{"status": true, "start": true, "stop": true, "restart": true}

// Prepare implements Module.
func (m Svc) Prepare(args []string, _ Options) (Job, error) {
	fs := flag.NewFlagSet(m.Name(), flag.ContinueOnError)
	var j svcJob
	fs.DurationVar(&j.settle, "settle", defaultSettle, "")
	rest, err := parseArgs(m.Name(), fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		return nil, usagef(m.Name(), "missing verb; verbs: %s", strings.Join(sortedKeys(svcVerbs), ", "))
	}
	j.verb, j.names = rest[0], rest[1:]
	if !svcVerbs[j.verb] {
		return nil, usagef(m.Name(), "unknown verb %q; verbs: %s", j.verb, strings.Join(sortedKeys(svcVerbs), ", "))
	}
	if len(j.names) == 0 {
		return nil, usagef(m.Name(), "missing service name; usage: dt PATTERN svc %s NAME...", j.verb)
	}
	for _, n := range j.names {
		if n == "" || strings.ContainsAny(n, "/\n\x00") || n == "." || n == ".." {
			return nil, usagef(m.Name(), "bad service name %q: give a plain name, no path", n)
		}
	}
	if j.settle < 0 {
		return nil, usagef(m.Name(), "--settle must not be negative")
	}
	return j, nil
}

type svcJob struct {
	verb   string
	names  []string
	settle time.Duration
}

// detectCmd prints one word per name: systemd, runit or none. A unit
// counts when systemd is PID 1 and knows it; a runit service when it is a
// directory in $SVDIR (else /etc/service).
func detectCmd(names []string) string {
	return "for n in " + QuoteAll(names) + "; do " +
		`if [ -d /run/systemd/system ] && [ "$(systemctl show -p LoadState --value -- "$n" 2>/dev/null)" = loaded ]; then echo systemd; ` +
		`elif [ -d "${SVDIR:-/etc/service}/$n" ]; then echo runit; ` +
		`else echo none; fi; done`
}

func (j svcJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	res, err := h.Run(ctx, runner.Command{Cmd: detectCmd(j.names)})
	if err == nil && res.ExitCode != 0 {
		emit(h.Result(res, nil))
		return
	}
	if err != nil {
		emit(h.Result(res, err))
		return
	}
	var kinds []string
	sc := bufio.NewScanner(bytes.NewReader(res.Output))
	for sc.Scan() {
		kinds = append(kinds, strings.TrimSpace(sc.Text()))
	}
	if len(kinds) != len(j.names) {
		emit(h.Record(output.Fail, output.StageModule, append([]byte("unexpected answer while looking for the service manager: "), res.Output...), -1))
		return
	}
	for i, name := range j.names {
		switch kinds[i] {
		case "systemd":
			j.systemd(ctx, h, name, emit)
		case "runit":
			j.runit(ctx, h, name, emit)
		default:
			emit(h.Record(output.Fail, output.StageModule,
				[]byte(name+" state=unknown manager=none; no systemd unit or runit service named "+name), -1))
		}
	}
}

// systemd does the verb through the systemctl module's code, rendering the
// normalized line.
func (j svcJob) systemd(ctx context.Context, h *Host, name string, emit func(output.Record)) {
	sj := systemctlJob{verb: j.verb, units: []string{name}, settle: j.settle, lines: defaultFailureLines, render: normalizeUnit}
	if j.verb == "status" {
		sj.kind = verbQuery
	} else {
		sj.kind = verbAction
	}
	sj.Run(ctx, h, emit)
}

// normalizeUnit renders a systemd unit's state as svc's line.
func normalizeUnit(st unitState, typed string) string {
	if !st.exists() {
		return typed + " state=unknown manager=systemd; not found"
	}
	state := map[string]string{
		"active": "running", "reloading": "running", "activating": "starting",
		"deactivating": "stopping", "inactive": "stopped", "failed": "failed",
	}[st["ActiveState"]]
	if state == "" {
		state = st["ActiveState"]
	}
	pid := st["MainPID"]
	if pid == "" || pid == "0" {
		pid = "-"
	}
	uptime := "-"
	if d, ok := st.uptime(); ok {
		uptime = d.String()
	}
	restarts := st["NRestarts"]
	if restarts == "" {
		restarts = "-"
	}
	return fmt.Sprintf("%s state=%s pid=%s uptime=%s restarts=%s manager=systemd", typed, state, pid, uptime, restarts)
}

// runit does the verb through the runit module's code, rendering the
// normalized line.
func (j svcJob) runit(ctx context.Context, h *Host, name string, emit func(output.Record)) {
	goal, _ := svGoalOf(j.verb)
	rj := runitJob{verb: j.verb, goal: goal, services: []string{name}, wait: DefaultSVWait, nonce: newNonce(), render: normalizeSV}
	rj.Run(ctx, h, emit)
}

// normalizeSV renders a runit service's state as svc's fields.
func normalizeSV(st SVStatus) string {
	state := map[string]string{"run": "running", "down": "stopped", "finish": "stopping"}[st.State]
	if state == "" {
		state = st.State
	}
	pid := "-"
	if st.PID > 0 {
		pid = strconv.Itoa(st.PID)
	}
	return fmt.Sprintf("state=%s pid=%s uptime=%s restarts=- manager=runit", state, pid, st.Uptime)
}
