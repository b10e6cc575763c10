package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dtools/dt/internal/fleet"
)

// runResult is one measured run of one cell.
type runResult struct {
	cell
	Rep    int `json:"rep"`
	Fanout int `json:"fanout"` // the fanout the tool ran with
	Hosts  int `json:"hosts"`

	WallS       float64 `json:"wall_s"`
	ClientCPUS  float64 `json:"client_cpu_s"` // user+sys of the tool's cgroup
	ClientUserS float64 `json:"client_user_s"`
	ClientSysS  float64 `json:"client_sys_s"`
	ServerCPUS  float64 `json:"server_cpu_s"` // user+sys of the fleet's cgroup (every sshd and what it forks)
	// PeakRSSKiB is the peak client memory: the largest sum of Rss over the
	// tool's processes seen by sampling every 50 ms, or the tool's own
	// maxrss (GNU time's %M) if that is larger. For dt, one process, it is
	// its maxrss.
	PeakRSSKiB int64 `json:"peak_rss_kib"`
	// PeakPSSKiB is the largest sampled sum of Pss (shared pages divided
	// among the processes sharing them).
	PeakPSSKiB int64 `json:"peak_pss_kib"`
	MaxProcs   int   `json:"max_procs"`    // most client processes seen at once
	IdleRSSKiB int64 `json:"idle_rss_kib"` // dt only: maxrss of "dt all: list" (connects to nothing)
	Handshakes int   `json:"handshakes"`   // logins the fleet's sshds accepted during the run
	// KeeperCPUS is the CPU of dt's connection keeper during a warm run,
	// included in ClientCPUS.
	KeeperCPUS float64 `json:"keeper_cpu_s,omitempty"`
	Invocation int     `json:"invocations"`    // tool invocations in the run
	Failed     int     `json:"failed_hosts"`   // hosts not verified okay
	ExitStatus int     `json:"exit_status"`    // largest exit status of the invocations
	Note       string  `json:"note,omitempty"` // first failures, with reasons
}

// meter runs cells against one fleet and measures them.
type meter struct {
	fleet   *fleet.Fleet
	fleetCG *cgroup
	top     *cgroup
	env     *env
	cores   int
	rawDir  string
	files   *files // file jobs' state; nil without file jobs
}

// handshakes reads every host's count of accepted logins.
func (m *meter) handshakes() (map[string]int, error) {
	out := make(map[string]int, len(m.fleet.Hosts))
	for _, h := range m.fleet.Hosts {
		data, err := os.ReadFile(h.LogFile)
		if err != nil {
			return nil, err
		}
		out[h.Name] = bytes.Count(data, []byte("Accepted publickey for "))
	}
	return out, nil
}

// settle waits until the fleet is back to one process (its sshd) per host
// plus extra (the two processes of every connection a keeper holds), so
// that the sshd CPU of a run's last sessions is counted in that run.
func (m *meter) settle(extra int) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		p, err := m.fleetCG.procs()
		if err != nil || len(p) <= len(m.fleet.Hosts)+extra {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maxrssWrapper starts every tool (GNU time, "-q -f %M -o FILE"): it forks
// the tool from a small process, and reports the tool's own maxrss. The
// harness cannot take it from its own wait4: Go starts children with
// CLONE_VM|CLONE_VFORK, so the kernel folds the harness's own high-water
// RSS into the child's maxrss at exec, and a harness that once held a
// large output would report that size for every later run.
const maxrssWrapper = "/usr/bin/time"

type procResult struct {
	stdout, stderr []byte
	exit           int
	maxrssKiB      int64
}

// start runs argv in cg and waits for it; ctx cancellation kills the cgroup.
func (m *meter) exec(ctx context.Context, cg *cgroup, inv invocation) (procResult, error) {
	dirFD, err := os.Open(cg.dir)
	if err != nil {
		return procResult{}, err
	}
	defer dirFD.Close()
	maxrssFile := filepath.Join(m.env.workDir, "maxrss")
	os.Remove(maxrssFile)
	argv := append([]string{maxrssWrapper, "-q", "-f", "%M", "-o", maxrssFile, "--"}, inv.argv...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append([]string{}, m.env.baseEnv...), inv.env...)
	cmd.Dir = m.env.workDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if inv.bigOutput {
		f, err := os.Create(m.bigOutputFile())
		if err != nil {
			return procResult{}, err
		}
		defer f.Close()
		cmd.Stdout = f
	}
	var screen <-chan []byte
	if inv.pty {
		ptmx, pts, err := openTerminal(200, 50)
		if err != nil {
			return procResult{}, err
		}
		defer ptmx.Close()
		defer pts.Close()
		cmd.Stdout, cmd.Stderr = pts, pts
		screen = readAll(ptmx)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dirFD.Fd()), Setpgid: true}
	if err := cmd.Start(); err != nil {
		return procResult{}, fmt.Errorf("%s: %w", inv.argv[0], err)
	}
	if inv.pty {
		cmd.Stdout.(*os.File).Close() // the child has it; the master reads until it closes
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cg.kill()
		case <-done:
		}
	}()
	werr := cmd.Wait()
	close(done)
	r := procResult{stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	if screen != nil {
		r.stdout = <-screen
	}
	if data, err := os.ReadFile(maxrssFile); err == nil {
		r.maxrssKiB, _ = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		r.exit = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.exit = 128 + int(ws.Signal())
		}
	default:
		return r, werr
	}
	return r, ctx.Err()
}

