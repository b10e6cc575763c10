package modules

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// TestSpilledResultPrintsLikeInMemory: whether a command's output stayed
// in memory or spilled to a file, Result gives a record that prints the
// same line and the same JSON object, in every outcome.
func TestSpilledResultPrintsLikeInMemory(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	big := strings.Repeat("0123456789abcdef\n", 100) // 1700 bytes
	tests := []struct {
		name  string
		out   string
		res   runner.Result
		err   error
		sudo  bool
		stage string
	}{
		{name: "okay", out: big, res: runner.Result{}},
		{name: "okay, no trailing newline", out: big + "end", res: runner.Result{}},
		{name: "exit", out: big, res: runner.Result{ExitCode: 3}, stage: output.StageExit},
		{name: "signal", out: big, res: runner.Result{ExitCode: -1, Signal: "TERM"}, stage: output.StageExit},
		{name: "timeout with output so far", out: big + "\n\n", res: runner.Result{ExitCode: -1},
			err: &runner.TimeoutError{After: time.Second}, stage: output.StageTimeout},
		{name: "sudo hint", out: "sudo: a password is required\n" + big + "\n\n\n", res: runner.Result{ExitCode: 1}, sudo: true, stage: output.StageExit},
		{name: "session error", out: big, res: runner.Result{ExitCode: -1}, err: &runner.Error{Stage: output.StageSession, Err: errors.New("connection lost")}, stage: output.StageSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{Entry: hosts.Host{Hop: hosts.Hop{Name: "web1"}}, Module: "ssh", Started: time.Unix(1, 0), sudoed: tt.sudo}
			mem := tt.res
			mem.Output = []byte(tt.out)
			want := h.Result(mem, tt.err)

			sp := output.NewSpool(100)
			sp.Write([]byte(tt.out))
			if !sp.Spilled() {
				t.Fatal("did not spill")
			}
			spilled := tt.res
			spilled.Spool = sp
			got := h.Result(spilled, tt.err)
			defer got.Release()
			if got.Spilled == nil || got.Message != nil {
				t.Fatalf("record keeps the output in memory: %+v", got)
			}
			if got.Stage != tt.stage || got.Stage != want.Stage || got.ExitCode != want.ExitCode || got.Status != want.Status {
				t.Errorf("got %s/%s/%d, want %s/%s/%d", got.Status, got.Stage, got.ExitCode, want.Status, want.Stage, want.ExitCode)
			}
			got.Duration, want.Duration = 0, 0
			for _, mk := range []func(*bytes.Buffer) output.Writer{
				func(b *bytes.Buffer) output.Writer { return output.NewOmni(b, false) },
				func(b *bytes.Buffer) output.Writer { return output.NewJSON(b) },
			} {
				var g, w bytes.Buffer
				mk(&g).Write(got)
				mk(&w).Write(want)
				if g.String() != w.String() {
					t.Errorf("spilled prints\n %q\nin memory\n %q", g.String(), w.String())
				}
			}
		})
	}
}

// TestGateFailureKeepsSpilledOutput: when a gate fails a host whose
// output spilled, its line says why first and still carries the output.
func TestGateFailureKeepsSpilledOutput(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	h := &Host{Entry: hosts.Host{Hop: hosts.Hop{Name: "web1"}}, Module: "ssh"}
	sp := output.NewSpool(4)
	sp.Write([]byte("lots of output\n"))
	var held gated
	held.emit(h.Result(runner.Result{Spool: sp}, nil))
	var got []output.Record
	held.release(func(r output.Record) { got = append(got, r) }, &runner.Error{Stage: output.StageGate, Err: errors.New("health check failed")})
	if len(got) != 1 {
		t.Fatalf("%d records", len(got))
	}
	defer got[0].Release()
	if line := output.FormatLine(got[0]); line != "fail::dt:ssh:web1:gate: health check failed; lots of output\n" {
		t.Errorf("line %q", line)
	}
}
