package runner

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

func TestRunLocal(t *testing.T) {
	tests := []struct {
		cmd    string
		out    string
		code   int
		signal string
	}{
		{"echo out; echo err >&2; echo out2", "out\nerr\nout2\n", 0, ""},
		{"printf 'a b'; exit 3", "a b", 3, ""},
		{"nosuchcommand-dt 2>/dev/null", "", 127, ""},
		{"kill -KILL $$", "", -1, "KILL"},
		{"sleep 60 & echo bg", "bg\n", 0, ""}, // done when the shell is, give or take the wait delay
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			res, err := RunLocal(context.Background(), LocalCommand{Cmd: tt.cmd, Env: os.Environ()})
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Output) != tt.out || res.ExitCode != tt.code || res.Signal != tt.signal {
				t.Errorf("got %q exit %d signal %q, want %q exit %d signal %q", res.Output, res.ExitCode, res.Signal, tt.out, tt.code, tt.signal)
			}
		})
	}
}

func TestRunLocalTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), 200*time.Millisecond, &TimeoutError{After: 200 * time.Millisecond})
	defer cancel()
	start := time.Now()
	res, err := RunLocal(ctx, LocalCommand{Cmd: "echo started; trap '' TERM; sleep 30"})
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a TimeoutError", err)
	}
	if string(res.Output) != "started\n" || res.ExitCode != -1 {
		t.Errorf("res = %q exit %d", res.Output, res.ExitCode)
	}
	// TERM ignored: KILL after the grace period, not after 30s.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}
