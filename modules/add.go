package modules

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Add adds hosts to the inventory, with tags, after fetching their host
// keys.
type Add struct{}

// Name implements Module.
func (Add) Name() string { return "add" }

// Summary implements Module.
func (Add) Summary() string {
	return "add hosts to the inventory with tags, after fetching their host keys (ssh-keyscan)"
}

// Usage implements Module.
func (Add) Usage() string {
	return `dt PATTERN add [--no-keyscan] [TAG...]

Adds the matched hosts to the inventory (-D FILE, $DTOOLS_DB or ~/.dtdb,
created if missing) with the tags given, as "[user@]host[:port] TAG...",
the way they were named (a host reached through a jump host gets it from
ssh_config's ProxyJump, or from "|jump" written on its line):

  dt sys:web[01-04],root@db1:2222 add linux web
  dt --host-keys accept-new sys:new1 add linux

First each host's key is fetched over SSH, as ssh-keyscan does (connect,
key exchange, hang up before logging in; jump hosts and ProxyCommand as
for any connection), and checked under --host-keys: a key known_hosts has
is verified; a new key is recorded in known_hosts under --host-keys
accept-new (the way dtools' keyscan did) and refused under strict, the
default; a changed key is always refused. A host whose key was refused or
that cannot be reached is not added and fails with the reason.
--no-keyscan adds without connecting.

A host already in the inventory keeps its line and gets the tags it
lacks ("present"); naming it with a different user, port or jump host
fails. The edit is one transaction under a lock: comments, blank lines
and order stay, and the file is replaced whole (a crash leaves the old
file or the new one).

  okay::dt:add:web01:added (tags: linux web); host key ssh-ed25519 SHA256:... recorded in ~/.ssh/known_hosts
  okay::dt:add:web02:present (tags: linux web db); host key ssh-ed25519 SHA256:... verified`
}

// Prepare implements Module.
func (m Add) Prepare(args []string, opts Options) (Job, error) {
	fs := flag.NewFlagSet(m.Name(), flag.ContinueOnError)
	noScan := fs.Bool("no-keyscan", false, "add without fetching the host keys")
	tags, err := parseArgs(m.Name(), fs, args)
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		if err := hosts.CheckTag(t); err != nil {
			return nil, usagef(m.Name(), "%v", err)
		}
	}
	return &addJob{tags: tags, noScan: *noScan, file: opts.Inventory}, nil
}

type addJob struct {
	tags   []string
	noScan bool
	file   string
}

// Local implements LocalJob: with --no-keyscan nothing connects; the
// key scan resolves each host itself.
func (j *addJob) Local() bool { return true }

func (j *addJob) Run(_ context.Context, h *Host, emit func(output.Record)) {
	emit(h.moduleFail("add works on all hosts at once"))
}

// RunBatch implements BatchJob: scan every host's key (fanned out), then
// add those that passed in one edit.
func (j *addJob) RunBatch(ctx context.Context, hs []*Host, each func(func(context.Context, *Host)), emit func(output.Record)) {
	scans := make(map[*Host]runner.KeyScan, len(hs))
	var ok []*Host
	if j.noScan {
		ok = hs
	} else {
		results := make([]runner.KeyScan, len(hs))
		errs := make([]error, len(hs))
		index := make(map[*Host]int, len(hs))
		for i, h := range hs {
			index[h] = i
		}
		each(func(ctx context.Context, h *Host) {
			i := index[h]
			results[i], errs[i] = h.ScanHostKey(ctx)
		})
		for i, h := range hs {
			if errs[i] != nil {
				emit(h.Fail(errs[i]))
				continue
			}
			scans[h] = results[i]
			ok = append(ok, h)
		}
	}
	if len(ok) == 0 {
		return
	}
	for _, r := range editInventory(j.file, true, ok, func(d *hosts.Doc, h *Host) output.Record {
		before, _ := d.Lookup(h.Name())
		added, err := d.Add(h.Entry, j.tags)
		if err != nil {
			return h.moduleFail(err.Error())
		}
		now, _ := d.Lookup(h.Name())
		var b strings.Builder
		if added {
			fmt.Fprintf(&b, "added (tags: %s)", tagList(now.Tags))
		} else {
			var news []string
			for _, t := range j.tags {
				if !slices.Contains(before.Tags, t) && !slices.Contains(news, t) {
					news = append(news, t)
				}
			}
			fmt.Fprintf(&b, "present (tags: %s", tagList(now.Tags))
			if len(news) > 0 {
				fmt.Fprintf(&b, "; new: %s", strings.Join(news, " "))
			}
			b.WriteString(")")
		}
		b.WriteString("; ")
		b.WriteString(scanNote(scans[h], j.noScan))
		return h.Okay([]byte(b.String()))
	}) {
		emit(r)
	}
}

// scanNote says what became of a host's key.
func scanNote(s runner.KeyScan, skipped bool) string {
	if skipped || s.Key == nil {
		return "host key not fetched (--no-keyscan)"
	}
	key := s.Key.Type() + " " + ssh.FingerprintSHA256(s.Key)
	switch s.Check {
	case runner.KeyRecorded:
		if s.File != "" {
			return "host key " + key + " recorded in " + s.File
		}
		return "host key " + key + " accepted"
	case runner.KeyUnchecked:
		return "host key " + key + " not checked (--host-keys off)"
	}
	return "host key " + key + " verified"
}
