package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

const viewUsage = "usage: dt view VIEW [FILE], VIEW one of lines, gather, host, status, compact; FILE holds dt's lines or --json records (default: stdin)"

// viewHelp is dt help view.
const viewHelp = `dt view VIEW [FILE]

Shows saved output, dt's lines or --json records, the way --view VIEW
shows a run: lines, gather (-b), host, status or compact. FILE, or
standard input without FILE or with -, is read to the end. A line that
is neither is reported on stderr with its number and skipped; the exit
status is 1 when a record failed or a line was bad. A host named view is
sys:view.

  $ dt tag:web ssh uname -r > run.log
  $ dt view gather run.log        # what -b printed live
  $ dt --json tag:web ssh uptime > run.json
  $ dt view lines run.json        # saved --json back to lines
`

// viewCommand is "dt view VIEW [FILE]": a view over saved output, dt's
// lines or --json records, from FILE or stdin. Lines that are neither are
// reported with their number and skipped. Exit status 1 when a record
// failed or a line was bad, 2 for usage errors.
func viewCommand(args []string, opts options, e env) int {
	switch {
	case len(args) == 0:
		e.errorf("missing VIEW")
		e.hintf("%s", viewUsage)
		return exitUsage
	case len(args) > 2:
		e.errorf("too many arguments: %q", args[2:])
		e.hintf("%s", viewUsage)
		return exitUsage
	case !slices.Contains(output.ViewNames, args[0]):
		e.errorf("unknown view %q", args[0])
		e.hintf("%s; a host named view is sys:view", viewUsage)
		return exitUsage
	case opts.view != "" || opts.stream || opts.sort:
		e.errorf("--view, -b, --sort and --stream are for runs; dt view takes the view as its argument")
		e.hintf("%s", viewUsage)
		return exitUsage
	}
	name, in := "stdin", e.stdin
	if len(args) == 2 && args[1] != "-" {
		f, err := os.Open(args[1])
		if err != nil {
			e.errorf("%v", err)
			return exitUsage
		}
		defer f.Close()
		name, in = args[1], f
	}

	f, _ := e.stdout.(*os.File)
	color := f != nil && output.ColorWanted(f, opts.noColor, e.getenv)
	var v output.View
	if args[0] == "lines" {
		v = linesView{output.NewOmni(e.stdout, color)}
	} else {
		var err error
		if v, err = output.NewView(args[0], e.stdout, output.ViewOptions{Color: color, Fold: hosts.Fold}); err != nil {
			e.errorf("%v", err)
			return exitUsage
		}
	}

	failed, bad := false, 0
	var held []output.Record // the host view wants its records host by host
	err := output.ReadRecords(in, func(r output.Record) error {
		if r.Status != output.Okay {
			failed = true
		}
		if args[0] == "host" {
			r.Retain() // a spilled message stays until written
			held = append(held, r)
			return nil
		}
		return v.Write(r)
	}, func(line int, err error) {
		bad++
		fmt.Fprintf(e.stderr, "dt: warning: %s:%d: skipped: %v\n", name, line, err)
	})
	if err == nil {
		for _, r := range byHost(held) {
			if err == nil {
				err = v.Write(r)
			}
			r.Release()
		}
	}
	if cerr := v.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, io.ErrShortWrite) {
		e.errorf("%s: %v", name, err)
		return exitFailed
	}
	if bad > 0 {
		e.hintf("%d line(s) of %s were neither dt lines nor --json records", bad, name)
	}
	if failed || bad > 0 {
		return exitFailed
	}
	return exitOK
}

// byHost orders records host by host, hosts in the order they first
// appear, each host's records in their order.
func byHost(recs []output.Record) []output.Record {
	first := map[string]int{}
	for i, r := range recs {
		if _, ok := first[r.Host]; !ok {
			first[r.Host] = i
		}
	}
	slices.SortStableFunc(recs, func(a, b output.Record) int { return first[a.Host] - first[b.Host] })
	return recs
}

// linesView is the lines view for dt view: records as OMNI lines (so dt
// view lines turns saved JSON into lines).
type linesView struct{ *output.Omni }

func (linesView) Close() error { return nil }
