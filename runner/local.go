package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dtools/dt/output"
)

// LocalCommand is a command run on this machine (the local module).
type LocalCommand struct {
	// Shell runs Cmd as "Shell -c Cmd"; empty means /bin/sh.
	Shell string
	Cmd   string
	// Env is the command's whole environment (KEY=VALUE).
	Env   []string
	Stdin io.Reader // nil for /dev/null
	// Stdout and Stderr, when set, receive the output as it comes
	// (interactive mode) instead of Result.Output.
	Stdout, Stderr io.Writer
	// Terminal keeps the command in dt's process group (-i), as a shell
	// runs a command in the foreground: it may read the terminal
	// (/dev/tty: a password prompt), which a process group of its own,
	// in the background, cannot. Stopping it then signals the command
	// itself; Ctrl-C on the terminal reaches it and what it started.
	Terminal bool
}

// localWaitDelay is how long RunLocal waits, after the command exited, for
// the processes it left behind to close its output.
const localWaitDelay = 2 * time.Second

// RunLocal runs c on this machine the way Run runs a remote command: the
// output of stdout and stderr in arrival order (one pipe for both), a
// non-zero exit in Result.ExitCode, and when ctx ends first the command's
// process group (with Terminal, the command) gets SIGTERM, then SIGKILL,
// and the error is ctx's cause.
func RunLocal(ctx context.Context, c LocalCommand) (Result, error) {
	if err := context.Cause(ctx); err != nil {
		return Result{ExitCode: -1}, err
	}
	shell := c.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	cmd := exec.Command(shell, "-c", c.Cmd)
	cmd.Env = c.Env
	cmd.Stdin = c.Stdin
	buf := output.NewSpool(0) // in memory: one buffer keeps arrival order
	cmd.Stdout, cmd.Stderr = buf, buf
	if c.Stdout != nil {
		cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	}
	// Its own process group, so that stopping it stops what it started;
	// on the terminal (-i), dt's own, the terminal's foreground group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !c.Terminal}
	// A command that leaves something running in the background with its
	// output still open is done when it exits, give or take this.
	cmd.WaitDelay = localWaitDelay
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: -1}, &Error{Stage: output.StageSession, Err: fmt.Errorf("start %s: %w", shell, err)}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		target := -cmd.Process.Pid // the process group
		if c.Terminal {
			target = cmd.Process.Pid
		}
		syscall.Kill(target, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(stopGrace):
			syscall.Kill(target, syscall.SIGKILL)
			<-done
		}
		buf.Seal()
		return Result{Output: buf.Bytes(), ExitCode: -1}, context.Cause(ctx)
	}
	buf.Seal()
	res := Result{Output: buf.Bytes()}
	var ee *exec.ExitError
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws, ok := ee.Sys().(syscall.WaitStatus)
		if ok && ws.Signaled() {
			res.ExitCode = -1
			res.Signal = strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
		} else {
			res.ExitCode = ee.ExitCode()
		}
	default:
		return res, &Error{Stage: output.StageSession, Err: err}
	}
	return res, nil
}
