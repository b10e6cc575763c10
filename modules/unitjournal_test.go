package modules

import (
	"testing"
)

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
