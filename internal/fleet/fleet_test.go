package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshOut runs the OpenSSH client against f (it ignores $HOME, hence -F) and
// returns its combined output.
func sshOut(t *testing.T, f *Fleet, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", append([]string{"-F", f.SSHConfig}, args...)...)
	cmd.Env = f.Env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func hostPort(addr string, port int) string {
	return net.JoinHostPort(addr, strconv.Itoa(port))
}

func mustSSH(t *testing.T, f *Fleet, args ...string) string {
	t.Helper()
	out, err := sshOut(t, f, args...)
	if err != nil {
		t.Fatalf("ssh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func handshakes(t *testing.T, f *Fleet, host string) int {
	t.Helper()
	n, err := f.Handshakes(host)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFleetSSH(t *testing.T) {
	f := StartTest(t, Options{N: 3})

	if got := mustSSH(t, f, "h002", "hostname; echo $DT_TEST_HOST; echo $DT_TEST_FLEET; id -un"); got != "h002\nh002\n"+f.ID+"\nfleet\n" {
		t.Errorf("h002 answered %q", got)
	}
	if n := handshakes(t, f, "h002"); n != 1 {
		t.Errorf("Handshakes(h002) = %d after one login, want 1", n)
	}
	if n := handshakes(t, f, "h001"); n != 0 {
		t.Errorf("Handshakes(h001) = %d, want 0", n)
	}

	// Root can log in with the same key.
	if got := mustSSH(t, f, "-l", "root", "h003", "id -u; hostname"); got != "0\nh003\n" {
		t.Errorf("root@h003 answered %q", got)
	}
	// The host's addresses are in known_hosts too.
	if got := mustSSH(t, f, f.Hosts[0].Addr, "hostname"); got != "h001\n" {
		t.Errorf("%s answered %q", f.Hosts[0].Addr, got)
	}
	// The host sees only its own processes.
	if got := mustSSH(t, f, "h001", "ps -e -o pid= -o comm= | awk '$1==1{print $2}'"); got != "sshd\n" {
		t.Errorf("PID 1 of h001 is %q, want sshd", got)
	}
	if total, err := f.TotalHandshakes(); err != nil || total != 4 {
		t.Errorf("TotalHandshakes = %d, %v; want 4", total, err)
	}

	before := handshakes(t, f, "h001")
	// The wrong key is refused (no config file: OpenSSH's IdentityFile
	// options add up).
	cmd := exec.Command("ssh", "-F", "/dev/null", "-i", f.WrongKey, "-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes", "-o", "UserKnownHostsFile="+f.KnownHosts, "fleet@"+f.Hosts[0].Addr, "true")
	cmd.Env = f.Env()
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("login with the wrong key: %v, %s", err, out)
	}
	if n := handshakes(t, f, "h001"); n != before {
		t.Errorf("Handshakes(h001) = %d after a refused login, want %d", n, before)
	}

	// Client files.
	db, err := os.ReadFile(f.DB)
	if err != nil {
		t.Fatal(err)
	}
	wantDB := "h001 linux db prod canary\nh002 linux web staging\nh003 linux db staging\n"
	if !strings.HasSuffix(string(db), wantDB) || !strings.HasPrefix(string(db), "#") {
		t.Errorf(".dtdb:\n%s\nwant a comment header and then\n%s", db, wantDB)
	}
	for _, p := range []string{f.ClientKey, f.WrongKey, f.SSHConfig, f.KnownHosts} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p, st.Mode(), err)
		}
	}
	env := strings.Join(f.Env(), "\n")
	if !strings.Contains(env, "HOME="+f.Home+"\n") || strings.Contains(env, "SSH_AUTH_SOCK") {
		t.Errorf("Env() = %q", f.Env())
	}
}

