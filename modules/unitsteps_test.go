package modules

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestStepScript runs a step script with the local sh and reads it back:
// each step's output and exit status, a failed step not stopping the
// others, stdin closed, odd unit names kept whole.
func TestStepScript(t *testing.T) {
	steps := []unitStep{
		{Verb: "restart", Unit: "app.socket", Cmd: "echo one; echo two >&2"},
		{Verb: "restart", Unit: "app.service", Cmd: "echo 'Job for app.service failed'; exit 3"},
		{Verb: "restore", Unit: "app.service.d/x y.conf", Cmd: "cat"},
		{Verb: "verify", Unit: "b.service", Cmd: "true"},
	}
	token := "@@dt-" + randomHex(6)
	out, err := exec.Command("sh", "-c", stepScript(token, steps)).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := parseSteps(out, token)
	want := []stepResult{
		{"restart", "app.socket", []byte("one\ntwo"), 0},
		{"restart", "app.service", []byte("Job for app.service failed"), 3},
		{"restore", "app.service.d/x y.conf", nil, 0},
		{"verify", "b.service", nil, 0},
	}
	show := func(rs []stepResult) string {
		var b strings.Builder
		for _, r := range rs {
			fmt.Fprintf(&b, "%s %s %q %d\n", r.Verb, r.Unit, r.Output, r.Exit)
		}
		return b.String()
	}
	if show(got) != show(want) {
		t.Errorf("parseSteps =\n%s\nwant\n%s", show(got), show(want))
	}
	// A step cut short (connection lost) is left out, not made up.
	cut := strings.Split(string(out), token+" rc 3")[0]
	if got := parseSteps([]byte(cut), token); len(got) != 1 {
		t.Errorf("cut output: %d results, want 1", len(got))
	}
}

func TestOrderRestarts(t *testing.T) {
	st := func(active string, triggers ...string) unitState {
		return unitState{"LoadState": "loaded", "ActiveState": active, "Triggers": strings.Join(triggers, " ")}
	}
	states := map[string]unitState{
		"app.socket":   st("active", "app.service"),
		"app.service":  st("active"),
		"idle.socket":  st("active", "idle.service"),
		"idle.service": st("inactive"),
		"web.socket":   st("active", "web.service"),
		"web.service":  st("active"),
		"job.timer":    st("active", "job.service"),
		"job.service":  st("inactive"),
	}
	for _, tt := range []struct {
		restart []string
		want    string
	}{
		// The service a restarted socket activates stops first, and starts after it.
		{[]string{"app.service", "app.socket"}, "stop app.service, restart app.socket, restart app.service"},
		{[]string{"app.socket"}, "stop app.service, restart app.socket, start app.service"},
		// A service alone restarts alone: its socket keeps listening.
		{[]string{"app.service"}, "restart app.service"},
		// An idle service is left to its socket.
		{[]string{"idle.socket"}, "restart idle.socket"},
		// Timers and paths come last; sockets before services.
		{[]string{"job.timer", "web.service", "idle.socket", "web.socket"}, "stop web.service, restart idle.socket, restart web.socket, restart web.service, restart job.timer"},
	} {
		var got []string
		for _, o := range orderRestarts(tt.restart, states) {
			got = append(got, o[0]+" "+o[1])
		}
		if g := strings.Join(got, ", "); g != tt.want {
			t.Errorf("orderRestarts(%q) = %s, want %s", tt.restart, g, tt.want)
		}
	}
}

func TestUnitMessage(t *testing.T) {
	active := unitState{"Id": "app.service", "LoadState": "loaded", "ActiveState": "active", "SubState": "running",
		"ActiveEnterTimestamp": "Sun 2026-11-29 12:54:05 UTC", "MainPID": "1234", "NRestarts": "0", "UnitFileState": "enabled", "Result": "success"}
	failed := unitState{"Id": "app.service", "LoadState": "loaded", "ActiveState": "failed", "SubState": "failed",
		"InactiveEnterTimestamp": "Sun 2026-11-29 12:54:06 UTC", "MainPID": "0", "NRestarts": "0", "UnitFileState": "enabled", "Result": "exit-code"}
	for _, tt := range []struct {
		u    unitRun
		want string
	}{
		{unitRun{deployUnit: deployUnit{Name: "app.service"}, words: []string{"unchanged"}, state: active},
			"app.service unchanged: active (running) since 2026-11-29 12:54:05 UTC; pid 1234; restarts 0; enabled"},
		{unitRun{deployUnit: deployUnit{Name: "app.service"}, words: []string{"changed", "restarted"}, state: failed,
			problems: []string{"restart: not active after 2s"}, rollback: "rolled back to previous app.service: active (running)", detail: []byte("line 1\nline 2\n")},
			"app.service changed, restarted: failed (failed) since 2026-11-29 12:54:06 UTC; result exit-code; restarts 0; enabled; restart: not active after 2s; rolled back to previous app.service: active (running)\nline 1\nline 2"},
		{unitRun{deployUnit: deployUnit{Name: "getty@.service"}, words: []string{"changed"}},
			"getty@.service changed: template"},
		{unitRun{deployUnit: deployUnit{Name: "x.service"}},
			"x.service: state unknown"},
	} {
		if got := string(tt.u.message()); got != tt.want {
			t.Errorf("message =\n%s\nwant\n%s", got, tt.want)
		}
	}
}
