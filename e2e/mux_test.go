package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
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

// muxEnv gives a test a connection keeper of its own: a private
// XDG_RUNTIME_DIR (so no test ever touches a real user's keeper) and the
// keeper's log in it. The keeper is stopped, and any keeper process of
// that directory killed, when the test ends.
func muxEnv(t *testing.T, f *fleet.Fleet) []string {
	t.Helper()
	dir := t.TempDir()
	env := []string{"XDG_RUNTIME_DIR=" + dir, "DT_MUX_LOG=" + filepath.Join(dir, "keeper.log")}
	t.Cleanup(func() {
		cmd := exec.Command(dtBin, "mux", "stop")
		cmd.Env = append(f.Env(), env...)
		cmd.Run()
		// dt mux stop returns once the socket is gone; the process
		// follows within moments.
		deadline := time.Now().Add(5 * time.Second)
		for len(keeperPIDs(dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		for _, pid := range keeperPIDs(dir) {
			t.Errorf("keeper %d still running 5s after dt mux stop; killed", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "keeper.log"))
			t.Logf("keeper log:\n%s", log)
		}
	})
	return env
}

// keeperPIDs lists the keeper processes ("dt mux serve") whose
// XDG_RUNTIME_DIR is runtimeDir.
func keeperPIDs(runtimeDir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if !bytes.HasSuffix(cmdline, []byte("\x00mux\x00serve\x00")) {
			continue
		}
		environ, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		if bytes.Contains(environ, []byte("\x00XDG_RUNTIME_DIR="+runtimeDir+"\x00")) || bytes.HasPrefix(environ, []byte("XDG_RUNTIME_DIR="+runtimeDir+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// logins returns every host's count of accepted logins.
func logins(t *testing.T, f *fleet.Fleet) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, h := range f.Hosts {
		c, err := f.Handshakes(h.Name)
		if err != nil {
			t.Fatal(err)
		}
		n[h.Name] = c
	}
	return n
}

// newLogins returns, per host, the logins since before.
func newLogins(t *testing.T, f *fleet.Fleet, before map[string]int) map[string]int {
	t.Helper()
	d := map[string]int{}
	for h, c := range logins(t, f) {
		d[h] = c - before[h]
	}
	return d
}

// allOkay checks that every host of f answered okay with its own name.
func allOkay(t *testing.T, f *fleet.Fleet, r run) {
	t.Helper()
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != len(f.Hosts) {
		t.Fatalf("exit %d, %d records for %d hosts", r.code, len(recs), len(f.Hosts))
	}
	for h, rec := range recs {
		if rec.Status != output.Okay || string(rec.Message) != h {
			t.Errorf("%s: %s %q", h, rec.Status, rec.Message)
		}
	}
}

// TestPersistWarmRun: with --persist the second run on a fleet logs in
// nowhere (counted in sshd's logs) and prints the same lines; DT_PERSIST
// works as the flag; dt mux status lists what is kept; a run without
// --persist dials as before.
func TestPersistWarmRun(t *testing.T) {
	f := shared(t)
	env := muxEnv(t, f)
	before := logins(t, f)
	cold := dt(t, f, env, "", "--persist", "1m", "all:", "ssh", "echo $DT_TEST_HOST")
	allOkay(t, f, cold)
	for h, n := range newLogins(t, f, before) {
		if n != 1 {
			t.Errorf("cold run: %s: %d logins, want 1", h, n)
		}
	}

	before = logins(t, f)
	warm := dt(t, f, env, "", "--persist", "1m", "all:", "ssh", "echo $DT_TEST_HOST")
	allOkay(t, f, warm)
	warm2 := dt(t, f, append(env, "DT_PERSIST=1m"), "", "all:", "ssh", "echo $DT_TEST_HOST")
	allOkay(t, f, warm2)
	for h, n := range newLogins(t, f, before) {
		if n != 0 {
			t.Errorf("warm runs: %s: %d logins, want 0", h, n)
		}
	}
	if warm.stderr != "" || warm2.stderr != "" {
		t.Errorf("warm runs said %q %q on stderr", warm.stderr, warm2.stderr)
	}

	st := dt(t, f, env, "", "mux", "status")
	rows := lines(st.stdout)
	if st.code != 0 || len(rows) != len(f.Hosts)+1 || !strings.HasPrefix(rows[0], "HOST ") {
		t.Fatalf("dt mux status: exit %d, %d lines", st.code, len(rows))
	}
	for _, row := range rows[1:] {
		fields := strings.Fields(row)
		if len(fields) != 6 || f.Host(fields[0]) == nil || fields[4] != "3" || fields[5] != "1m0s" {
			t.Errorf("status row %q: want HOST DEST AGE IDLE 3 1m0s", row)
		}
	}

	before = logins(t, f)
	plain := dt(t, f, env, "", "all:", "ssh", "echo $DT_TEST_HOST")
	allOkay(t, f, plain)
	for h, n := range newLogins(t, f, before) {
		if n != 1 {
			t.Errorf("run without --persist: %s: %d logins, want 1", h, n)
		}
	}
}

// TestPersistNewConnectionOnChange: a kept connection is used only for the
// same resolved destination and trust. A host whose ssh_config entry
// changed (another identity file) or whose known_hosts entries changed
// (one key more) gets a new connection; a host whose key known_hosts now
// says CHANGED is refused, never served over the kept connection.
func TestPersistNewConnectionOnChange(t *testing.T) {
	f := shared(t)
	env := muxEnv(t, f)
	home := copyHome(t, f)
	env = append(env, "HOME="+home)
	hosts := "sys:h001,h002,h003,h004"
	r := dt(t, f, env, "", "--persist", "1m", hosts, "ssh", "echo $DT_TEST_HOST")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}

	// h002: another identity file (the same key, copied).
	key, _ := os.ReadFile(filepath.Join(home, ".ssh", "id_ed25519"))
	os.WriteFile(filepath.Join(home, ".ssh", "id_copy"), key, 0o600)
	cfgFile := filepath.Join(home, ".ssh", "config")
	cfg, _ := os.ReadFile(cfgFile)
	os.WriteFile(cfgFile, append([]byte(sshConfigBlock("h002", "IdentityFile "+filepath.Join(home, ".ssh", "id_copy"))), cfg...), 0o600)
	// h003: known_hosts lists one more key for it.
	khFile := filepath.Join(home, ".ssh", "known_hosts")
	kh, _ := os.ReadFile(khFile)
	h3 := f.Host("h003")
	h4 := f.Host("h004")
	extra := hostKeyLine(t, f, h4, h3.HostPort()) // h004's key, as if h003 had a second one
	os.WriteFile(khFile, append(kh, extra...), 0o600)

	before := logins(t, f)
	r = dt(t, f, env, "", "--persist", "1m", hosts, "ssh", "echo $DT_TEST_HOST")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	d := newLogins(t, f, before)
	for h, want := range map[string]int{"h001": 0, "h002": 1, "h003": 1, "h004": 0} {
		if d[h] != want {
			t.Errorf("after the changes: %s: %d logins, want %d", h, d[h], want)
		}
	}

	// h004: known_hosts now has another key for it (h003's): CHANGED.
	var kept []string
	for _, l := range strings.SplitAfter(string(kh)+extra, "\n") {
		if !strings.HasPrefix(l, "h004,") {
			kept = append(kept, l)
		}
	}
	os.WriteFile(khFile, []byte(strings.Join(kept, "")+hostKeyLine(t, f, h3, h4.HostPort())), 0o600)
	before = logins(t, f)
	r = dt(t, f, env, "", "--persist", "1m", hosts, "ssh", "echo $DT_TEST_HOST")
	recs := records(t, r.stdout)
	if rec := recs["h004"]; rec.Status != output.Fail || !strings.HasPrefix(string(rec.Message), "hostkey: host key for "+h4.HostPort()+" has CHANGED") {
		t.Errorf("h004: %s %q, want a hostkey failure saying CHANGED", rec.Status, rec.Message)
	}
	for _, h := range []string{"h001", "h002", "h003"} {
		if rec := recs[h]; rec.Status != output.Okay || string(rec.Message) != h {
			t.Errorf("%s: %s %q", h, rec.Status, rec.Message)
		}
	}
	for h, n := range newLogins(t, f, before) {
		if n != 0 {
			t.Errorf("last run: %s: %d logins, want 0", h, n)
		}
	}
}

// TestPersistMaxSessions: a host allowing 2 sessions per connection
// (sshd MaxSessions 2) and 20 names sharing its connection, run 8 at a
// time: every command runs, cold and warm, over one login.
func TestPersistMaxSessions(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 1, ExtraSSHDConfig: "MaxSessions 2\n"})
	env := muxEnv(t, f)
	h := f.Hosts[0]
	var cfg strings.Builder
	for i := 1; i <= 20; i++ {
		cfg.WriteString(sshConfigBlock(fmt.Sprintf("m%02d", i), "HostName "+h.Addr, "Port "+strconv.Itoa(h.Port), "User "+f.User,
			"IdentityFile "+f.ClientKey, "UserKnownHostsFile "+f.KnownHosts))
	}
	cfgFile := writeTestFile(t, "config", cfg.String(), 0o600)
	for _, run := range []struct {
		name    string
		persist string
		logins  int
	}{{"cold, no keeper", "0", 1}, {"cold", "1m", 1}, {"warm", "1m", 0}} {
		before := logins(t, f)
		r := dt(t, f, env, "", "-F", cfgFile, "-C", "8", "--persist", run.persist, "sys:m[01-20]", "ssh", "sleep 0.3; echo $DT_TEST_HOST")
		recs := records(t, r.stdout)
		if r.code != 0 || len(recs) != 20 {
			t.Errorf("%s: exit %d, %d records", run.name, r.code, len(recs))
		}
		for name, rec := range recs {
			if rec.Status != output.Okay || string(rec.Message) != h.Name {
				t.Errorf("%s: %s: %s %q", run.name, name, rec.Status, rec.Message)
			}
		}
		// Cold without a keeper, names sharing a connection can still
		// dial again when it was released between them.
		if n := newLogins(t, f, before)[h.Name]; n != run.logins && !(run.persist == "0" && n >= 1) {
			t.Errorf("%s: %d logins, want %d", run.name, n, run.logins)
		}
	}
}

