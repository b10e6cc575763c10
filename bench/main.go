// Command dtbench runs the same jobs through dt and its rivals (pdsh,
// ClusterShell, parallel-ssh, ansible) against a loopback fleet of real sshd
// hosts (internal/fleet) and measures, per run: wall time, the client's CPU
// and peak memory (its own cgroup), the fleet's sshd CPU (the fleet's
// cgroup), server-side handshakes and failed hosts. It writes the raw runs
// and a Markdown summary under -out. bench/run.sh is the one command that
// installs the rivals, builds everything and runs it; BENCHMARKS.md says
// what every number means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/runner"
)

// cell is one combination measured reps times.
type cell struct {
	Size int    `json:"size"`
	Job  string `json:"job"`
	Tool string `json:"tool"`
	Mode string `json:"mode"` // modeDefault, modeTuned; modeDT (cold) or modeWarm for dt
	// Latency is the one-way delay the fleet's relays add, in ms (0: no
	// relay, the hosts are dialed directly).
	Latency int `json:"latency_ms,omitempty"`
}

func (c cell) String() string {
	s := fmt.Sprintf("%d/%s/%s/%s", c.Size, c.Job, c.Tool, c.Mode)
	if c.Latency > 0 {
		s += fmt.Sprintf("/%dms", c.Latency)
	}
	return s
}

// config is the command line.
type config struct {
	sizes       []int
	scaleSizes  []int
	reps        int
	tools       []string
	modes       []string
	jobs        []string
	bigJobs     []string
	allJobsMax  int
	ansibleMax  int
	defaultsAt  []int
	ansibleJobs []string
	fanout      int
	dtModes     []string
	dtBase      string
	latencies   []int // one-way, ms
	rtt         bool
	deploy      int
	unitDeploy  int
	dt          string
	out         string
	label       string
	dryRun      bool
}

