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
	"syscall"

	"github.com/dtools/dt/runner"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel(runner.ErrInterrupted)
		<-sigs // a second Ctrl-C does not wait for the cleanup
		restoreTerminals()
		fmt.Fprintln(os.Stderr, "dt: interrupted twice, exiting now")
		os.Exit(exitInterrupted)
	}()
	code := runCLI(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	signal.Stop(sigs)
	os.Exit(code)
}
