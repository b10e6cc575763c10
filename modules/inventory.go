package modules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

// editInventory runs one transaction on the inventory file for hosts hs
// (hosts.UpdateFile: locked, never half written): edit is called for each
// host with the document and returns the host's record, made before the
// file is written. When the transaction fails, every host's record
// becomes a failure saying why, and nothing was written. create lets a
// missing file be created (add).
func editInventory(file string, create bool, hs []*Host, edit func(d *hosts.Doc, h *Host) output.Record) []output.Record {
	recs := make([]output.Record, len(hs))
	if file == "" {
		for i, h := range hs {
			recs[i] = h.moduleFail("no inventory file to edit; use -D FILE")
		}
		return recs
	}
	err := hosts.UpdateFile(file, create, func(d *hosts.Doc) error {
		for i, h := range hs {
			recs[i] = edit(d, h)
		}
		return nil
	})
	if err != nil {
		msg := err.Error()
		if errors.Is(err, hosts.ErrNoInventory) {
			msg = fmt.Sprintf("no inventory file %s yet; dt sys:HOST add creates it", file)
		}
		for i, h := range hs {
			recs[i] = h.moduleFail("inventory not changed: " + msg)
		}
	}
	return recs
}

// moduleFail is a failure of the module's own (stage module).
func (h *Host) moduleFail(msg string) output.Record {
	return h.Record(output.Fail, output.StageModule, []byte(msg), -1)
}

// notInInventory is the failure of a host the inventory lacks.
func notInInventory(h *Host, file string) output.Record {
	return h.moduleFail(fmt.Sprintf("not in the inventory %s; add it with: dt sys:%s add", file, h.Entry.Hop.String()))
}

// tagList writes tags for a record: space-separated, "-" for none.
func tagList(tags []string) string {
	if len(tags) == 0 {
		return "-"
	}
	return strings.Join(tags, " ")
}

// parseTagArgs parses tag's arguments: "+T" or "T" adds T, "-T" removes
// it.
func parseTagArgs(module string, args []string) (add, remove []string, err error) {
	for _, a := range args {
		t, rm := a, false
		switch {
		case strings.HasPrefix(a, "+"):
			t = a[1:]
		case strings.HasPrefix(a, "-"):
			t, rm = a[1:], true
		}
		if err := hosts.CheckTag(t); err != nil {
			return nil, nil, usagef(module, "%q: %v", a, err)
		}
		if rm {
			remove = append(remove, t)
		} else {
			add = append(add, t)
		}
	}
	return add, remove, nil
}
