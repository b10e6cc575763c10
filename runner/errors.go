package runner

import (
	"errors"
	"fmt"
	"time"

	"github.com/dtools/dt/output"
)

// Error is a per-host failure with the stage where it happened. Stage is one
// of the output.Stage* constants.
type Error struct {
	Stage string
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func stageErr(stage string, format string, args ...any) *Error {
	return &Error{Stage: stage, Err: fmt.Errorf(format, args...)}
}

// ErrInterrupted is the cancellation cause the CLI sets on Ctrl-C or SIGTERM.
var ErrInterrupted = errors.New("interrupted")

// TimeoutError is the cancellation cause of a host whose --timeout expired.
type TimeoutError struct{ After time.Duration }

func (e *TimeoutError) Error() string { return fmt.Sprintf("timed out after %s", e.After) }

// Stage reports the stage of err: the Stage of an *Error, StageTimeout or
// StageInterrupt for cancellation causes, and StageSession otherwise.
func Stage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Stage
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		return output.StageTimeout
	}
	if errors.Is(err, ErrInterrupted) {
		return output.StageInterrupt
	}
	return output.StageSession
}
