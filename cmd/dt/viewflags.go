package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/dtools/dt/output"
)

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
		return usagef("--view %q: want one of %s", opts.view, strings.Join(output.ViewNames, ", "))
	}
	if c.Bool("gather") {
		if opts.view != "" && opts.view != "gather" {
			return usagef("-b is --view gather; it cannot go with --view %s", opts.view)
		}
		opts.view = "gather"
	}
	switch {
	case opts.json && opts.view != "" && opts.view != "lines":
		return usagef("--json prints records for scripts and --view %s for people; use one (dt view %s FILE shows saved JSON)", opts.view, opts.view)
	case opts.summary && opts.quiet:
		return usagef("--summary and --quiet contradict each other")
	case opts.stream && c.Bool("interactive"):
		return usagef("--stream cannot go with -i: the terminal is the command's")
	}
	return nil
}
