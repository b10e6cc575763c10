package modules

import (
	"context"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

// Tag prints or changes the tags of the matched hosts in the inventory.
type Tag struct{}

// Name implements Module.
func (Tag) Name() string { return "tag" }

// Summary implements Module.
func (Tag) Summary() string {
	return "print the hosts' tags, or add (+T) and remove (-T) tags in the inventory"
}

// Usage implements Module.
func (Tag) Usage() string {
	return `dt PATTERN tag [+TAG | TAG | -TAG]...

Without arguments, prints each matched host's tags (like list). With
arguments, edits the inventory (-D FILE, $DTOOLS_DB or ~/.dtdb): "+T" or
"T" adds tag T to every matched host, "-T" removes it, and each host's
line shows its tags afterwards:

  $ dt tag:web tag +prod -staging
  okay::dt:tag:web1:linux web prod
  okay::dt:tag:web2:linux web prod

The edit is one transaction under a lock: concurrent dt runs never lose
each other's changes, comments, blank lines and the order of hosts stay
as they are, and the file is replaced whole (a crash leaves the old file
or the new one). A host the inventory lacks fails; add it first with
dt sys:HOST add. Nothing connects to the hosts.`
}

// Prepare implements Module.
func (m Tag) Prepare(args []string, opts Options) (Job, error) {
	add, remove, err := parseTagArgs(m.Name(), args)
	if err != nil {
		return nil, err
	}
	return tagJob{add: add, remove: remove, file: opts.Inventory}, nil
}

type tagJob struct {
	add, remove []string
	file        string
}

// Local implements LocalJob: tag never dials.
func (tagJob) Local() bool { return true }

// Run prints one host's tags (tag without arguments).
func (tagJob) Run(_ context.Context, h *Host, emit func(output.Record)) {
	emit(h.Okay([]byte(tagList(h.Entry.Tags))))
}

// RunBatch implements BatchJob: every host's tags change in one edit.
func (j tagJob) RunBatch(ctx context.Context, hs []*Host, _ func(func(context.Context, *Host)), emit func(output.Record)) {
	if len(j.add) == 0 && len(j.remove) == 0 {
		for _, h := range hs {
			j.Run(ctx, h, emit)
		}
		return
	}
	for _, r := range editInventory(j.file, false, hs, func(d *hosts.Doc, h *Host) output.Record {
		if !d.SetTags(h.Name(), j.add, j.remove) {
			return notInInventory(h, j.file)
		}
		now, _ := d.Lookup(h.Name())
		return h.Okay([]byte(tagList(now.Tags)))
	}) {
		emit(r)
	}
}