func TestRemoteProcsAndStop(t *testing.T) {
	Require(t)
	f, err := Start(context.Background(), Options{Dir: t.TempDir(), N: 2, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()

	// A session leaves a process behind, detached from the session.
	mustSSH(t, f, "h001", "setsid nohup sleep 12345 </dev/null >/dev/null 2>&1 &")
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); len(pids) == 0 && time.Now().Before(deadline); {
		if pids, err = f.RemoteProcs("sleep 12345"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) != 1 {
		t.Fatalf("RemoteProcs(sleep 12345) = %v, want one PID", pids)
	}
	if v, _ := envOf(pids[0], "DT_TEST_HOST"); v != "h001" {
		t.Errorf("sleep has DT_TEST_HOST=%q", v)
	}
	if other, _ := f.RemoteProcs("sleep 54321"); len(other) != 0 {
		t.Errorf("RemoteProcs(sleep 54321) = %v", other)
	}

	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	if left, _ := f.RemoteProcs(""); len(left) != 0 {
		t.Errorf("after Stop, RemoteProcs = %v", left)
	}
	// Gone, and reaped: no zombie is left either.
	if _, err := os.Stat("/proc/" + strconv.Itoa(pids[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Stop, process %d still exists (%v)", pids[0], err)
	}
	for _, h := range f.Hosts {
		if _, err := os.Stat("/proc/" + strconv.Itoa(h.PID)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Stop, sshd %d of %s still exists", h.PID, h.Name)
		}
		if c, err := net.DialTimeout("tcp", h.HostPort(), time.Second); err == nil {
			c.Close()
			t.Errorf("after Stop, %s still accepts connections", h.Name)
		}
	}
	if err := f.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStopHost(t *testing.T) {
	f := StartTest(t, Options{N: 2})
	if err := f.StopHost("h001"); err != nil {
		t.Fatal(err)
	}
	_, err := net.DialTimeout("tcp", f.Hosts[0].HostPort(), time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial stopped h001: %v, want connection refused", err)
	}
	if got := mustSSH(t, f, "h002", "hostname"); got != "h002\n" {
		t.Errorf("h002 answered %q", got)
	}
}

func TestNetFaults(t *testing.T) {
	Require(t)
	addrs, release, err := ReserveAddrs(3, 22)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	black, silent, down := addrs[0]+":22", addrs[1]+":22", addrs[2]+":22"

	// A fleet's spare addresses are down too.
	f := StartTest(t, Options{N: 1})
	spare := hostPort(f.SpareAddr(0), f.Hosts[0].Port)
	if _, err := net.DialTimeout("tcp", spare, 500*time.Millisecond); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial spare %s: %v, want connection refused", spare, err)
	}

	stopBlack, err := StartBlackhole(black)
	if err != nil {
		t.Fatal(err)
	}
	defer stopBlack()
	stopSilent, err := StartSilent(silent)
	if err != nil {
		t.Fatal(err)
	}
	defer stopSilent()

	t0 := time.Now()
	c, err := net.DialTimeout("tcp", black, 500*time.Millisecond)
	var ne net.Error
	if err == nil {
		c.Close()
		t.Errorf("dial blackhole %s: connected", black)
	} else if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("dial blackhole %s: %v, want a timeout", black, err)
	} else if d := time.Since(t0); d < 400*time.Millisecond {
		t.Errorf("dial blackhole timed out after %v only", d)
	}

	c, err = net.DialTimeout("tcp", silent, 500*time.Millisecond)
	if err != nil {
		t.Fatalf("dial silent %s: %v", silent, err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read from silent host: %d bytes, %v; want a timeout", n, err)
	}
	c.Close()

	if _, err := net.DialTimeout("tcp", down, 500*time.Millisecond); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial down %s: %v, want connection refused", down, err)
	}

	// After stop, the blackhole address is down.
	stopBlack()
	if _, err := net.DialTimeout("tcp", black, 500*time.Millisecond); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial stopped blackhole: %v, want connection refused", err)
	}
}

func TestRunit(t *testing.T) {
	f := StartTest(t, Options{N: 2, Runit: true})
	out := mustSSH(t, f, "h002", "echo $SVDIR; sv status sleeper; sv status stopped")
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || lines[0] != f.Hosts[1].SVDir || !strings.HasPrefix(lines[1], "run: sleeper: (pid ") || !strings.HasPrefix(lines[2], "down: stopped:") {
		t.Errorf("sv status on h002:\n%s", out)
	}
	// The services belong to the fleet and to their host.
	pids, err := f.RemoteProcs("sleep 100000")
	if err != nil || len(pids) != 2 {
		t.Errorf("RemoteProcs(sleep 100000) = %v, %v; want the 2 sleepers", pids, err)
	}
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	if left, _ := f.RemoteProcs(""); len(left) != 0 {
		t.Errorf("after Stop, RemoteProcs = %v", left)
	}
}

func TestConcurrentFleetsAndExtraConfig(t *testing.T) {
	Require(t)
	extra := "MaxSessions 7\nMatch User root\n  PermitRootLogin no\n"
	var wg sync.WaitGroup
	fleets := make([]*Fleet, 2)
	errs := make([]error, 2)
	for i := range fleets {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fleets[i], errs[i] = Start(context.Background(), Options{Dir: t.TempDir(), N: 3, ExtraSSHDConfig: extra})
		}(i)
	}
	wg.Wait()
	for i, f := range fleets {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { f.Stop() })
	}
	a, b := fleets[0], fleets[1]
	for _, ha := range a.Hosts {
		for _, hb := range b.Hosts {
			if ha.Addr == hb.Addr {
				t.Fatalf("both fleets use %s", ha.Addr)
			}
		}
	}
	// Explicitly asking for a taken range fails.
	if f, err := Start(context.Background(), Options{Dir: t.TempDir(), N: 1, FirstAddr: a.SpareAddr(0)}); err == nil {
		f.Stop()
		t.Errorf("Start on %s, a spare address of another fleet, succeeded", a.SpareAddr(0))
	}

	// ExtraSSHDConfig overrides defaults, and its Match block applies.
	out, err := exec.Command("/usr/sbin/sshd", "-T", "-f", a.Hosts[0].Config).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nmaxsessions 7\n") {
		t.Errorf("sshd -T: %v\n%s", err, out)
	}
	if got := mustSSH(t, b, "h001", "hostname"); got != "h001\n" {
		t.Errorf("fleet b h001 answered %q", got)
	}
	if out, err := sshOut(t, b, "-l", "root", "h001", "true"); err == nil {
		t.Errorf("root login despite Match User root / PermitRootLogin no: %s", out)
	}
}

