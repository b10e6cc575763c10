package modules

import (
	"strconv"
	"strings"
)

// unitStep is one command of a step script: a systemctl verb on a unit
// ("restart app.service"), or a check ("verify app.service").
type unitStep struct {
	Verb string
	Unit string
	Cmd  string // the shell command; its output and exit status are the step's
}

// stepResult is what one step printed and its exit status.
type stepResult struct {
	Verb, Unit string
	Output     []byte
	Exit       int
}

// stepScript runs steps one after the other in one remote command, each
// framed by lines starting with token so that parseSteps can tell their
// outputs apart: "TOKEN step VERB UNIT", the step's output (stderr
// joined), "TOKEN rc N". A failing step does not stop the ones after it.
func stepScript(token string, steps []unitStep) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString("echo " + Quote(token+" step "+s.Verb+" "+s.Unit) + "; ")
		b.WriteString("( " + s.Cmd + " ) 2>&1 </dev/null; ")
		b.WriteString("echo " + Quote(token+" rc ") + "$?; ")
	}
	b.WriteString("true")
	return b.String()
}

// parseSteps reads stepScript's output back into one result per step that
// ran to its end, in order.
func parseSteps(out []byte, token string) []stepResult {
	var res []stepResult
	var cur *stepResult
	var body []string
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, token+" ")
		if !ok {
			if cur != nil {
				body = append(body, line)
			}
			continue
		}
		switch {
		case strings.HasPrefix(rest, "step "):
			f := strings.SplitN(strings.TrimPrefix(rest, "step "), " ", 2)
			cur = &stepResult{Verb: f[0]}
			if len(f) == 2 {
				cur.Unit = f[1]
			}
			body = nil
		case strings.HasPrefix(rest, "rc ") && cur != nil:
			n, err := strconv.Atoi(strings.TrimPrefix(rest, "rc "))
			if err != nil {
				n = -1
			}
			cur.Exit = n
			cur.Output = []byte(strings.TrimRight(strings.Join(body, "\n"), "\n"))
			res = append(res, *cur)
			cur = nil
		}
	}
	return res
}

// orderRestarts puts the units to restart in the order systemd needs: a
// socket's service is stopped before the socket restarts (systemd refuses
// to start a socket whose service still runs: "Socket service app.service
// already active, refusing"), sockets restart before services, services
// stopped for their socket start again after it, and the other units
// (timers, paths...) come last. states holds every unit's state, the
// sockets' services too; a socket's services are its Triggers.
func orderRestarts(restart []string, states map[string]unitState) [][2]string {
	want := map[string]bool{}
	for _, u := range restart {
		want[u] = true
	}
	var stops, sockets, services, again, rest [][2]string
	stopped := map[string]bool{}
	for _, u := range restart {
		switch unitType(u) {
		case "socket":
			for _, s := range strings.Fields(states[u]["Triggers"]) {
				if unitType(s) != "service" || stopped[s] || states[s] == nil || states[s].stopped() {
					continue
				}
				stopped[s] = true
				stops = append(stops, [2]string{"stop", s})
				if !want[s] {
					again = append(again, [2]string{"start", s})
				}
			}
			sockets = append(sockets, [2]string{"restart", u})
		case "service":
			services = append(services, [2]string{"restart", u})
		default:
			rest = append(rest, [2]string{"restart", u})
		}
	}
	out := append(stops, sockets...)
	out = append(out, services...)
	out = append(out, again...)
	return append(out, rest...)
}