// TestPersistHostRestarted: a host restarted while its connection was
// kept gets a new one on the next run, without a failure line.
func TestPersistHostRestarted(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 3})
	env := muxEnv(t, f)
	allOkay(t, f, dt(t, f, env, "", "--persist", "1m", "all:", "ssh", "echo $DT_TEST_HOST"))
	if err := f.StopHost("h002"); err != nil {
		t.Fatal(err)
	}
	if err := f.RestartHost(context.Background(), "h002"); err != nil {
		t.Fatal(err)
	}
	before := logins(t, f)
	r := dt(t, f, env, "", "--persist", "1m", "all:", "ssh", "echo $DT_TEST_HOST")
	allOkay(t, f, r)
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}
	d := newLogins(t, f, before)
	for h, want := range map[string]int{"h001": 0, "h002": 1, "h003": 0} {
		if d[h] != want {
			t.Errorf("%s: %d logins, want %d", h, d[h], want)
		}
	}
}

// TestPersistNetworkCut: a kept connection the network dropped silently
// (no FIN, no reset: the keeper cannot know) is found dead when the next
// run's session gets no answer within the connect timeout, and replaced
// by a new connection, without a failure line.
func TestPersistNetworkCut(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 2, Relay: true})
	env := muxEnv(t, f)
	allOkay(t, f, dt(t, f, env, "", "--persist", "1m", "all:", "ssh", "echo $DT_TEST_HOST"))
	if err := f.CutConnections("h001"); err != nil {
		t.Fatal(err)
	}
	before := logins(t, f)
	r := dt(t, f, env, "", "--persist", "1m", "-T", "2s", "all:", "ssh", "echo $DT_TEST_HOST")
	allOkay(t, f, r)
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}
	d := newLogins(t, f, before)
	for h, want := range map[string]int{"h001": 1, "h002": 0} {
		if d[h] != want {
			t.Errorf("%s: %d logins, want %d", h, d[h], want)
		}
	}
}

