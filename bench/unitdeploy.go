package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// unitDeployName is the unit the deploy benchmark installs.
const unitDeployName = "dtbench-app.service"

// unitDeployFile is its content; version changes it.
func unitDeployFile(version int) string {
	return fmt.Sprintf("[Unit]\nDescription=dtbench deploy app\n[Service]\nEnvironment=VERSION=%d\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n", version)
}

// unitDeployCase is one measured way of deploying.
type unitDeployCase struct {
	name  string // "deploy" or "4 commands"
	state string // new, unchanged, changed
}

// unitDeployRun is one measured deploy.
type unitDeployRun struct {
	unitDeployCase
	wall, dtCPU, srv float64
	logins           int
	failed           int
}

// benchUnitDeploy measures the deploy module against the same work as four
// separate dt commands (copy, systemctl daemon-reload, systemctl restart,
// journal), cold (no --persist), on -unit-deploy N systemd containers: a
// new unit, the same unit again (unchanged) and a changed one. Both check
// the unit at once (--settle 0), so that the settle window, the same for
// both, does not hide what the rest costs. Each rep runs every case, the
// two ways alternating, the new-unit cases from a host without the unit.
func benchUnitDeploy(ctx context.Context, c config) error {
	sb, err := startSystemdBench(ctx, c, "unitdeploy", c.unitDeploy)
	if err != nil {
		return err
	}
	defer sb.Close()
	dir, f := sb.dir, sb.fleet
	dt := sb.dt(ctx, f.Env(), "-N", "--persist", "0", "-F", f.SSHConfig, "-D", f.DB, "-C", strconv.Itoa(c.fanout))
	// reset removes the unit from every container, unmeasured.
	reset := func() error {
		var wg sync.WaitGroup
		errs := make([]error, len(f.Hosts))
		for i, h := range f.Hosts {
			wg.Add(1)
			go func(i int, h string) {
				defer wg.Done()
				out, err := f.Exec(ctx, h, "systemctl disable --now "+unitDeployName+" 2>/dev/null; rm -f /etc/systemd/system/"+unitDeployName+"*; systemctl daemon-reload")
				if err != nil {
					errs[i] = fmt.Errorf("%s: reset: %v: %s", h, err, out)
				}
			}(i, h.Name)
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	version := 0
	unitFile := func() (string, error) {
		version++
		d := filepath.Join(dir, "v"+strconv.Itoa(version))
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
		p := filepath.Join(d, unitDeployName)
		return p, os.WriteFile(p, []byte(unitDeployFile(version)), 0o644)
	}
	steps := func(way, file string) [][]string {
		if way == "deploy" {
			return [][]string{{"deploy", "--settle", "0", file}}
		}
		return [][]string{
			{"copy", file, "/etc/systemd/system/"},
			{"systemctl", "daemon-reload"},
			{"systemctl", "--settle", "0", "restart", unitDeployName},
			{"journal", unitDeployName, "-n", "5"},
		}
	}
	measure := func(cs unitDeployCase, file string) unitDeployRun {
		time.Sleep(300 * time.Millisecond) // let the containers settle
		r := unitDeployRun{unitDeployCase: cs}
		l0, _ := f.TotalHandshakes()
		s0 := cgroupsCPU(f.Cgroups())
		t0 := time.Now()
		for _, step := range steps(cs.name, file) {
			cmd, err := dt(append([]string{"all:"}, step...)...)
			if err != nil {
				r.failed++
				fmt.Fprintf(os.Stderr, "dtbench: %s %s: %v\n", cs.name, cs.state, err)
			}
			if cmd.ProcessState != nil {
				r.dtCPU += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
			}
		}
		r.wall = time.Since(t0).Seconds()
		time.Sleep(300 * time.Millisecond) // the last sessions' teardown
		r.srv = cgroupsCPU(f.Cgroups()) - s0
		l1, _ := f.TotalHandshakes()
		r.logins = l1 - l0
		fmt.Fprintf(os.Stderr, "dtbench: unit deploy %-10s %-9s wall %.2fs  logins %d  dt cpu %.2fs  containers cpu %.2fs  failed %d\n",
			cs.name, cs.state, r.wall, r.logins, r.dtCPU, r.srv, r.failed)
		return r
	}

	ways := []string{"deploy", "4 commands"}
	var runs []unitDeployRun
	for rep := 1; rep <= c.reps; rep++ {
		if rep%2 == 0 { // alternate which way goes first
			ways[0], ways[1] = ways[1], ways[0]
		}
		for _, way := range ways {
			if err := reset(); err != nil {
				return err
			}
			file, err := unitFile()
			if err != nil {
				return err
			}
			runs = append(runs, measure(unitDeployCase{way, "new"}, file))
			runs = append(runs, measure(unitDeployCase{way, "unchanged"}, file))
			if file, err = unitFile(); err != nil {
				return err
			}
			runs = append(runs, measure(unitDeployCase{way, "changed"}, file))
		}
	}
	if err := reset(); err != nil {
		return err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "deploy of one unit on %d systemd containers, cold (no --persist), dt fanout %d, --settle 0; against the same as four dt commands "+
		"(`copy`, `systemctl daemon-reload`, `systemctl --settle 0 restart`, `journal -n 5`); medians of %d (min–max).\n\n", c.unitDeploy, c.fanout, c.reps)
	b.WriteString("| unit | way | wall s | logins | dt CPU s | containers' CPU s | failed |\n|---|---|---|---:|---:|---:|---:|\n")
	for _, state := range []string{"new", "unchanged", "changed"} {
		for _, way := range []string{"deploy", "4 commands"} {
			var wall, dtc, srv, logins []float64
			failed := 0
			for _, r := range runs {
				if r.name == way && r.state == state {
					wall, dtc, srv, logins = append(wall, r.wall), append(dtc, r.dtCPU), append(srv, r.srv), append(logins, float64(r.logins))
					failed += r.failed
				}
			}
			w := statOf(wall)
			fmt.Fprintf(&b, "| %s | %s | %.2f (%.2f–%.2f) | %.0f | %.2f | %.2f | %d |\n", state, way, w.Med, w.Min, w.Max, median(logins), median(dtc), median(srv), failed)
		}
	}
	out := filepath.Join(c.out, c.label)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	fmt.Print(b.String())
	return os.WriteFile(filepath.Join(out, "unit-deploy.md"), []byte(b.String()), 0o644)
}
