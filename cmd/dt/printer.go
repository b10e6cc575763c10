package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

// printer is everything a run prints: its records on stdout, as lines,
// JSON or a view for people (--view), and on stderr, only for a person at
// a terminal, the progress line while it runs and the summary after.
type printer struct {
	out      output.Writer // where Execute writes records
	view     output.View   // nil for lines and JSON
	sort     bool          // records in selection order
	tally    *output.Tally // nil when neither progress nor summary
	progress *output.Progress
	summary  bool
	stderr   io.Writer
	color    bool // colours on stderr
	start    time.Time
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) (*os.File, bool) {
	f, ok := w.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}

// newPrinter sets up the printing of a run over total hosts.
func newPrinter(opts options, e env, total int) (*printer, error) {
	p := &printer{stderr: e.stderr, start: time.Now(), sort: opts.sort}
	stdout := e.stdout
	errFile, errTerm := isTerminal(e.stderr)
	p.summary = (errTerm || opts.summary) && !opts.quiet
	showProgress := errTerm && !opts.quiet && !opts.interactive && opts.view != "compact" && e.getenv("TERM") != "dumb"
	if p.summary || showProgress {
		p.tally = output.NewTally(total)
	}
	if p.summary {
		p.color = errFile != nil && output.ColorWanted(errFile, opts.noColor, e.getenv)
	}
	outFile, outTerm := isTerminal(e.stdout)
	if showProgress {
		width, _, err := term.GetSize(int(errFile.Fd()))
		if err != nil {
			width = 0
		}
		p.progress = output.StartProgress(e.stderr, p.tally, p.start, width)
		setTerminalQuiet(p.progress.Pause)
		if outTerm {
			stdout = p.progress.Guard(stdout)
		}
	}
	color := outFile != nil && output.ColorWanted(outFile, opts.noColor, e.getenv)
	switch {
	case opts.json:
		p.out = output.NewJSON(stdout)
	case opts.view == "" || opts.view == "lines":
		p.out = output.NewOmni(stdout, color)
	default:
		v, err := output.NewView(opts.view, stdout, output.ViewOptions{Color: color, Fold: hosts.Fold})
		if err != nil {
			p.stop()
			return nil, err
		}
		p.view, p.out = v, v
		// The host view prints host by host; the status view lists each
		// status's records in selection order.
		p.sort = p.sort || opts.view == "host" || opts.view == "status"
	}
	return p, nil
}

// track is the Tracker Execute reports hosts to, or nil.
func (p *printer) track() output.Tracker {
	if p.tally == nil {
		return nil
	}
	return p.tally
}

// stop ends the progress line.
func (p *printer) stop() {
	if p.progress != nil {
		setTerminalQuiet(nil)
		p.progress.Stop()
		p.progress = nil
	}
}

// finish takes the progress line away, prints what the view held back and
// the summary. Like the lines, a view that cannot be written (stdout closed
// by "| head") is not an error.
func (p *printer) finish() {
	p.stop()
	if p.view != nil {
		_ = p.view.Close()
	}
	if p.summary {
		fmt.Fprintln(p.stderr, p.tally.Summary(time.Since(p.start), hosts.Fold, p.color))
	}
}
