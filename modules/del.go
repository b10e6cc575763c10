package modules

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

// Del removes the matched hosts from the inventory.
type Del struct{}

// Name implements Module.
func (Del) Name() string { return "del" }

// Summary implements Module.
func (Del) Summary() string {
	return "remove the matched hosts from the inventory (--yes past one host)"
}

// Usage implements Module.
func (Del) Usage() string {
	return `dt PATTERN del [--yes]

Removes every line of each matched host from the inventory (-D FILE,
$DTOOLS_DB or ~/.dtdb); comments, blank lines and the other hosts stay as
they are. The edit is one transaction under a lock, and the file is
replaced whole. known_hosts is left alone. Nothing connects to the hosts.

More than one host needs a confirmation: on a terminal dt asks (y/N);
otherwise it refuses unless --yes is given.

  dt sys:old1 del
  dt tag:retired del --yes`
}

// Prepare implements Module.
func (m Del) Prepare(args []string, opts Options) (Job, error) {
	fs := flag.NewFlagSet(m.Name(), flag.ContinueOnError)
	yes := fs.Bool("yes", false, "delete more than one host without asking")
	rest, err := parseArgs(m.Name(), fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, usagef(m.Name(), "takes no arguments but --yes, got %q", rest)
	}
	return delJob{yes: *yes, file: opts.Inventory, confirm: opts.Confirm}, nil
}

type delJob struct {
	yes     bool
	file    string
	confirm func(string) (bool, error)
}

// Local implements LocalJob: del never dials.
func (delJob) Local() bool { return true }

// CheckHosts implements HostsChecker: past one host, --yes or a yes on
// the terminal.
func (j delJob) CheckHosts(hs []hosts.Host) error {
	if len(hs) <= 1 || j.yes {
		return nil
	}
	if j.confirm == nil {
		return usagef("del", "the pattern matched %d hosts; deleting more than one needs --yes", len(hs))
	}
	names := make([]string, 0, 10)
	for i, h := range hs {
		if i == 10 {
			names = append(names, fmt.Sprintf("and %d more", len(hs)-10))
			break
		}
		names = append(names, h.Name)
	}
	ok, err := j.confirm(fmt.Sprintf("dt: delete %d hosts from %s (%s)? [y/N] ", len(hs), j.file, strings.Join(names, ", ")))
	if err != nil {
		return fmt.Errorf("del: %w", err)
	}
	if !ok {
		return fmt.Errorf("del: %w; nothing deleted", ErrDeclined)
	}
	return nil
}

func (delJob) Run(_ context.Context, h *Host, emit func(output.Record)) {
	emit(h.moduleFail("del works on all hosts at once"))
}

// RunBatch implements BatchJob: every host goes in one edit.
func (j delJob) RunBatch(_ context.Context, hs []*Host, _ func(func(context.Context, *Host)), emit func(output.Record)) {
	for _, r := range editInventory(j.file, false, hs, func(d *hosts.Doc, h *Host) output.Record {
		old, ok := d.Lookup(h.Name())
		if !ok || !d.Delete(h.Name()) {
			return notInInventory(h, j.file)
		}
		return h.Okay([]byte("deleted (tags were: " + tagList(old.Tags) + ")"))
	}) {
		emit(r)
	}
}