// TestPersistInterrupt: --timeout and Ctrl-C on a warm run stop the
// remote commands (their process group gets TERM through the keeper), with
// the same lines as on a cold run.
func TestPersistInterrupt(t *testing.T) {
	f := shared(t)
	env := muxEnv(t, f)
	allOkay(t, f, dt(t, f, env, "", "--persist", "1m", "all:", "ssh", "echo $DT_TEST_HOST"))
	before := logins(t, f)

	r := dt(t, f, env, "", "--persist", "1m", "--timeout", "1s", "sys:h001,h002", "ssh",
		`if [ $DT_TEST_HOST = h001 ]; then echo started; sleep 12346; else echo quick; fi`)
	recs := records(t, r.stdout)
	if got := string(recs["h001"].Message); r.code != 1 || recs["h001"].Status != output.Fail ||
		got != "timeout: timed out after 1s; remote command stopped; output so far:\nstarted" {
		t.Errorf("warm --timeout: exit %d, h001 %s %q", r.code, recs["h001"].Status, got)
	}
	if recs["h002"].Status != output.Okay || string(recs["h002"].Message) != "quick" {
		t.Errorf("h002: %s %q", recs["h002"].Status, recs["h002"].Message)
	}
	waitNoProcs(t, f, "sleep 12346")

	cmd := exec.Command(dtBin, "--persist", "1m", "-C", "4", "all:", "ssh",
		`case $DT_TEST_HOST in h001|h002) echo done;; *) sleep 34567;; esac`)
	cmd.Env = append(f.Env(), env...)
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, _ := f.RemoteProcs("sleep 34567")
		if len(pids) >= 2 && strings.Contains(out.String(), "okay::dt:ssh:h001:done\n") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("remote commands never started; stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want 130", err)
	}
	recs = records(t, out.String())
	if len(recs) != len(f.Hosts) {
		t.Errorf("%d records, want %d", len(recs), len(f.Hosts))
	}
	for h, rec := range recs {
		if h != "h001" && h != "h002" && !strings.HasPrefix(string(rec.Message), "interrupt: ") {
			t.Errorf("%s: %s %q, want an interrupt fail", h, rec.Status, rec.Message)
		}
	}
	waitNoProcs(t, f, "sleep 34567")
	for h, n := range newLogins(t, f, before) {
		if n != 0 {
			t.Errorf("%s: %d logins on the warm run, want 0", h, n)
		}
	}
}

