// Command dt runs commands on many hosts at once and prints one parseable
// line per host: STATUS::dt:MODULE:HOST:OUTPUT.
//
// See "dt --help" and README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/dtools/dt/runner"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// A hangup (the terminal or the SSH session dt runs in is gone) ends
	// the run like Ctrl-C, so the cleanup still runs: no temporary left by
	// copy, deploy's rollback. Unless dt runs under nohup: Notify would
	// undo the ignoring.
	if !signal.Ignored(syscall.SIGHUP) {
		signal.Notify(sigs, syscall.SIGHUP)
	}
	// A write to a closed pipe raises SIGPIPE, which kills a Go program
	// writing to its stdout: "dt ... | head -1" died at its next line,
	// leaving remote commands running, copy's temporaries behind and
	// deploys half done. Taken here, writes fail with EPIPE instead, and
	// when it is stdout that nobody reads any more the run stops as on
	// Ctrl-C; a closed pipe of one host (a ProxyCommand's) stops nothing.
	signal.Notify(sigs, syscall.SIGPIPE)
	go func() {
		first, piped := true, false
		for sig := range sigs {
			if sig == syscall.SIGPIPE {
				if piped || !stdoutClosed() {
					continue
				}
				piped = true
				if first {
					first = false
					cancel(runner.ErrInterrupted)
				}
				continue
			}
			if h := interruptHook.Load(); h != nil && sig == os.Interrupt {
				(*h)() // dt sh: Ctrl-C stops the running command, not dt
				continue
			}
			if first {
				first = false
				cancel(runner.ErrInterrupted)
				continue
			}
			// A second Ctrl-C does not wait for the cleanup.
			restoreTerminals()
			fmt.Fprintln(os.Stderr, "dt: interrupted twice, exiting now")
			os.Exit(exitInterrupted)
		}
	}()
	code := runCLI(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	signal.Stop(sigs)
	os.Exit(code)
}

// interruptHook, when set, takes Ctrl-C (SIGINT) instead of the default
// (cancel the run, exit on a second one): dt sh sets it while a command
// runs, to stop that command and go back to the prompt.
var interruptHook atomic.Pointer[func()]

// stdoutClosed reports whether dt's standard output is a pipe or socket
// whose reader is gone: poll says POLLERR (or POLLHUP) for its write end.
func stdoutClosed() bool {
	fds := []unix.PollFd{{Fd: int32(os.Stdout.Fd()), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
}
