package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
)

// Result is what a finished remote command left behind.
type Result struct {
	Output   []byte // stdout and stderr interleaved in arrival order
	ExitCode int    // -1 when the command died by a signal
	Signal   string // the signal that killed it, if any
	// Spool holds the output instead of Output when the command asked for
	// spilling (Command.SpillAfter) and printed more than that. The
	// caller owns one reference and must Release it (a record built from
	// it hands it on: see output.Spilled).
	Spool *output.Spool
}

// Command is one remote command.
type Command struct {
	Cmd string // passed as-is to the remote user's shell, like ssh HOST CMD
	// Subsystem, instead of Cmd, asks the server to start a subsystem
	// ("sftp"), like ssh -s HOST NAME. Cmd must then be empty.
	Subsystem string
	Stdin     io.Reader // nil for none
	// Stdout and Stderr, when set, receive output as it arrives instead of
	// it being collected in Result.Output (interactive mode, streaming).
	Stdout, Stderr io.Writer
	// PTY requests a terminal (interactive mode).
	PTY bool
	// NoEcho starts the terminal with echo off, for a command that reads
	// a secret as its first line of input and turns echo on itself.
	NoEcho bool
	// SpillAfter, when > 0, keeps at most that many bytes of output in
	// memory: beyond it the output goes to a private temporary file
	// (Result.Spool). For commands whose output is printed, not parsed.
	SpillAfter int
}

// stopGrace is how long a cancelled command gets between SIGTERM and
// SIGKILL.
const stopGrace = 300 * time.Millisecond

// Run runs cmd over c. When ctx ends first, the remote process group is
// sent SIGTERM, then SIGKILL, before the session is closed: closing alone
// would leave the command running. The error is then the context's cause
// (ErrInterrupted, *TimeoutError). A non-zero exit is not an error: it is
// in Result.ExitCode.
func Run(ctx context.Context, c *ssh.Client, cmd Command) (Result, error) {
	if err := context.Cause(ctx); err != nil {
		return Result{ExitCode: -1}, err
	}
	if cmd.Subsystem != "" && cmd.Cmd != "" {
		return Result{ExitCode: -1}, stageErr(output.StageSession, "both a command and the subsystem %q given", cmd.Subsystem)
	}
	gate := gateOf(c)
	var sess *ssh.Session
	err := gate.Open(ctx, func() (err error) {
		sess, err = openSession(ctx, c)
		return err
	})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return Result{ExitCode: -1}, cause
		}
		if why := lost(c); why != nil {
			err = why
		}
		return Result{ExitCode: -1}, &Error{Stage: output.StageSession, Err: fmt.Errorf("open session: %w", err)}
	}
	defer gate.Release()
	defer sess.Close()

	// One spool for stdout and stderr keeps their arrival order.
	buf := output.NewSpool(cmd.SpillAfter)
	stdout, stderr := io.Writer(buf), io.Writer(buf)
	if cmd.Stdout != nil {
		stdout = cmd.Stdout
	}
	if cmd.Stderr != nil {
		stderr = cmd.Stderr
	}
	if cmd.PTY {
		echo := uint32(1)
		if cmd.NoEcho {
			echo = 0
		}
		if err := sess.RequestPty("xterm", 40, 80, ssh.TerminalModes{ssh.ECHO: echo}); err != nil {
			return Result{ExitCode: -1}, &Error{Stage: output.StageSession, Err: fmt.Errorf("request pty: %w", err)}
		}
	}
	var wait func() error
	if cmd.Subsystem != "" {
		wait, err = startSubsystem(sess, cmd.Subsystem, cmd.Stdin, stdout, stderr)
		if err != nil {
			return Result{ExitCode: -1}, &Error{Stage: output.StageSession, Err: fmt.Errorf("start subsystem %s: %w", cmd.Subsystem, err)}
		}
	} else {
		sess.Stdout, sess.Stderr = stdout, stderr
		if cmd.Stdin != nil {
			sess.Stdin = cmd.Stdin
		}
		if err := sess.Start(cmd.Cmd); err != nil {
			return Result{ExitCode: -1}, &Error{Stage: output.StageSession, Err: fmt.Errorf("start command: %w", err)}
		}
		wait = sess.Wait
	}
	done := make(chan error, 1)
	go func() { done <- wait() }()

	select {
	case err = <-done:
	case <-ctx.Done():
		sess.Signal(ssh.SIGTERM)
		select {
		case <-done:
		case <-time.After(stopGrace):
			sess.Signal(ssh.SIGKILL)
			select {
			case <-done:
			case <-time.After(stopGrace):
			}
		}
		res := collected(buf)
		res.ExitCode = -1
		return res, context.Cause(ctx)
	}
	res := collected(buf)
	if err == nil || errors.As(err, new(*ssh.ExitError)) {
		if lostErr := buf.Err(); lostErr != nil {
			return res, &Error{Stage: output.StageSession, Err: lostErr}
		}
	}
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitStatus()
		if exit.Signal() != "" {
			res.ExitCode = -1
			res.Signal = exit.Signal()
		}
	case lost(c) != nil:
		return res, &Error{Stage: output.StageSession, Err: lost(c)}
	case errors.As(err, &missing):
		return res, stageErr(output.StageSession, "remote command ended without an exit status (connection lost?)")
	default:
		return res, &Error{Stage: output.StageSession, Err: err}
	}
	return res, nil
}

// openSession opens a session on c, giving up when ctx ends first (a
// session that opens later is closed at once): a server that does not
// answer, or a connection keeper waiting for its server's MaxSessions,
// must not hold up a timeout or Ctrl-C.
func openSession(ctx context.Context, c *ssh.Client) (*ssh.Session, error) {
	type opened struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := c.NewSession()
		ch <- opened{s, err}
	}()
	select {
	case o := <-ch:
		return o.s, o.err
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.s != nil {
				o.s.Close()
			}
		}()
		return nil, context.Cause(ctx)
	}
}

// lost returns why keepAlive closed c, or nil.
func lost(c *ssh.Client) error {
	if why, ok := lostPeers.Load(c); ok {
		return why.(error)
	}
	return nil
}

// collected turns a command's spool into its Result's output: the bytes
// when they stayed in memory, else the spool itself. The spool is sealed
// first: on a cancelled session its copiers may still be writing.
func collected(buf *output.Spool) Result {
	buf.Seal()
	if buf.Spilled() {
		return Result{Spool: buf}
	}
	return Result{Output: buf.Bytes()}
}