// TestPersistIdleExit: the keeper closes connections idle for their
// persist time, then exits and leaves no socket.
func TestPersistIdleExit(t *testing.T) {
	f := shared(t)
	env := muxEnv(t, f)
	runtimeDir := strings.TrimPrefix(env[0], "XDG_RUNTIME_DIR=")
	sock := filepath.Join(runtimeDir, "dt", "mux.sock")
	if r := dt(t, f, env, "", "--persist", "1s", "sys:h001", "ssh", "true"); r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if len(keeperPIDs(runtimeDir)) != 1 {
		t.Fatalf("keepers: %v, want one", keeperPIDs(runtimeDir))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := os.Lstat(sock)
		if os.IsNotExist(err) && len(keeperPIDs(runtimeDir)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15s: socket %v, keepers %v", err, keeperPIDs(runtimeDir))
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := dt(t, f, env, "", "mux", "status")
	if st.code != 0 || st.stdout != "" || !strings.Contains(st.stderr, "no connection keeper is running") {
		t.Errorf("dt mux status after the keeper left: exit %d %q %q", st.code, st.stdout, st.stderr)
	}
	log, _ := os.ReadFile(filepath.Join(runtimeDir, "keeper.log"))
	if !strings.Contains(string(log), "closing h001") || !strings.Contains(string(log), "exiting (idle)") {
		t.Errorf("keeper log:\n%s", log)
	}
}

// TestPersistUnsafeSocketDir: dt refuses a socket directory that is a
// symlink, writable by others or owned by another user. The hosts still
// run, dialed directly, with one warning that says why; no socket is made
// there.
func TestPersistUnsafeSocketDir(t *testing.T) {
	f := shared(t)
	for _, tt := range []struct {
		name  string
		setup func(dir string) error
		why   string
	}{
		{"symlink", func(dir string) error {
			other := filepath.Join(filepath.Dir(dir), "elsewhere")
			if err := os.Mkdir(other, 0o700); err != nil {
				return err
			}
			return os.Symlink(other, dir)
		}, "is a symlink"},
		{"group writable", func(dir string) error {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			return os.Chmod(dir, 0o770)
		}, "is writable by group or others (mode 0770)"},
		{"another owner", func(dir string) error {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			return os.Chown(dir, 65534, 65534)
		}, "is owned by uid 65534, not by you (uid 0)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := muxEnv(t, f)
			runtimeDir := strings.TrimPrefix(env[0], "XDG_RUNTIME_DIR=")
			dir := filepath.Join(runtimeDir, "dt")
			if err := tt.setup(dir); err != nil {
				t.Fatal(err)
			}
			before := logins(t, f)
			r := dt(t, f, env, "", "--persist", "1m", "sys:h001,h002", "ssh", "echo $DT_TEST_HOST")
			if r.code != 0 || len(records(t, r.stdout)) != 2 {
				t.Errorf("exit %d, stdout %q", r.code, r.stdout)
			}
			want := "dt: warning: connection keeper not used, connecting directly: socket directory " + dir + " " + tt.why
			if !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", r.stderr, want)
			}
			for h, n := range newLogins(t, f, before) {
				if want := map[bool]int{true: 1}[h == "h001" || h == "h002"]; n != want {
					t.Errorf("%s: %d logins, want %d", h, n, want)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "mux.sock")); !os.IsNotExist(err) {
				t.Errorf("a socket was made in the refused directory: %v", err)
			}
			if pids := keeperPIDs(runtimeDir); len(pids) != 0 {
				t.Errorf("a keeper runs: %v", pids)
			}
			st := dt(t, f, env, "", "mux", "status")
			if st.code != 1 || !strings.Contains(st.stderr, tt.why) {
				t.Errorf("dt mux status: exit %d %q", st.code, st.stderr)
			}
		})
	}
}

