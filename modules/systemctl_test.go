package modules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dtools/dt/output"
)

func TestSystemctlPrepare(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // "" for success
		verb    string
		units   []string
		user    bool
		settle  time.Duration
	}{
		{args: []string{"restart", "nginx"}, verb: "restart", units: []string{"nginx"}, settle: 2 * time.Second},
		{args: []string{"--user", "status", "a", "b"}, verb: "status", units: []string{"a", "b"}, user: true, settle: 2 * time.Second},
		{args: []string{"restart", "--settle", "500ms", "app"}, verb: "restart", units: []string{"app"}, settle: 500 * time.Millisecond},
		{args: []string{"enable", "--now", "--", "--now"}, verb: "enable", units: []string{"--now"}, settle: 2 * time.Second},
		{args: []string{"daemon-reload"}, verb: "daemon-reload", settle: 2 * time.Second},
		{args: []string{}, wantErr: "missing verb"},
		{args: []string{"frobnicate", "x"}, wantErr: `unknown verb "frobnicate"; verbs: daemon-reload, disable, enable, is-active`},
		{args: []string{"restart"}, wantErr: "missing unit"},
		{args: []string{"daemon-reload", "x"}, wantErr: "takes no units"},
		{args: []string{"restart", "--now", "x"}, wantErr: "--now goes with enable or disable only"},
		{args: []string{"--bogus", "status", "x"}, wantErr: "flag provided but not defined: -bogus"},
		{args: []string{"status", "a\nb"}, wantErr: "bad unit name"},
	}
	for _, tt := range tests {
		job, err := Systemctl{}.Prepare(tt.args, Options{})
		if tt.wantErr != "" {
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Prepare(%q) = %v, want usage error containing %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Prepare(%q): %v", tt.args, err)
			continue
		}
		j := job.(systemctlJob)
		if j.verb != tt.verb || strings.Join(j.units, "|") != strings.Join(tt.units, "|") || j.user != tt.user || j.settle != tt.settle {
			t.Errorf("Prepare(%q) = %+v", tt.args, j)
		}
	}
}

// TestSystemctlCmdQuoting: units come after "--", quoted, so they can be
// neither options nor shell syntax.
func TestUserWithSudoRefused(t *testing.T) {
	var ue *UsageError
	if _, err := (Systemctl{}).Prepare([]string{"--user", "restart", "app"}, Options{Sudo: true}); !errors.As(err, &ue) {
		t.Errorf("systemctl --user under --sudo: %v, want a usage error", err)
	}
	if _, err := (Journal{}).Prepare([]string{"--user"}, Options{Sudo: true}); !errors.As(err, &ue) {
		t.Errorf("journal --user under --sudo: %v, want a usage error", err)
	}
}

func TestSystemctlCmdQuoting(t *testing.T) {
	j := systemctlJob{}
	got := j.systemctlCmd([]string{"restart"}, "--now", "x; rm -rf /", "a'b")
	want := `systemctl --no-ask-password restart -- --now 'x; rm -rf /' 'a'\''b'`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	j.user = true
	got = j.systemctlCmd([]string{"status"}, "app")
	if !strings.HasPrefix(got, userPreamble) || !strings.HasSuffix(got, "systemctl --user --no-ask-password status -- app") {
		t.Errorf("--user command: %s", got)
	}
}

// showOutput is "systemctl show -p ... -- nginx nosuch demo-fail" as
// systemd 252 prints it: one block per unit, blank line between.
const showOutput = `Id=nginx.service
MainPID=1234
NRestarts=0
Result=success
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
ActiveEnterTimestamp=Mon 2026-11-23 17:00:01 UTC
InactiveEnterTimestamp=n/a

Id=nosuch.service
MainPID=0
NRestarts=0
Result=success
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=
ActiveEnterTimestamp=n/a
InactiveEnterTimestamp=n/a

Id=demo-fail.service
MainPID=0
NRestarts=0
Result=exit-code
LoadState=loaded
ActiveState=failed
SubState=failed
UnitFileState=disabled
ActiveEnterTimestamp=n/a
InactiveEnterTimestamp=Mon 2026-11-23 17:00:02 UTC
`