func TestStartErrors(t *testing.T) {
	Require(t)
	for _, o := range []Options{
		{N: 1},
		{Dir: t.TempDir(), N: 0},
		{Dir: t.TempDir(), N: 2, Name: func(int) string { return "same" }},
		{Dir: t.TempDir(), N: 1, Name: func(int) string { return "bad name" }},
		{Dir: t.TempDir(), N: 1, FirstAddr: "10.0.0.1"},
	} {
		if f, err := Start(context.Background(), o); err == nil {
			f.Stop()
			t.Errorf("Start(%+v) succeeded", o)
		}
	}
}

func TestStartCanceled(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if f, err := Start(ctx, Options{Dir: t.TempDir(), N: 20}); !errors.Is(err, context.Canceled) {
		if f != nil {
			f.Stop()
		}
		t.Errorf("Start with a canceled context: %v, want context.Canceled", err)
	}
}

func TestDefaultTags(t *testing.T) {
	want := [][]string{
		{"linux", "db", "prod", "canary"},
		{"linux", "web", "staging"},
		{"linux", "db", "staging"},
		{"linux", "web", "prod"},
		{"linux", "db", "staging"},
	}
	for i, w := range want {
		if got := DefaultTags(i); !reflect.DeepEqual(got, w) {
			t.Errorf("DefaultTags(%d) = %v, want %v", i, got, w)
		}
	}
	if DefaultName(0) != "h001" || DefaultName(99) != "h100" {
		t.Errorf("DefaultName: %s %s", DefaultName(0), DefaultName(99))
	}
}

func TestSplitExtra(t *testing.T) {
	for _, c := range []struct{ in, top, bottom string }{
		{"", "", ""},
		{"MaxSessions 2", "MaxSessions 2\n", ""},
		{"A 1\nmatch User x\n  B 2\n", "A 1\n", "match User x\n  B 2\n"},
		{"Match all\nB 2", "", "Match all\nB 2\n"},
	} {
		top, bottom := splitExtra(c.in)
		if top != c.top || bottom != c.bottom {
			t.Errorf("splitExtra(%q) = %q, %q; want %q, %q", c.in, top, bottom, c.top, c.bottom)
		}
	}
}

func TestAddrs(t *testing.T) {
	u, err := parseLoopback("127.10.0.255")
	if err != nil || addrString(u+1) != "127.10.1.0" {
		t.Errorf("127.10.0.255 + 1 = %s (%v)", addrString(u+1), err)
	}
	for _, bad := range []string{"10.0.0.1", "127.0.0.0", "127.255.255.255", "::1", "x"} {
		if _, err := parseLoopback(bad); err == nil {
			t.Errorf("parseLoopback(%q) succeeded", bad)
		}
	}
}