// TestPersistOtherUserRefused: the keeper serves only its own uid, checked
// with SO_PEERCRED: a keeper run by nobody closes a connection from root,
// even though root can reach its socket, while nobody's own dt gets
// answers.
func TestPersistOtherUserRefused(t *testing.T) {
	f := shared(t)
	if err := os.Chmod(filepath.Dir(dtBin), 0o755); err != nil {
		t.Fatal(err)
	}
	runtimeDir, err := os.MkdirTemp("", "dt-e2e-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runtimeDir) })
	if err := os.Chown(runtimeDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	asNobody := func(args ...string) *exec.Cmd {
		cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", dtBin}, args...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "XDG_RUNTIME_DIR=" + runtimeDir}
		return cmd
	}
	var keeperErr bytes.Buffer
	keeper := asNobody("mux", "serve")
	keeper.Stderr = &keeperErr
	if err := keeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		keeper.Process.Signal(syscall.SIGTERM)
		keeper.Wait()
		if _, err := os.Lstat(filepath.Join(runtimeDir, "dt", "mux.sock")); !os.IsNotExist(err) {
			t.Errorf("socket left after SIGTERM: %v", err)
		}
		t.Logf("keeper's log:\n%s", keeperErr.String())
	}()
	sock := filepath.Join(runtimeDir, "dt", "mux.sock")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Lstat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the keeper never listened: %s", keeperErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// nobody's own dt is answered.
	var out, errb bytes.Buffer
	st := asNobody("mux", "status")
	st.Stdout, st.Stderr = &out, &errb
	if err := st.Run(); err != nil || !strings.HasPrefix(out.String(), "HOST ") || !strings.Contains(errb.String(), "connection keeper pid") {
		t.Errorf("nobody's dt mux status: %v %q %q", err, out.String(), errb.String())
	}

	// root reaches the socket (it may read any directory) and is cut off
	// before a single byte of SSH.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte("SSH-2.0-root\r\n"))
	buf := make([]byte, 64)
	n, rerr := c.Read(buf)
	c.Close()
	if n != 0 {
		t.Errorf("the keeper answered root: %q", buf[:n])
	}
	if ne, ok := rerr.(net.Error); ok && ne.Timeout() {
		t.Errorf("the keeper neither answered nor closed: %v", rerr)
	}
	time.Sleep(100 * time.Millisecond)
	if !strings.Contains(keeperErr.String(), "refused a connection from uid 0") {
		t.Errorf("keeper log lacks the refusal:\n%s", keeperErr.String())
	}

	// and root's dt refuses nobody's directory outright.
	r := dt(t, f, []string{"XDG_RUNTIME_DIR=" + runtimeDir}, "", "mux", "status")
	if r.code != 1 || !strings.Contains(r.stderr, "socket directory "+runtimeDir+" is owned by uid 65534, neither you (uid 0) nor root") {
		t.Errorf("root's dt mux status: exit %d %q", r.code, r.stderr)
	}
}

// TestPersistPasswordHost: with -i on a terminal, a host that takes only a
// password logs in, cold and under --persist: the password is asked
// before the terminal is handed to the remote command (else the command's
// stdin took the keystrokes and the login waited for ever), and the keeper,
// which only signs with keys, leaves the host to dt, which asks the
// password on its own terminal: the password never travels to the keeper,
// which keeps nothing for the host.
func TestPersistPasswordHost(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 1, PrivateHome: true, NoSharedKey: true, Password: true})
	env := muxEnv(t, f)
	runtimeDir := strings.TrimPrefix(env[0], "XDG_RUNTIME_DIR=")
	for _, persist := range []string{"no", "1m"} {
		cmd := exec.Command(dtBin, "-i", "-N", "--persist", persist, "sys:h001", "ssh", "echo in")
		cmd.Env = append(f.Env(), env...)
		term := startOnPTY(t, cmd)
		term.waitFor("dt: password for " + f.User + "@" + f.Hosts[0].HostPort() + " (h001): ")
		term.typeIn(f.Password + "\r")
		term.waitFor("h001:")
		text, err := term.wait()
		if err != nil || !strings.Contains(text, "\nin\r\nokay::dt:ssh:h001:") {
			t.Errorf("--persist %s: %v; want h001 okay", persist, err)
		}
		if strings.Contains(text, f.Password) {
			t.Errorf("--persist %s: the password was echoed", persist)
		}
	}
	log, _ := os.ReadFile(filepath.Join(runtimeDir, "keeper.log"))
	if strings.Contains(string(log), f.Password) || strings.Contains(string(log), "dialed h001") {
		t.Errorf("keeper log:\n%s", log)
	}
}

