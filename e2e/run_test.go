package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
)

// waitNoProcs waits up to 5s for the fleet to run no process matching
// substr.
func waitNoProcs(t *testing.T, f *fleet.Fleet, substr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := f.RemoteProcs(substr)
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("remote processes %q still running: %v", substr, pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTimeoutStopsRemoteCommand: --timeout fails the slow host, leaves the
// fast one alone, and no remote process is left behind.
func TestTimeoutStopsRemoteCommand(t *testing.T) {
	f := shared(t)
	r := dt(t, f, nil, "", "--timeout", "1s", "sys:h001,h002", "ssh",
		`if [ $DT_TEST_HOST = h001 ]; then echo started; sleep 12345; sleep 12345; else echo quick; fi`)
	recs := records(t, r.stdout)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if got := string(recs["h001"].Message); recs["h001"].Status != output.Fail ||
		!strings.HasPrefix(got, "timeout: timed out after 1s; remote command stopped; output so far:\nstarted") {
		t.Errorf("h001: %s %q", recs["h001"].Status, got)
	}
	if recs["h002"].Status != output.Okay || string(recs["h002"].Message) != "quick" {
		t.Errorf("h002: %s %q", recs["h002"].Status, recs["h002"].Message)
	}
	waitNoProcs(t, f, "sleep 12345")
}

// TestInterrupt: SIGINT mid-run exits 130 within a second, prints a fail
// line for every unfinished host (started or not), keeps the finished
// hosts' lines, and leaves no remote process running.
func TestInterrupt(t *testing.T) {
	f := shared(t)
	cmd := exec.Command(dtBin, "-C", "4", "all:", "ssh",
		`case $DT_TEST_HOST in h001|h002) echo done;; *) sleep 23456;; esac`)
	cmd.Env = f.Env()
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until h001 and h002 have finished and the first batch's
	// sleepers run remotely.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, _ := f.RemoteProcs("sleep 23456")
		o := out.String()
		if len(pids) >= 2 && strings.Contains(o, "okay::dt:ssh:h001:done\n") && strings.Contains(o, "okay::dt:ssh:h002:done\n") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("remote commands never started; stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	took := time.Since(sent)
	t.Logf("stdout:\n%s", out.String())
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want 130", err)
	}
	if took > time.Second {
		t.Errorf("exit took %s after SIGINT, want < 1s", took)
	}
	recs := records(t, out.String())
	if len(recs) != len(f.Hosts) {
		t.Errorf("%d records, want one per host (%d)", len(recs), len(f.Hosts))
	}
	for h, rec := range recs {
		switch {
		case h == "h001" || h == "h002":
			if rec.Status != output.Okay {
				t.Errorf("%s: %s %q", h, rec.Status, rec.Message)
			}
		case rec.Status != output.Fail || !strings.HasPrefix(string(rec.Message), "interrupt: "):
			t.Errorf("%s: %s %q, want an interrupt fail", h, rec.Status, rec.Message)
		}
	}
	waitNoProcs(t, f, "sleep 23456")
}

// TestFanoutBound counts concurrent sessions on the server side: each
// command registers itself in a shared directory and records how many
// others are running.
func TestFanoutBound(t *testing.T) {
	f := shared(t)
	dir := remoteDir(t, f)
	script := fmt.Sprintf(`d=%s; touch $d/run.$DT_TEST_HOST; sleep 0.4; ls $d | grep -c '^run\.' > $d/seen.$DT_TEST_HOST; sleep 0.2; rm $d/run.$DT_TEST_HOST`, dir)
	r := dt(t, f, nil, "", "-C", "3", "all:", "ssh", script)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	max := 0
	for _, h := range f.Hosts {
		data, err := os.ReadFile(filepath.Join(dir, "seen."+h.Name))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if n > max {
			max = n
		}
	}
	if max > 3 {
		t.Errorf("saw %d sessions at once with -C 3", max)
	}
	if max < 2 {
		t.Errorf("saw at most %d session at once: no parallelism", max)
	}
}

// TestOneHandshakePerHost: a run costs exactly one SSH login per host,
// counted in the servers' logs.
func TestOneHandshakePerHost(t *testing.T) {
	f := shared(t)
	before := map[string]int{}
	for _, h := range f.Hosts {
		before[h.Name], _ = f.Handshakes(h.Name)
	}
	r := dt(t, f, nil, "", "all:", "ssh", "true")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for _, h := range f.Hosts {
		n, _ := f.Handshakes(h.Name)
		if n-before[h.Name] != 1 {
			t.Errorf("%s: %d handshakes, want 1", h.Name, n-before[h.Name])
		}
	}
}

// TestJumpHost: hosts behind a jump host (inventory "|jump") are reached
// through it, over one shared connection to it; when the jump host is
// down they fail saying so.
func TestJumpHost(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 5})
	db := filepath.Join(t.TempDir(), "db")
	writeFile(t, db, []byte("h002|h001 behind\nh003|h001 behind\nh004|h001 behind\nh005|h001,h004 behind chain\n"), 0o644)
	r := dt(t, f, nil, "", "-D", db, "tag:behind", "ssh", "echo $DT_TEST_HOST")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	recs := records(t, r.stdout)
	for _, h := range []string{"h002", "h003", "h004", "h005"} {
		if string(recs[h].Message) != h {
			t.Errorf("%s answered %q", h, recs[h].Message)
		}
	}
	if n, _ := f.Handshakes("h001"); n != 1 {
		t.Errorf("jump host h001: %d handshakes, want 1 shared by all", n)
	}
	// h004 is both a target behind h001 and the second hop for h005: the
	// two share a connection while both are in use; a new one is made only
	// if the target's was released before h005 needed it.
	if n, _ := f.Handshakes("h004"); n < 1 || n > 2 {
		t.Errorf("h004: %d handshakes, want 1 or 2", n)
	}

	if err := f.StopHost("h001"); err != nil {
		t.Fatal(err)
	}
	r = dt(t, f, nil, "", "-D", db, "sys:h002,h003", "ssh", "true")
	for h, rec := range records(t, r.stdout) {
		want := fmt.Sprintf("connect: jump host h001: dial tcp %s: connection refused", f.Host("h001").HostPort())
		if rec.Status != output.Fail || string(rec.Message) != want {
			t.Errorf("%s: %s %q, want %q", h, rec.Status, rec.Message, want)
		}
	}
}