func main() {
	os.Exit(run())
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func strList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run() int {
	var c config
	fs := flag.NewFlagSet("dtbench", flag.ContinueOnError)
	sizes := fs.String("sizes", "100,300,500", "fleet sizes for every tool")
	scale := fs.String("scale", "1000", "fleet sizes for dt alone (empty: none)")
	fs.IntVar(&c.reps, "reps", 3, "repetitions of every cell (runs are interleaved: rep 1 of every cell, then rep 2...)")
	toolsF := fs.String("tools", "dt,pdsh,clush,pssh,ansible", "tools to run")
	modesF := fs.String("modes", "default,tuned", "rival modes: default (OpenSSH and tool defaults), tuned (curve25519, fanout = dt's)")
	jobsF := fs.String("jobs", "true,hostname,seq3", "jobs at sizes <= -all-jobs-max (true, hostname, seq3, seq3line)")
	bigJobsF := fs.String("big-jobs", "true", "jobs at sizes > -all-jobs-max, and at the -scale sizes")
	fs.IntVar(&c.allJobsMax, "all-jobs-max", 100, "largest size that runs every -jobs job")
	fs.IntVar(&c.ansibleMax, "ansible-max", 100, "largest size ansible runs at (it is slow)")
	ansibleJobsF := fs.String("ansible-jobs", "hostname", "jobs ansible runs (it is slow)")
	defaultsAt := fs.String("defaults-at", "100,500", "sizes at which the rivals also run with their defaults")
	fs.IntVar(&c.fanout, "fanout", runner.DefaultFanout, "dt's fanout, also given to the tuned rivals")
	latencyF := fs.String("latency", "0", "one-way delays in ms that a relay in front of every host adds (0: no relay); every cell runs at each")
	fs.BoolVar(&c.rtt, "rtt", false, "measure the round trips of one cold login (dt, OpenSSH's ssh) through a relay, instead of the matrix")
	fs.IntVar(&c.deploy, "deploy", 0, "run the deploy-hook sequence (four dt commands) cold and warm on N systemd containers, instead of the matrix")
	fs.IntVar(&c.unitDeploy, "unit-deploy", 0, "run the deploy module (new, unchanged, changed unit) against the same as four dt commands on N systemd containers, instead of the matrix")
	fs.StringVar(&c.dt, "dt", "bin/dt", "dt binary")
	dtModesF := fs.String("dt-modes", "cold", "dt's modes: cold or - (lines on a pipe, a run of its own), warm (over the connections a first run left in the keeper, --persist), gather (-b), tty (stdout and stderr on a terminal, -q), progress (on a terminal with the progress line and summary), base (the -dt-base binary), sort (--sort), batch (--batch 10%)")
	fs.StringVar(&c.dtBase, "dt-base", "", "a baseline dt binary for mode base (e.g. built from main)")
	fs.StringVar(&c.out, "out", "bench/results", "directory for results (a subdirectory per run)")
	fs.StringVar(&c.label, "label", "", "label of this run (default: date and time)")
	fs.BoolVar(&c.dryRun, "n", false, "print the matrix and exit")
	report := fs.String("report", "", "write summary.md and summary.json again from `DIR`/runs.json, run nothing")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var err error
	if c.sizes, err = intList(*sizes); err != nil {
		fmt.Fprintln(os.Stderr, "dtbench: error: -sizes:", err)
		return 2
	}
	if c.scaleSizes, err = intList(*scale); err != nil {
		fmt.Fprintln(os.Stderr, "dtbench: error: -scale:", err)
		return 2
	}
	if c.defaultsAt, err = intList(*defaultsAt); err != nil {
		fmt.Fprintln(os.Stderr, "dtbench: error: -defaults-at:", err)
		return 2
	}
	c.tools, c.modes, c.jobs, c.bigJobs = strList(*toolsF), strList(*modesF), strList(*jobsF), strList(*bigJobsF)
	for _, f := range strList(*latencyF) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "dtbench: error: -latency: %q is not a number of ms\n", f)
			return 2
		}
		c.latencies = append(c.latencies, n)
	}
	c.ansibleJobs = strList(*ansibleJobsF)
	for _, m := range strList(*dtModesF) {
		if m == "cold" {
			m = modeDT
		}
		c.dtModes = append(c.dtModes, m)
		if !contains(dtModes, m) {
			fmt.Fprintf(os.Stderr, "dtbench: error: unknown dt mode %q (%s)\n", m, strings.Join(dtModes, ", "))
			return 2
		}
		if m == modeBase && c.dtBase == "" {
			fmt.Fprintln(os.Stderr, "dtbench: error: dt mode base needs -dt-base BINARY")
			return 2
		}
	}
	for _, t := range c.tools {
		if _, ok := toolByName(t); !ok {
			fmt.Fprintf(os.Stderr, "dtbench: error: unknown tool %q\n", t)
			return 2
		}
	}
	for _, j := range append(append([]string{}, c.jobs...), c.bigJobs...) {
		if _, ok := jobByName(j); !ok {
			fmt.Fprintf(os.Stderr, "dtbench: error: unknown job %q\n", j)
			return 2
		}
	}
	for _, m := range c.modes {
		if m != modeDefault && m != modeTuned {
			fmt.Fprintf(os.Stderr, "dtbench: error: unknown mode %q (default, tuned)\n", m)
			return 2
		}
	}
	if c.reps < 1 {
		fmt.Fprintln(os.Stderr, "dtbench: error: -reps must be at least 1")
		return 2
	}
	if c.label == "" {
		c.label = time.Now().Format("20060102-150405")
	}
	if *report != "" {
		if err := rewriteSummary(*report, c); err != nil {
			fmt.Fprintln(os.Stderr, "dtbench: error:", err)
			return 1
		}
		return 0
	}
	plan := c.matrix()
	if c.dryRun {
		for _, size := range sortedSizes(plan) {
			for _, cl := range plan[size] {
				fmt.Println(cl)
			}
		}
		return 0
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	switch {
	case c.rtt:
		err = benchRTT(ctx, c)
	case c.deploy > 0:
		err = benchDeploy(ctx, c)
	case c.unitDeploy > 0:
		err = benchUnitDeploy(ctx, c)
	default:
		err = bench(ctx, c, plan)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dtbench: error:", err)
		return 1
	}
	return 0
}