// TestPersistDialWaitBounded: a dt whose login waits on its terminal (a
// key's passphrase nobody types yet) does not hold another dt's run on the
// same host: the other waits for the shared dial at most its connect
// timeout, then dials itself, and ends as it would on a cold run.
func TestPersistDialWaitBounded(t *testing.T) {
	f := shared(t)
	env := muxEnv(t, f)
	key := encryptedKey(t, f, "sekrit")
	cfg := bareConfig(t, f, 1, "  IdentityFile "+key)
	home := t.TempDir()
	env = append(env, "HOME="+home)

	asking := exec.Command(dtBin, "-F", cfg, "-N", "--persist", "1m", "sys:h001", "ssh", "true")
	asking.Env = append(f.Env(), env...)
	term := startOnPTY(t, asking)
	term.waitFor("passphrase for ")
	defer asking.Process.Kill()

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	other := exec.CommandContext(ctx, dtBin, "-F", cfg, "-T", "2", "--persist", "1m", "sys:h001", "ssh", "true")
	other.Env = append(f.Env(), env...)
	other.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no terminal: the key cannot be used
	out, _ := other.Output()
	if ctx.Err() != nil {
		t.Fatalf("the second dt waited 20s for the first one's passphrase")
	}
	if !strings.Contains(string(out), "auth: ") || !strings.Contains(string(out), key+" is encrypted") {
		t.Errorf("got %q after %s, want the cold run's auth failure naming the encrypted key", out, time.Since(start).Round(time.Millisecond))
	}
	term.typeIn("sekrit\r")
	if text, err := term.wait(); err != nil || !strings.Contains(text, "okay::dt:ssh:h001:") {
		t.Errorf("the first dt: %v", err)
	}
}

// TestPersistRaceStart: dt runs that start together on a fresh socket
// directory all get answers over one keeper.
func TestPersistRaceStart(t *testing.T) {
	f := shared(t)
	env := muxEnv(t, f)
	var wg sync.WaitGroup
	runs := make([]run, 6)
	for i := range runs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runs[i] = dt(t, f, env, "", "--persist", "1m", "sys:h001,h002,h003", "ssh", "echo $DT_TEST_HOST")
		}(i)
	}
	wg.Wait()
	for i, r := range runs {
		if r.code != 0 || r.stderr != "" || len(records(t, r.stdout)) != 3 {
			t.Errorf("run %d: exit %d stderr %q", i, r.code, r.stderr)
		}
	}
}