func TestEnsureTraversable(t *testing.T) {
	Require(t)
	d := filepath.Join(t.TempDir(), "a", "b")
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := ensureTraversable(d); err != nil {
		t.Fatal(err)
	}
	for p := d; p != filepath.Dir(os.TempDir()); p = filepath.Dir(p) {
		if st, _ := os.Stat(p); st.Mode().Perm()&0o001 == 0 {
			t.Errorf("%s: mode %v", p, st.Mode())
		}
	}
}

// TestPrivateDirs: every host has its own writable directory at the same
// path (a tmpfs of its size in its mount namespace), seen from outside
// through PrivatePath, and invisible on the machine itself.
func TestPrivateDirs(t *testing.T) {
	f := StartTest(t, Options{N: 2, PrivateSize: func(i int) int64 { return int64(i+1) << 20 }})
	for i, h := range f.Hosts {
		mustSSH(t, f, h.Name, "echo $(hostname) > "+f.Private+"/who")
		got, err := os.ReadFile(h.PrivatePath(f, "who"))
		if err != nil || strings.TrimSpace(string(got)) != h.Name {
			t.Errorf("%s: %q, %v", h.Name, got, err)
		}
		// df's 1K-blocks of the tmpfs: the size asked for.
		df := strings.Fields(mustSSH(t, f, h.Name, "df -k --output=size "+f.Private+" | tail -1"))
		if want := fmt.Sprint((i + 1) << 10); len(df) != 1 || df[0] != want {
			t.Errorf("%s: df says %q KiB, want %s", h.Name, df, want)
		}
	}
	if ents, err := os.ReadDir(f.Private); err != nil || len(ents) != 0 {
		t.Errorf("the machine's %s holds %d entries (%v); the hosts' files must stay in their namespaces", f.Private, len(ents), err)
	}
}

// TestPasswordHosts: with Password, NoSharedKey and PrivateHome, the
// client key logs in nowhere, the password does (by password on one host,
// by keyboard-interactive through PAM on the other), each host has a home
// of its own, and the machine's account still has no password.
func TestPasswordHosts(t *testing.T) {
	f := StartTest(t, Options{N: 2, PrivateHome: true, NoSharedKey: true, Password: true,
		KbdInteractive: func(i int) bool { return i == 1 }})
	if f.Password == "" {
		t.Fatal("no Fleet.Password")
	}
	if _, err := sshOut(t, f, "h001", "true"); err == nil {
		t.Error("the client key logged in without being in any authorized_keys")
	}
	login := func(h *Host, auth ssh.AuthMethod) (*ssh.Client, error) {
		return ssh.Dial("tcp", h.HostPort(), &ssh.ClientConfig{
			User: f.User, Auth: []ssh.AuthMethod{auth},
			HostKeyCallback: ssh.FixedHostKey(h.HostKeyPub), Timeout: 10 * time.Second,
		})
	}
	pw := ssh.Password(f.Password)
	kbd := ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
		ans := make([]string, len(qs))
		for i := range qs {
			ans[i] = f.Password
		}
		return ans, nil
	})
	for i, auth := range []ssh.AuthMethod{pw, kbd} {
		h := &f.Hosts[i]
		c, err := login(h, auth)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.CombinedOutput("echo " + h.Name + " > ~/who; cat ~/who")
		c.Close()
		if err != nil || strings.TrimSpace(string(out)) != h.Name {
			t.Errorf("%s: %q, %v", h.Name, out, err)
		}
		if got, err := os.ReadFile(h.HomePath(f, "who")); err != nil || strings.TrimSpace(string(got)) != h.Name {
			t.Errorf("%s: its home holds %q, %v", h.Name, got, err)
		}
	}
	if _, err := login(&f.Hosts[0], ssh.Password("wrong")); err == nil {
		t.Error("a wrong password logged in")
	}
	if _, err := login(&f.Hosts[1], pw); err == nil {
		t.Error("password authentication works on the keyboard-interactive host")
	}
	if locked, err := passwordLocked(f.User); err != nil || locked {
		t.Errorf("machine account locked=%v, %v", locked, err)
	}
	data, _ := os.ReadFile("/etc/shadow")
	for _, l := range strings.Split(string(data), "\n") {
		if fields := strings.Split(l, ":"); fields[0] == f.User && fields[1] != "*" {
			t.Errorf("the machine's account of %s has a password: %q", f.User, fields[1][:3])
		}
	}
}
