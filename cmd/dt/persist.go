package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dtools/dt/runner"
	"github.com/dtools/dt/runner/mux"
)

// parsePersist reads --persist (or DT_PERSIST): a duration or a number of
// seconds, or 0/no/off for "keep nothing this run".
func parsePersist(s string) (time.Duration, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "0", "no", "off", "false":
		return 0, nil
	}
	d, err := parseDuration("persist", s)
	if err != nil {
		return 0, flagErrorf("--persist %q: want a duration like 10m, 90s or a number of seconds, or 0/no to keep nothing", s)
	}
	return d, nil
}

// keeper returns the connection keeper client for a run, or nil when the
// run keeps nothing (--persist 0). With no --persist and no DT_PERSIST
// the keeper is only reached for hosts whose ssh_config sets
// ControlPersist, and only when one is asked for.
func keeper(opts options, e env) *mux.Client {
	if opts.persist == 0 {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "dt"
	}
	return mux.NewClient(mux.Options{
		Dir:     mux.Dir(e.getenv),
		Exe:     exe,
		Getenv:  e.getenv,
		Environ: os.Environ(),
		Shell:   e.getenv("SHELL"),
		Warn:    func(msg string) { fmt.Fprintf(e.stderr, "dt: warning: %s\n", msg) },
	})
}

// defaultPersist is opts.persist when neither --persist nor DT_PERSIST
// says: each host's ssh_config ControlPersist.
const defaultPersist = runner.PersistSSHConfig