// matrix lists the cells to run, by fleet size.
func (c config) matrix() map[int][]cell {
	plan := map[int][]cell{}
	add := func(size int, jobs []string, tools []string) {
		for _, lat := range c.latencies {
			for _, j := range jobs {
				jb, _ := jobByName(j)
				for _, t := range tools {
					if t == "dt" {
						if jb.kind == kindPushAgain {
							continue // placed right after dt's push
						}
						for _, m := range c.dtModes {
							if jb.outBytes > 0 && onTerminal(m) || jb.kind != "" && m != modeDT {
								continue
							}
							plan[size] = append(plan[size], cell{size, j, t, m, lat})
							if jb.kind == kindPush && contains(jobs, "push-again") {
								// dt's unchanged run right after its changed one
								plan[size] = append(plan[size], cell{size, "push-again", t, m, lat})
							}
						}
						continue
					}
					if jb.kind != "" && (t == "ansible" || jb.kind == kindPushAgain) {
						continue // file jobs: pdcp, clush --copy, parallel-scp; no rival has an unchanged run
					}
					if jb.outBytes > 0 {
						continue // the large-output jobs measure dt's memory bound only
					}
					if t == "ansible" && (size > c.ansibleMax || !contains(c.ansibleJobs, j)) {
						continue
					}
					for _, m := range c.modes {
						if m == modeDefault && (!containsInt(c.defaultsAt, size) || jb.kind != "") {
							continue // file jobs run the rivals tuned only
						}
						plan[size] = append(plan[size], cell{size, j, t, m, lat})
					}
				}
			}
		}
	}
	for _, s := range c.sizes {
		if s <= c.allJobsMax {
			add(s, c.jobs, c.tools)
		} else {
			add(s, c.bigJobs, c.tools)
		}
	}
	for _, s := range c.scaleSizes {
		if contains(c.tools, "dt") {
			add(s, c.bigJobs, []string{"dt"})
		}
	}
	return plan
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

func sortedSizes(plan map[int][]cell) []int {
	var s []int
	for k := range plan {
		s = append(s, k)
	}
	sort.Ints(s)
	return s
}

// bench runs the plan: one fleet per size, every cell reps times.
func bench(ctx context.Context, c config, plan map[int][]cell) error {
	dtBin, err := filepath.Abs(c.dt)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dtBin); err != nil {
		return fmt.Errorf("dt binary: %w (build it: go build -o bin/dt ./cmd/dt)", err)
	}
	if c.dtBase != "" {
		if c.dtBase, err = filepath.Abs(c.dtBase); err != nil {
			return err
		}
		if _, err := os.Stat(c.dtBase); err != nil {
			return fmt.Errorf("-dt-base: %w", err)
		}
	}
	outDir, err := filepath.Abs(filepath.Join(c.out, c.label))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	root, err := cgroupRoot()
	if err != nil {
		return err
	}
	top, err := newCgroup(root, fmt.Sprintf("dtbench-%d", os.Getpid()))
	if err != nil {
		return fmt.Errorf("creating a cgroup (this needs root): %w", err)
	}
	defer top.remove()

	machine := describeMachine()
	fmt.Fprintf(os.Stderr, "dtbench: %s\ndtbench: results in %s\n", machine, outDir)
	var results []runResult
	save := func() {
		if err := writeResults(outDir, c, machine, results); err != nil {
			fmt.Fprintln(os.Stderr, "dtbench: error: writing results:", err)
		}
	}
	for _, size := range sortedSizes(plan) {
		rs, err := benchSize(ctx, c, dtBin, top, size, plan[size], outDir)
		results = append(results, rs...)
		save()
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "dtbench: wrote %s\n", filepath.Join(outDir, "summary.md"))
	return nil
}

