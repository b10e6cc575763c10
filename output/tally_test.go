package output

import (
	"strings"
	"testing"
	"time"
)

func foldJoin(names []string) string { return "{" + strings.Join(names, ",") + "}" }

func TestSummary(t *testing.T) {
	tests := []struct {
		name    string
		total   int
		done    []Record
		elapsed time.Duration
		want    string
	}{
		{"all okay", 3, []Record{{Status: Okay, Host: "a"}, {Status: Okay, Host: "b"}, {Status: Okay, Host: "c"}},
			3100 * time.Millisecond, "3 hosts in 3.1s: 3 okay"},
		{"one host", 1, []Record{{Status: Okay, Host: "a"}}, 400 * time.Millisecond, "1 host in 0.4s: 1 okay"},
		{"failures by kind, largest first", 6, []Record{
			{Status: Okay, Host: "a"},
			{Status: Fail, Host: "web07", Stage: StageExit, ExitCode: 1},
			{Status: Fail, Host: "db3", Stage: StageConnect},
			{Status: Fail, Host: "web12", Stage: StageExit, ExitCode: 1},
			{Status: Fail, Host: "x", Stage: StageExit, ExitCode: -1},
			{Status: Fail, Host: "u1", Stage: StageModule, Module: "systemctl"},
		}, 83 * time.Second, "6 hosts in 1m23s: 1 okay, 5 fail (exit 1: {web07,web12}; connect: {db3}; signal: {x}; systemctl: {u1})"},
		{"none done", 4, nil, time.Second, "4 hosts in 1.0s: 0 okay"},
		{"six kinds", 7, []Record{
			{Status: Fail, Host: "a", Stage: StageExit, ExitCode: 1},
			{Status: Fail, Host: "b", Stage: StageExit, ExitCode: 2},
			{Status: Fail, Host: "c", Stage: StageExit, ExitCode: 3},
			{Status: Fail, Host: "d", Stage: StageExit, ExitCode: 4},
			{Status: Fail, Host: "e", Stage: StageExit, ExitCode: 5},
			{Status: Fail, Host: "f", Stage: StageExit, ExitCode: 6},
			{Status: Fail, Host: "g", Stage: StageInterrupt},
		}, time.Second, "7 hosts in 1.0s: 7 fail (exit 1: {a}; exit 2: {b}; exit 3: {c}; exit 4: {d}; exit 5: {e}; 2 more kinds)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := NewTally(tt.total)
			for _, r := range tt.done {
				ta.HostStarted(r.Host)
				ta.HostDone(r)
			}
			if got := ta.Summary(tt.elapsed, foldJoin, false); got != tt.want {
				t.Errorf("Summary =\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

func TestSummaryColorAndEscapes(t *testing.T) {
	ta := NewTally(2)
	ta.HostDone(Record{Status: Okay, Host: "a"})
	ta.HostDone(Record{Status: Fail, Host: "evil\x1b[2J", Stage: StageAuth})
	got := ta.Summary(time.Second, nil, true)
	want := "2 hosts in 1.0s: \x1b[32m1 okay\x1b[0m, \x1b[31m1 fail\x1b[0m (auth: evil\\x1b[2J)"
	if got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

func TestProgressText(t *testing.T) {
	ta := NewTally(400)
	for i := 0; i < 64+37; i++ {
		ta.HostStarted("")
	}
	for i := 0; i < 35; i++ {
		ta.HostDone(Record{Status: Okay})
	}
	ta.HostDone(Record{Status: Fail, Stage: StageConnect})
	ta.HostDone(Record{Status: Fail, Stage: StageConnect})
	if got, want := ta.progressText(3200*time.Millisecond), "dt: 37/400 done, 35 okay, 2 fail, 64 running, 3.2s"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
	if got, want := NewTally(5).progressText(0), "dt: 0/5 done, 0 running, 0.0s"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
}
