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

// TestUserWithSudoRefused: --user under --sudo would act as root's user
// manager, so it is a usage error.
func TestUserWithSudoRefused(t *testing.T) {
	var ue *UsageError
	if _, err := (Systemctl{}).Prepare([]string{"--user", "restart", "app"}, Options{Sudo: true}); !errors.As(err, &ue) {
		t.Errorf("systemctl --user under --sudo: %v, want a usage error", err)
	}
	if _, err := (Journal{}).Prepare([]string{"--user"}, Options{Sudo: true}); !errors.As(err, &ue) {
		t.Errorf("journal --user under --sudo: %v, want a usage error", err)
	}
}

// TestSystemctlCmdQuoting: units come after "--", quoted, so they can be
// neither options nor shell syntax.
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
