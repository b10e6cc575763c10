package main

import (
	"context"
	"fmt"

	"github.com/dtools/dt/hosts"
)

// checkShellOptions refuses the options dt sh would otherwise ignore:
// each line runs on every current host at once, with the records in the
// shell's view, so the rolling options, --stream, -i and -I have nothing
// to act on there, and silently dropping them (a --gate that never runs,
// a --max-fail that never stops anything) would mislead.
func checkShellOptions(opts options) error {
	r := opts.rollout
	var name string
	switch {
	case r.Batch.N > 0:
		name = "--batch"
	case r.Canary > 0:
		name = "--canary"
	case r.MaxFail != nil:
		name = "--max-fail"
	case r.BatchWait > 0:
		name = "--batch-wait"
	case r.Stagger > 0:
		name = "--stagger"
	case r.Gate.Cmd != "":
		name = "--gate"
	case opts.stream:
		name = "--stream"
	case opts.interactive:
		name = "-i"
	case opts.stdin:
		name = "-I"
	default:
		return nil
	}
	return usageError(fmt.Errorf("%s does not apply to dt sh: each line runs on every current host at once", name),
		"run it as dt [OPTIONS] PATTERN ssh CMD, or without "+name)
}

// pretendShell is dt -p PATTERN sh: like -p with any module, it prints
// the hosts the shell would start with and runs nothing.
func pretendShell(ctx context.Context, opts options, pattern string, e env) int {
	if pattern == "" {
		return e.report(usageError(fmt.Errorf("-p prints the hosts of a pattern; dt sh was given none"), "usage: dt -p PATTERN sh"))
	}
	pat, err := hosts.ParsePattern(pattern)
	if err != nil {
		return e.report(err)
	}
	opts.args = []string{pattern}
	selected, err := selectHosts(ctx, opts, pat, e.getenv("HOME"), e)
	if err != nil {
		return e.report(err)
	}
	for _, h := range selected {
		fmt.Fprintln(e.stdout, h.Name)
	}
	return exitOK
}
