package modules

import (
	"context"
	"strings"

	"github.com/dtools/dt/output"
)

// List prints the matched hosts and their tags without connecting.
type List struct{}

// Name implements Module.
func (List) Name() string { return "list" }

// Summary implements Module.
func (List) Summary() string { return "print each matched host with its tags (no connection)" }

// Usage implements Module.
func (List) Usage() string {
	return `dt PATTERN list

Prints one okay line per matched host with its tags, space-separated, and
connects to nothing:

  $ dt tag:web list
  okay::dt:list:web1:linux web prod`
}

// Prepare implements Module.
func (m List) Prepare(args []string, _ Options) (Job, error) {
	if len(args) > 0 {
		return nil, usagef(m.Name(), "takes no arguments, got %q", args)
	}
	return listJob{}, nil
}

type listJob struct{}

// Local implements LocalJob: list never dials.
func (listJob) Local() bool { return true }

func (listJob) Run(_ context.Context, h *Host, emit func(output.Record)) {
	emit(h.Okay([]byte(strings.Join(h.Entry.Tags, " "))))
}
