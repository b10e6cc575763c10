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
	go func() {
		first := true
		for sig := range sigs {
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