// benchSize starts a fleet of size hosts and runs cells on it.
func benchSize(ctx context.Context, c config, dtBin string, top *cgroup, size int, cells []cell, outDir string) (results []runResult, err error) {
	fleetCG, err := newCgroup(top.dir, fmt.Sprintf("fleet-%d", size))
	if err != nil {
		return nil, err
	}
	defer fleetCG.remove()
	own, err := ownCgroup(filepath.Dir(top.dir))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("dtbench-%d-", size))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	// The fleet's sshds are our children: start them while this process
	// sits in the fleet's cgroup, so that they and every session they fork
	// are accounted there; then move back.
	if err := fleetCG.enter(os.Getpid()); err != nil {
		return nil, fmt.Errorf("entering the fleet's cgroup: %w", err)
	}
	t0 := time.Now()
	fmt.Fprintf(os.Stderr, "dtbench: starting %d hosts\n", size)
	relay := false
	for _, cl := range cells {
		relay = relay || cl.Latency > 0
	}
	f, ferr := fleet.Start(ctx, fleet.Options{Dir: filepath.Join(dir, "fleet"), N: size, Relay: relay})
	if err := own.enter(os.Getpid()); err != nil {
		if f != nil {
			f.Stop()
		}
		return nil, fmt.Errorf("leaving the fleet's cgroup: %w", err)
	}
	if ferr != nil {
		return nil, ferr
	}
	defer func() {
		if serr := f.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	fmt.Fprintf(os.Stderr, "dtbench: %d hosts up in %v\n", size, time.Since(t0).Round(time.Millisecond))

	e := &env{
		dt:        dtBin,
		dtBase:    c.dtBase,
		sshConfig: f.SSHConfig,
		user:      f.User,
		fanout:    c.fanout,
		baseEnv:   f.Env(),
		workDir:   dir,
	}
	for _, h := range f.Hosts {
		e.hosts = append(e.hosts, h.Name)
	}
	var fl *files
	if hasFileJob(cells) {
		if fl, err = newFiles(dir, f); err != nil {
			return nil, err
		}
		e.dest = fl.dest
		// Every measured push then replaces a file of the same size, as a
		// deploy does: dt's worst case (it hashes the old file first).
		if err := warmFiles(ctx, e, fl); err != nil {
			return nil, err
		}
	}
	if err := writeInventories(e, dir); err != nil {
		return nil, err
	}
	m := &meter{fleet: f, fleetCG: fleetCG, top: top, env: e, cores: runtime.NumCPU(), rawDir: filepath.Join(outDir, "raw"), files: fl}
	if err := os.MkdirAll(m.rawDir, 0o755); err != nil {
		return nil, err
	}
	idle, err := m.dtIdleRSS(ctx)
	if err != nil {
		return nil, err
	}
	var lats []int
	for _, cl := range cells {
		if !containsInt(lats, cl.Latency) {
			lats = append(lats, cl.Latency)
		}
	}
	for _, lat := range lats {
		if relay {
			f.SetLatency(time.Duration(lat) * time.Millisecond)
		}
		for rep := 1; rep <= c.reps; rep++ {
			for _, cl := range cells {
				if cl.Latency != lat {
					continue
				}
				if err := ctx.Err(); err != nil {
					return results, err
				}
				r, err := m.run(ctx, cl, rep)
				if err != nil {
					return results, fmt.Errorf("%s rep %d: %w", cl, rep, err)
				}
				if cl.Tool == "dt" {
					r.IdleRSSKiB = idle
				}
				results = append(results, r)
				fmt.Fprintf(os.Stderr, "dtbench: %-34s rep %d  wall %6.2fs  client cpu %6.2fs  sshd cpu %6.2fs  peak %7.1f MiB  handshakes %5d  failed %d%s\n",
					cl, rep, r.WallS, r.ClientCPUS, r.ServerCPUS, float64(r.PeakRSSKiB)/1024, r.Handshakes, r.Failed, firstNote(r.Note))
			}
		}
	}
	return results, nil
}

func hasFileJob(cells []cell) bool {
	for _, c := range cells {
		if j, _ := jobByName(c.Job); j.kind != "" {
			return true
		}
	}
	return false
}

func firstNote(n string) string {
	if n == "" {
		return ""
	}
	if len(n) > 160 {
		n = n[:160] + "..."
	}
	return "  (" + n + ")"
}

// describeMachine says what the numbers were measured on.
func describeMachine() string {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	rel := utsString(u.Release[:])
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if l, _, ok := strings.Cut(string(data), "\n"); ok {
			mem = strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return fmt.Sprintf("%d cores (%s), MemTotal %s, Linux %s, %s", runtime.NumCPU(), model, mem, rel, runtime.Version())
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