// TestProxyCommand: hosts with an ssh_config ProxyCommand are reached
// through it (here OpenSSH's "ssh -W" via h001); a command that fails
// gives a fail line with its exit status and its last stderr line while
// the other hosts answer; no proxy process outlives dt.
func TestProxyCommand(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 4})
	home := copyHome(t, f)
	cfgFile := filepath.Join(home, ".ssh", "config")
	log := filepath.Join(t.TempDir(), "proxy.log")
	cfg, _ := os.ReadFile(cfgFile)
	proxy := "Host h002 h003\n  ProxyCommand sh -c 'echo %n %h %p %r >> " + log + "; exec ssh -F " + cfgFile + " -o BatchMode=yes -W %h:%p h001'\n" +
		"Host h004\n  ProxyCommand sh -c 'echo proxy says no >&2; exit 7'\n"
	writeFile(t, cfgFile, append([]byte(proxy), cfg...), 0o600)

	r := dt(t, f, []string{"HOME=" + home}, "", "all:", "ssh", "echo $DT_TEST_HOST")
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (h004 fails)", r.code)
	}
	recs := records(t, r.stdout)
	for _, h := range []string{"h001", "h002", "h003"} {
		if rec := recs[h]; rec.Status != output.Okay || string(rec.Message) != h {
			t.Errorf("%s: %s %q", h, rec.Status, rec.Message)
		}
	}
	want := "connect: ProxyCommand sh -c 'echo proxy says no >&2; exit 7': exit status 7: proxy says no"
	if rec := recs["h004"]; rec.Status != output.Fail || string(rec.Message) != want {
		t.Errorf("h004: %s %q, want %q", rec.Status, rec.Message, want)
	}
	logged, _ := os.ReadFile(log)
	for _, h := range []string{"h002", "h003"} {
		addr := f.Host(h)
		if line := fmt.Sprintf("%s %s %d %s\n", h, addr.Addr, addr.Port, f.User); !strings.Contains(string(logged), line) {
			t.Errorf("proxy log %q lacks %q", logged, line)
		}
	}
	// h001 served its own command and one "ssh -W" per proxied host.
	if n, _ := f.Handshakes("h001"); n != 3 {
		t.Errorf("h001: %d handshakes, want 3", n)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-f", "-W .* h001").Output()
		if len(out) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("proxy processes outlived dt: %s", out)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSSHConfigMatch: Match blocks of a real ~/.ssh/config, here in an
// Included file as tools such as 1Password's write them, apply to the
// hosts they select: "Match exec" runs the command (once per distinct
// command line) and here gives h001 a wrong user, so its sshd refuses it.
// A criterion dt does not evaluate gives a warning naming file and line,
// and the run goes on.
func TestSSHConfigMatch(t *testing.T) {
	f := shared(t)
	home := copyHome(t, f)
	cfgFile := filepath.Join(home, ".ssh", "config")
	cfg, _ := os.ReadFile(cfgFile)
	confD := filepath.Join(home, ".ssh", "conf.d")
	os.MkdirAll(confD, 0o700)
	once := filepath.Join(t.TempDir(), "once.log")
	writeFile(t, filepath.Join(confD, "agent.conf"), []byte(
		"Match exec \"echo ran >> "+once+"; false\"\n  Port 1\n"+
			"Match host * exec \"test %n = h001\"\n  User nobody-here\n"), 0o600)
	match := "Include conf.d/*.conf\nMatch localnetwork 10.0.0.0/8\n  Port 1\n"
	writeFile(t, cfgFile, append([]byte(match), cfg...), 0o600)

	r := dt(t, f, []string{"HOME=" + home}, "", "sys:h001,h002", "ssh", "echo $DT_TEST_HOST")
	recs := records(t, r.stdout)
	if rec := recs["h001"]; rec.Status != output.Fail || !strings.Contains(string(rec.Message), "nobody-here@") {
		t.Errorf("h001: %s %q, want an auth failure as nobody-here", rec.Status, rec.Message)
	}
	if rec := recs["h002"]; rec.Status != output.Okay || string(rec.Message) != "h002" {
		t.Errorf("h002: %s %q", rec.Status, rec.Message)
	}
	if ran, _ := os.ReadFile(once); string(ran) != "ran\n" {
		t.Errorf("a Match exec line without tokens ran %q for 2 hosts, want once", ran)
	}
	want := "dt: warning: " + cfgFile + ":2: Match localnetwork is not evaluated by dt; the block's settings are not used\n"
	if r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

// TestLargeFleet: 120 hosts in one run, every one answering for itself.
func TestLargeFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	f := fleet.StartTest(t, fleet.Options{N: 120})
	start := time.Now()
	r := dt(t, f, nil, "", "all:", "ssh", "hostname")
	t.Logf("120 hosts: %s", time.Since(start))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	recs := records(t, r.stdout)
	if len(recs) != 120 {
		t.Fatalf("%d records, want 120", len(recs))
	}
	for h, rec := range recs {
		if string(rec.Message) != h {
			t.Errorf("%s answered %q", h, rec.Message)
		}
	}
	if n, _ := f.TotalHandshakes(); n != 120 {
		t.Errorf("%d handshakes, want 120", n)
	}
}

// descendants lists the processes below pid (from /proc).
func descendants(t *testing.T, pid int) []int {
	t.Helper()
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 {
			ppid, _ := strconv.Atoi(fields[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

// TestKeepAliveDeadPeer: a host that stops answering mid-command (every
// process of it frozen, so no FIN or RST ever comes) is detected by
// keepalives (ssh_config ServerAliveInterval 1, ServerAliveCountMax 2)
// and fails, instead of hanging the run.
func TestKeepAliveDeadPeer(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 2})
	home := copyHome(t, f)
	cfgFile := filepath.Join(home, ".ssh", "config")
	cfg, _ := os.ReadFile(cfgFile)
	cfg = append([]byte("ServerAliveInterval 1\nServerAliveCountMax 2\n"), cfg...)
	writeFile(t, cfgFile, cfg, 0o600)

	cmd := exec.Command(dtBin, "all:", "ssh", "echo started; exec sleep 34567")
	cmd.Env = append(f.Env(), "HOME="+home)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pids, _ := f.RemoteProcs("sleep 34567"); len(pids) == 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("remote commands never started: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	frozen := descendants(t, f.Host("h001").PID)
	for _, p := range frozen {
		syscall.Kill(p, syscall.SIGSTOP)
	}
	defer func() {
		for _, p := range frozen {
			syscall.Kill(p, syscall.SIGCONT)
		}
	}()
	// h001 must fail on its own, through the keepalives, while h002 still
	// runs; then h002 is stopped for real.
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "fail::dt:ssh:h001:") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the frozen host was not detected; output %q", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := f.StopHost("h002"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("dt hung on a dead peer; output %q", out.String())
	}
	t.Logf("output:\n%s", out.String())
	recs := records(t, out.String())
	want := "session: connection lost: no answer to 2 keepalives sent 1s apart"
	if r := recs["h001"]; r.Status != output.Fail || !strings.HasPrefix(string(r.Message), want) {
		t.Errorf("h001: %s %q, want a failure starting %q", r.Status, r.Message, want)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestClosedStdout: "dt ... | head -1". Once nobody reads dt's output the
// run stops as on Ctrl-C (remote commands signalled, exit 130), instead
// of dt dying of SIGPIPE at its next line and leaving them running (and
// copies' temporaries, deploys half done).
func TestClosedStdout(t *testing.T) {
	f := shared(t)
	cmd := exec.Command(dtBin, "all:", "ssh",
		`case $DT_TEST_HOST in h001) echo one;; h002) sleep 2; echo two;; *) sleep 23457;; esac`)
	cmd.Env = f.Env()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb lockedBuffer
	cmd.Stdout, cmd.Stderr = pw, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	first, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || first != "okay::dt:ssh:h001:one\n" {
		t.Fatalf("first line %q, %v", first, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pids, _ := f.RemoteProcs("sleep 23457"); len(pids) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the remote commands never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pr.Close() // as head does after its line
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("dt ended with %v, want exit 130 (stderr %q)", err, errb.String())
	}
	waitNoProcs(t, f, "sleep 23457")
}