// dtIdleRSS is dt's maxrss when it loads this fleet's inventory and config
// and connects to nothing ("dt all: list"), the median of three runs.
func (m *meter) dtIdleRSS(ctx context.Context) (int64, error) {
	cg, err := newCgroup(m.top.dir, "idle")
	if err != nil {
		return 0, err
	}
	defer cg.remove()
	var v []int64
	for i := 0; i < 3; i++ {
		r, err := m.exec(ctx, cg, invocation{argv: []string{m.env.dt, "-N", "-F", m.env.sshConfig, "-D", m.env.dtdb, "all:", "list"}})
		if err != nil {
			return 0, err
		}
		if r.exit != 0 {
			return 0, fmt.Errorf("dt all: list: exit %d: %s", r.exit, r.stderr)
		}
		v = append(v, r.maxrssKiB)
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v[1], nil
}

// run measures one run of a cell.
func (m *meter) run(ctx context.Context, cl cell, rep int) (runResult, error) {
	t, _ := toolByName(cl.Tool)
	j, _ := jobByName(cl.Job)
	var srcIdx int
	if j.kind != "" {
		if m.files == nil {
			return runResult{}, fmt.Errorf("%s: no files", cl)
		}
		srcIdx = m.files.next(j.kind)
		m.env.src = m.files.src[srcIdx]
		if j.kind == kindFetch {
			if m.files.current < 0 {
				return runResult{}, fmt.Errorf("%s: nothing pushed yet to fetch (put a push job first)", cl)
			}
			m.files.fetches++
			m.env.fetchDir = filepath.Join(m.env.workDir, fmt.Sprintf("fetch-%d", m.files.fetches))
			if err := os.MkdirAll(m.env.fetchDir, 0o755); err != nil {
				return runResult{}, err
			}
			defer os.RemoveAll(m.env.fetchDir)
		}
	}
	invs := t.invocations(m.env, j, cl.Mode)
	res := runResult{cell: cl, Rep: rep, Hosts: len(m.env.hosts), Invocation: len(invs)}
	switch {
	case cl.Tool == "dt" || cl.Mode == modeTuned:
		res.Fanout = m.env.fanout
	default:
		res.Fanout = t.defaultFanout
	}
	hostSet := make(map[string]bool, len(m.env.hosts))
	for _, h := range m.env.hosts {
		hostSet[h] = true
	}

	// A warm run: a keeper of its own, primed by a run of the same
	// invocations; the measured run then finds every connection kept.
	extra := 0
	var kp *keeper
	if cl.Mode == modeWarm {
		var err error
		if kp, err = m.startKeeper(ctx); err != nil {
			return res, err
		}
		defer kp.stop(m)
		for i := range invs {
			invs[i].env = append(invs[i].env, kp.env...)
		}
		if err := m.prime(ctx, invs); err != nil {
			return res, err
		}
		extra = 2 * len(m.env.hosts)
	}

	m.settle(extra)
	hs0, err := m.handshakes()
	if err != nil {
		return res, err
	}
	srv0, _, _, err := m.fleetCG.cpu()
	if err != nil {
		return res, err
	}
	var keep0 time.Duration
	if kp != nil {
		if keep0, _, _, err = kp.cg.cpu(); err != nil {
			return res, err
		}
	}
	cg, err := newCgroup(m.top.dir, "run")
	if err != nil {
		return res, err
	}
	defer cg.remove()

	// Sample the client's memory while it runs.
	stop := make(chan struct{})
	var peak memSample
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if pids, err := cg.procs(); err == nil {
				if kp != nil {
					kpids, _ := kp.cg.procs()
					pids = append(pids, kpids...)
				}
				s := sampleMem(pids)
				peak.rssKiB = max(peak.rssKiB, s.rssKiB)
				peak.pssKiB = max(peak.pssKiB, s.pssKiB)
				peak.procs = max(peak.procs, s.procs)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	failed := map[string]string{}
	var outs [][]byte
	t0 := time.Now()
	var maxrss int64
	for i, inv := range invs {
		pr, err := m.exec(ctx, cg, inv)
		if err != nil {
			close(stop)
			wg.Wait()
			return res, err
		}
		maxrss = max(maxrss, pr.maxrssKiB)
		res.ExitStatus = max(res.ExitStatus, pr.exit)
		var hr hostResults
		switch {
		case inv.bigOutput:
			var n int64
			check := checkBigOutput
			if cl.Mode == modeGather {
				check = checkBigGather
			}
			hr, n, err = check(m.bigOutputFile(), j, hostSet)
			os.Remove(m.bigOutputFile())
			if err != nil {
				close(stop)
				wg.Wait()
				return res, err
			}
			pr.stdout = []byte(fmt.Sprintf("(%d bytes of records, checked and not kept)\n", n))
		case inv.parse != nil:
			hr = inv.parse(pr.stdout, pr.stderr, hostSet)
		default:
			hr = t.parse(pr.stdout, pr.stderr, hostSet)
		}
		outs = append(outs, pr.stdout, pr.stderr)
		for _, h := range m.env.hosts {
			switch {
			case hr.failed[h] != "":
				setOnce(failed, h, hr.failed[h])
			case hr.ok != nil && !hr.ok[h]:
				setOnce(failed, h, "no success reported")
			case j.wantHost && i == len(invs)-1 && lastLine(hr.out[h]) != h:
				setOnce(failed, h, fmt.Sprintf("output %q, want %q", hr.out[h], h))
			}
		}
	}
	res.WallS = time.Since(t0).Seconds()
	close(stop)
	wg.Wait()
	usage, user, sys, err := cg.cpu()
	if err != nil {
		return res, err
	}
	res.ClientCPUS, res.ClientUserS, res.ClientSysS = usage.Seconds(), user.Seconds(), sys.Seconds()
	if kp != nil {
		keep1, _, _, err := kp.cg.cpu()
		if err != nil {
			return res, err
		}
		res.KeeperCPUS = (keep1 - keep0).Seconds()
		res.ClientCPUS += res.KeeperCPUS
	}
	res.PeakRSSKiB = max(peak.rssKiB, maxrss)
	if cl.Tool == "dt" && maxrss > 0 {
		res.PeakRSSKiB = maxrss // the samples also hold GNU time's own RSS
	}
	res.PeakPSSKiB = peak.pssKiB
	res.MaxProcs = peak.procs
	// Whatever the tool left behind (ansible's ControlPersist masters)
	// dies now, so that no run reuses another's connections.
	if err := cg.kill(); err != nil {
		return res, err
	}

	m.settle(extra)
	srv1, _, _, err := m.fleetCG.cpu()
	if err != nil {
		return res, err
	}
	res.ServerCPUS = (srv1 - srv0).Seconds()
	hs1, err := m.handshakes()
	if err != nil {
		return res, err
	}
	for _, h := range m.env.hosts {
		d := hs1[h] - hs0[h]
		res.Handshakes += d
		// At least one login per host: a tool may legitimately reuse a
		// connection across its invocations (ansible's ControlPersist).
		// A warm dt run reuses the keeper's: it logs in nowhere.
		if d < 1 && cl.Mode != modeWarm {
			setOnce(failed, h, "its sshd accepted no login")
		}
	}
	if j.kind != "" {
		want := m.files.sums[srcIdx]
		if j.kind == kindFetch {
			want = m.files.sums[m.files.current]
		} else {
			m.files.current = srcIdx
		}
		for h, why := range verifyFiles(m.fleet, cl.Tool, j.kind, m.env.fetchDir, want) {
			setOnce(failed, h, why)
		}
		if j.kind == kindPushAgain && len(outs) > 0 {
			for h, why := range unchangedMissing(outs[0], m.env.hosts) {
				setOnce(failed, h, why)
			}
		}
	}
	res.Failed = len(failed)
	if len(failed) > 0 {
		var names []string
		for h := range failed {
			names = append(names, h)
		}
		sort.Strings(names)
		var notes []string
		for _, h := range names[:min(3, len(names))] {
			notes = append(notes, h+": "+failed[h])
		}
		res.Note = strings.Join(notes, "; ")
	}
	if res.ExitStatus != 0 && res.Failed == 0 {
		res.Note = fmt.Sprintf("exit status %d with no failed host", res.ExitStatus)
	}
	raw := filepath.Join(m.rawDir, fmt.Sprintf("%d-%s-%s-%s-%dms-rep%d.txt", cl.Size, cl.Job, cl.Tool, strings.Trim(cl.Mode, "-"), cl.Latency, rep))
	var b bytes.Buffer
	for i, inv := range invs {
		fmt.Fprintf(&b, "### %q\n### env %q\n### stdout\n%s### stderr\n%s", inv.argv, inv.env, outs[2*i], outs[2*i+1])
	}
	if err := os.WriteFile(raw, b.Bytes(), 0o644); err != nil {
		return res, err
	}
	return res, nil
}

// bigOutputFile is where a large-output job's stdout goes.
func (m *meter) bigOutputFile() string { return filepath.Join(m.env.workDir, "big-stdout") }

func setOnce(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
