package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// RunitServices are the services every host gets with Options.Runit, by
// name: the text of their ./run script.
//
//   - sleeper runs (sleep 100000).
//   - flaky runs for 2 s, exits 1, and is restarted by runsv a second later.
//   - stopped has a ./down file, so runsv does not start it.
//   - crashing fails at start (prints to stderr, exits 1): runsv retries
//     every second, so it is "down, normally up, want up" nearly always.
//   - logged runs (sleep 100002) and has a log service (RunitLogServices).
//   - slowstop runs (sleep 100003) and takes 1.5 s to stop after TERM, for
//     tests of sv's -w wait.
var RunitServices = map[string]string{
	"sleeper":  "#!/bin/sh\nexec sleep 100000\n",
	"flaky":    "#!/bin/sh\nsleep 2\nexit 1\n",
	"stopped":  "#!/bin/sh\nexec sleep 100000\n",
	"crashing": "#!/bin/sh\necho 'crashing: cannot start' >&2\nexit 1\n",
	"logged":   "#!/bin/sh\necho started\nexec sleep 100002\n",
	"slowstop": "#!/bin/sh\ntrap 'sleep 1.5; kill $pid; exit 0' TERM\nsleep 100003 &\npid=$!\nwait $pid\n",
}

// RunitDown are the RunitServices that have a ./down file.
var RunitDown = map[string]bool{"stopped": true}

// RunitLogServices are the RunitServices that have a log service: the
// text of their ./log/run script.
var RunitLogServices = map[string]string{
	"logged": "#!/bin/sh\nexec cat >/dev/null\n",
}

// writeServices creates h.SVDir with the RunitServices, owned by the login
// user (runsv, running as that user, creates supervise/ in each).
func (f *Fleet) writeServices(h *Host) error {
	if err := mkdir(h.SVDir, 0o755); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	chown := []string{h.SVDir}
	for name, run := range RunitServices {
		sd := filepath.Join(h.SVDir, name)
		// A reused Dir may hold a previous run's supervise/: start afresh.
		if err := os.RemoveAll(filepath.Join(sd, "supervise")); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
		if err := mkdir(sd, 0o755); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
		if err := writeFile(filepath.Join(sd, "run"), []byte(run), 0o755); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
		chown = append(chown, sd, filepath.Join(sd, "run"))
		if logRun, ok := RunitLogServices[name]; ok {
			ld := filepath.Join(sd, "log")
			if err := os.RemoveAll(filepath.Join(ld, "supervise")); err != nil {
				return fmt.Errorf("fleet: %w", err)
			}
			if err := mkdir(ld, 0o755); err != nil {
				return fmt.Errorf("fleet: %w", err)
			}
			if err := writeFile(filepath.Join(ld, "run"), []byte(logRun), 0o755); err != nil {
				return fmt.Errorf("fleet: %w", err)
			}
			chown = append(chown, ld, filepath.Join(ld, "run"))
		}
		if RunitDown[name] {
			if err := writeFile(filepath.Join(sd, "down"), nil, 0o644); err != nil {
				return fmt.Errorf("fleet: %w", err)
			}
			chown = append(chown, filepath.Join(sd, "down"))
		}
	}
	for _, p := range chown {
		if err := os.Lchown(p, f.login.uid, f.login.gid); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
	}
	return nil
}

// waitRunit waits until every host's runsv has set up every service (its
// supervise/stat exists), so that `sv status` works at once.
func (f *Fleet) waitRunit(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for i := range f.Hosts {
		h := &f.Hosts[i]
		var stats []string
		for name := range RunitServices {
			stats = append(stats, filepath.Join(h.SVDir, name, "supervise", "stat"))
			if _, ok := RunitLogServices[name]; ok {
				stats = append(stats, filepath.Join(h.SVDir, name, "log", "supervise", "stat"))
			}
		}
		for _, stat := range stats {
			name := filepath.Base(filepath.Dir(filepath.Dir(stat)))
			for {
				if _, err := os.Stat(stat); err == nil {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("fleet: runit of %s did not start %s%s", h.Name, name, tail(filepath.Join(h.Dir, "runsvdir.log"), 2000))
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}
	return nil
}

// stopRunit stops the runsvdir of host (of all hosts if host is "")
// gracefully: SIGHUP makes runsvdir send TERM to each runsv, which stops its
// service and exits. It waits up to 2 s; whatever is left dies with the host.
func (f *Fleet) stopRunit(host string) {
	isRunit := func(pid int) bool {
		if host != "" {
			if v, _ := envOf(pid, "DT_TEST_HOST"); v != host {
				return false
			}
		}
		c := comm(pid)
		return c == "runsvdir" || c == "runsv"
	}
	pids, err := fleetProcs(f.ID, "runsvdir")
	if err != nil {
		return
	}
	for _, pid := range pids {
		if isRunit(pid) && comm(pid) == "runsvdir" {
			_ = syscall.Kill(pid, syscall.SIGHUP)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		pids, err := fleetProcs(f.ID, "runsv")
		if err != nil {
			return
		}
		left := 0
		for _, pid := range pids {
			if isRunit(pid) {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
