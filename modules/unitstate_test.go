package modules

import (
	"testing"
	"time"
)

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
	// A warning systemctl printed (stderr joined to stdout after the clock).
	warned := "1763917300\n5000.25\nInvalid unit name \"$(x)\" escaped as \"\\x24\\x28x\\x29\" (maybe you should use systemd-escape?).\nId=\\x24\\x28x\\x29.service\nLoadState=not-found\n"
	if states, err := parseClockShow([]byte(warned)); err != nil || len(states) != 1 || states[0]["LoadState"] != "not-found" {
		t.Errorf("with a warning: %v %v", states, err)
	}
	if _, err := parseClockShow([]byte("sh: date: not found\n")); err == nil {
		t.Errorf("garbage accepted")
	}
}
