package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// deployScript is step 1 of the deploy hook: the new configuration of the
// demo unit, a drop-in written atomically (as a copy would), with a value
// that changes every run.
const deployScript = `#!/bin/sh
set -e
d=/etc/systemd/system/demo-ok.service.d
mkdir -p "$d"
printf '[Service]\nEnvironment=DEPLOY=%s\n' "$1" > "$d/bench.conf.tmp"
mv "$d/bench.conf.tmp" "$d/bench.conf"
`

// deploySteps are the four dt commands of a deploy hook: install the new
// configuration, daemon-reload, restart (checked at once: --settle 0, so
// that the 2 s settle window does not hide what the connections cost),
// and the unit's journal.
func deploySteps(script string, rep int) [][]string {
	return [][]string{
		{"script", script, strconv.Itoa(rep)},
		{"systemctl", "daemon-reload"},
		{"systemctl", "--settle", "0", "restart", "demo-ok"},
		{"journal", "demo-ok", "-n", "5"},
	}
}

// deployRun is one measured deploy-hook sequence.
type deployRun struct {
	mode                        string
	wall, dtCPU, keeperCPU, srv float64
	logins                      int
	failed                      int
}

// benchDeploy runs the deploy hook (deploySteps, four dt commands one
// after the other, as a hook script would) on -deploy N systemd
// containers, cold and warm (--persist, after a first "ssh true" left the
// connections in the keeper), interleaved, -reps times each, and reports
// wall time, logins (sshd's logs), dt's CPU, the keeper's CPU and the
// containers' CPU.
func benchDeploy(ctx context.Context, c config) error {
	sb, err := startSystemdBench(ctx, c, "deploy", c.deploy)
	if err != nil {
		return err
	}
	defer sb.Close()
	dir, f := sb.dir, sb.fleet
	script := filepath.Join(dir, "install.sh")
	if err := os.WriteFile(script, []byte(deployScript), 0o755); err != nil {
		return err
	}
	xdg := filepath.Join(dir, "xdg")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		return err
	}
	dt := sb.dt(ctx, append(f.Env(), "XDG_RUNTIME_DIR="+xdg), "-N", "-F", f.SSHConfig, "-D", f.DB, "-C", strconv.Itoa(c.fanout))
	stopKeeper := func() { dt("mux", "stop") }
	defer stopKeeper()

	var runs []deployRun
	for rep := 1; rep <= c.reps; rep++ {
		for _, mode := range []string{"cold", modeWarm} {
			persist := "0"
			if mode == modeWarm {
				persist = warmPersist
				if _, err := dt("--persist", persist, "all:", "ssh", "true"); err != nil {
					return err
				}
			}
			time.Sleep(500 * time.Millisecond) // let the containers settle
			r := deployRun{mode: mode}
			l0, _ := f.TotalHandshakes()
			s0 := cgroupsCPU(f.Cgroups())
			k0 := keeperCPU(xdg)
			t0 := time.Now()
			for i, step := range deploySteps(script, len(runs)+1) {
				cmd, err := dt(append([]string{"--persist", persist, "all:"}, step...)...)
				if err != nil {
					r.failed++
					fmt.Fprintf(os.Stderr, "dtbench: deploy %s step %d: %v\n", mode, i+1, err)
				}
				if cmd.ProcessState != nil {
					r.dtCPU += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
				}
			}
			r.wall = time.Since(t0).Seconds()
			r.keeperCPU = keeperCPU(xdg) - k0
			time.Sleep(500 * time.Millisecond) // the last sessions' teardown
			r.srv = cgroupsCPU(f.Cgroups()) - s0
			l1, _ := f.TotalHandshakes()
			r.logins = l1 - l0
			runs = append(runs, r)
			fmt.Fprintf(os.Stderr, "dtbench: deploy %-5s rep %d  wall %.2fs  logins %d  dt cpu %.2fs  keeper cpu %.2fs  containers cpu %.2fs  failed steps %d\n",
				mode, rep, r.wall, r.logins, r.dtCPU, r.keeperCPU, r.srv, r.failed)
			if mode == modeWarm {
				stopKeeper()
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Deploy hook (install a drop-in with `script`, `systemctl daemon-reload`, `systemctl --settle 0 restart demo-ok`, `journal demo-ok -n 5`: four dt commands) on %d systemd containers, dt fanout %d; medians of %d (min–max).\n\n", c.deploy, c.fanout, c.reps)
	b.WriteString("| mode | wall s | logins | dt CPU s | keeper CPU s | containers' CPU s | failed steps |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, mode := range []string{"cold", modeWarm} {
		var wall, dtc, kc, srv, logins []float64
		failed := 0
		for _, r := range runs {
			if r.mode == mode {
				wall, dtc, kc, srv, logins = append(wall, r.wall), append(dtc, r.dtCPU), append(kc, r.keeperCPU), append(srv, r.srv), append(logins, float64(r.logins))
				failed += r.failed
			}
		}
		w := statOf(wall)
		fmt.Fprintf(&b, "| %s | %.2f (%.2f–%.2f) | %.0f | %.2f | %.2f | %.2f | %d |\n", mode, w.Med, w.Min, w.Max, median(logins), median(dtc), median(kc), median(srv), failed)
	}
	out := filepath.Join(c.out, c.label)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	fmt.Print(b.String())
	return os.WriteFile(filepath.Join(out, "deploy.md"), []byte(b.String()), 0o644)
}

// cgroupsCPU sums usage_usec over the cgroups that account CPU, seconds.
func cgroupsCPU(dirs []string) float64 {
	var total time.Duration
	for _, d := range dirs {
		cg := &cgroup{dir: d}
		if u, _, _, err := cg.cpu(); err == nil {
			total += u
		}
	}
	return total.Seconds()
}

// keeperCPU is the CPU time so far of the keeper of runtime directory
// xdg (0 when none runs).
func keeperCPU(xdg string) float64 {
	ents, _ := os.ReadDir("/proc")
	tick := 100.0 // USER_HZ
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if !strings.HasSuffix(string(cmdline), "\x00mux\x00serve\x00") || !strings.Contains("\x00"+string(environ), "\x00XDG_RUNTIME_DIR="+xdg+"\x00") {
			continue
		}
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 12 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			return (ut + st) / tick
		}
	}
	return 0
}