func TestParseShowSummary(t *testing.T) {
	states := parseShow([]byte(showOutput))
	if len(states) != 3 {
		t.Fatalf("%d blocks, want 3", len(states))
	}
	want := []string{
		"nginx.service active (running) since 2026-11-23 17:00:01 UTC; pid 1234; restarts 0; enabled",
		"nosuch.service not found",
		"demo-fail.service failed (failed) since 2026-11-23 17:00:02 UTC; result exit-code; restarts 0; disabled",
	}
	for i, st := range states {
		if got := st.summary("typed"); got != want[i] {
			t.Errorf("summary %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
}

func TestSystemctlQueryVerdicts(t *testing.T) {
	states := parseShow([]byte(showOutput))
	tests := []struct {
		verb string
		want [3]output.Status // nginx, nosuch, demo-fail
	}{
		{"status", [3]output.Status{output.Okay, output.Fail, output.Fail}},
		{"is-active", [3]output.Status{output.Okay, output.Fail, output.Fail}},
		{"is-enabled", [3]output.Status{output.Okay, output.Fail, output.Fail}},
		{"is-failed", [3]output.Status{output.Fail, output.Fail, output.Okay}},
		{"show", [3]output.Status{output.Okay, output.Fail, output.Okay}},
	}
	h := &Host{Module: "systemctl"}
	for _, tt := range tests {
		j := systemctlJob{verb: tt.verb}
		for i, st := range states {
			if got := j.queryRecord(h, "u", st).Status; got != tt.want[i] {
				t.Errorf("%s of %s = %s, want %s", tt.verb, st["Id"], got, tt.want[i])
			}
		}
	}
	show := systemctlJob{verb: "show"}.queryRecord(h, "u", states[0])
	if !strings.HasPrefix(string(show.Message), "nginx.service LoadState=loaded ActiveState=active SubState=running MainPID=1234") {
		t.Errorf("show: %s", show.Message)
	}
}

func TestSystemctlExpect(t *testing.T) {
	active := unitState{"ActiveState": "active"}
	inactive := unitState{"ActiveState": "inactive"}
	tests := []struct {
		verb          string
		now           bool
		before        unitState
		active, stopd bool
	}{
		{"start", false, inactive, true, false},
		{"restart", false, inactive, true, false},
		{"reload-or-restart", false, active, true, false},
		{"try-restart", false, inactive, false, false},
		{"try-restart", false, active, true, false},
		{"stop", false, active, false, true},
		{"enable", false, inactive, false, false},
		{"enable", true, inactive, true, false},
		{"disable", true, active, false, true},
	}
	for _, tt := range tests {
		a, s := systemctlJob{verb: tt.verb, now: tt.now}.expect(tt.before)
		if a != tt.active || s != tt.stopd {
			t.Errorf("%s now=%v from %s: active=%v stopped=%v", tt.verb, tt.now, tt.before["ActiveState"], a, s)
		}
	}
}

func TestParseClockShow(t *testing.T) {
	out := "1763917300\n5000.25\nId=a.service\nActiveState=active\nActiveEnterTimestampMonotonic=4000000000\n\nId=b.service\nActiveState=inactive\nActiveEnterTimestampMonotonic=0\n"
	states, err := parseClockShow([]byte(out))
	if err != nil || len(states) != 2 {
		t.Fatalf("%v %d", err, len(states))
	}
	if d, ok := states[0].uptime(); !ok || d != 1000*time.Second {
		t.Errorf("uptime %v %v, want 1000s", d, ok)
	}
	if _, ok := states[1].uptime(); ok {
		t.Errorf("inactive unit has an uptime")
	}
	if states[1][keyEpoch] != "1763917300" {
		t.Errorf("epoch %q", states[1][keyEpoch])
	}
	if _, err := parseClockShow([]byte("sh: date: not found\n")); err == nil {
		t.Errorf("garbage accepted")
	}
}

func TestHasUnitOutput(t *testing.T) {
	systemdOnly := "2026-11-29T12:54:01+0000 web1 systemd[1]: Starting app.service...\n2026-11-29T12:54:01+0000 web1 systemd[1]: Failed to start app.service.\n"
	withUnit := systemdOnly + "2026-11-29T12:54:01+0000 web1 sh[131]: app: config invalid\n"
	if hasUnitOutput([]byte(systemdOnly)) || !hasUnitOutput([]byte(withUnit)) || hasUnitOutput(nil) {
		t.Error("hasUnitOutput misjudges")
	}
}

func TestMergeJournalLines(t *testing.T) {
	// "-u UNIT" lines, then the same unit's lines found by _PID: one
	// appears in both.
	out := "2026-11-29T13:43:31.000200+0000 web1 systemd[1]: Starting app.service...\n" +
		"2026-11-29T13:43:31.000900+0000 web1 systemd[1]: app.service: Failed with result 'exit-code'.\n" +
		"2026-11-29T13:43:31.000500+0000 web1 app[67]: config invalid\n" +
		"2026-11-29T13:43:31.000900+0000 web1 systemd[1]: app.service: Failed with result 'exit-code'.\n"
	got := string(lastLines(mergeLines([]byte(out)), 2))
	want := "2026-11-29T13:43:31.000500+0000 web1 app[67]: config invalid\n" +
		"2026-11-29T13:43:31.000900+0000 web1 systemd[1]: app.service: Failed with result 'exit-code'.\n"
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	if lastLines(nil, 3) != nil {
		t.Error("no lines should give nil")
	}
}
