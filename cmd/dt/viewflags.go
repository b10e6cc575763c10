package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/dtools/dt/modules"
	"github.com/dtools/dt/output"
)

// viewFlags are the options that say how records are shown (issue 11).
func viewFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "view", Usage: "show the records as `V`: lines (default, for scripts), gather, host, status or compact (for people; see README)"},
		&cli.BoolFlag{Name: "gather", Aliases: []string{"b"}, Usage: "same as --view gather: hosts with the same output once, smallest groups first"},
		&cli.BoolFlag{Name: "sort", Usage: "records in selection order instead of as hosts finish"},
		&cli.BoolFlag{Name: "stream", Usage: "print each output line as a record as it arrives, then one record per host with its exit status (ssh, script, sudo)"},
		&cli.BoolFlag{Name: "summary", Usage: "print the summary line on stderr even when it is not a terminal"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress line and no summary on the terminal"},
	}
}

// readViewOptions reads the options that say how records are shown:
// --view, -b, --sort, --stream, --summary, --quiet, and rejects the
// combinations that contradict each other.
func readViewOptions(c *cli.Context, opts *options) error {
	opts.view = c.String("view")
	opts.sort = c.Bool("sort")
	opts.stream = c.Bool("stream")
	opts.summary = c.Bool("summary")
	opts.quiet = c.Bool("quiet")
	if opts.view != "" && !slices.Contains(output.ViewNames, opts.view) {
		return flagErrorf("--view %q: want one of %s", opts.view, strings.Join(output.ViewNames, ", "))
	}
	if c.Bool("gather") {
		if opts.view != "" && opts.view != "gather" {
			return flagErrorf("-b is --view gather; it cannot go with --view %s", opts.view)
		}
		opts.view = "gather"
	}
	switch {
	case opts.json && opts.view != "" && opts.view != "lines":
		return flagErrorf("--json prints records for scripts and --view %s for people; use one (dt view %s FILE shows saved JSON)", opts.view, opts.view)
	case opts.summary && opts.quiet:
		return flagErrorf("--summary and --quiet contradict each other")
	case opts.stream && c.Bool("interactive"):
		return flagErrorf("--stream cannot go with -i: the terminal is the command's")
	}
	return nil
}

// checkStream rejects --stream for a module whose records are not a
// command's output.
func checkStream(opts options, mod modules.Module, job modules.Job) error {
	if !opts.stream {
		return nil
	}
	if oj, ok := job.(modules.OutputJob); ok && oj.RawOutput() {
		return nil
	}
	return usageError(fmt.Errorf("--stream: module %q prints no command output to stream", mod.Name()),
		"--stream works with the modules that print a command's output: ssh, script, sudo")
}
