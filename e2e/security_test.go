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
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
)

// sshConfigBlock is one Host block of an ssh_config written by a test.
func sshConfigBlock(alias string, lines ...string) string {
	return "Host " + alias + "\n  " + strings.Join(lines, "\n  ") + "\n"
}

// writeTestFile writes data to a new file in a test temp dir.
func writeTestFile(t *testing.T, name, data string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostKeyLine returns a known_hosts line vouching for h's key under addr.
func hostKeyLine(t *testing.T, f *fleet.Fleet, h *fleet.Host, addr string) string {
	t.Helper()
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, h.HostKeyPub) + "\n"
}

// TestPoolKeysConnectionsByEverything: the pool shares a connection only
// between targets that agree on destination, route and trust. Aliases of
// one address with different ProxyCommands reach different hosts; an alias
// whose known_hosts says the key changed is refused even when listed with
// an alias that accepts it; and two names that do share a connection both
// finish, whichever ends first.
func TestPoolKeysConnectionsByEverything(t *testing.T) {
	f := shared(t)
	const sameName = "127.0.0.1" // what every alias claims to be; nothing listens there for them
	h1, h2, h3 := &f.Hosts[0], &f.Hosts[1], &f.Hosts[2]

	t.Run("different ProxyCommands", func(t *testing.T) {
		var cfg strings.Builder
		for i, h := range []*fleet.Host{h1, h2, h3} {
			// Each alias relays to a different host, and trusts that
			// host's key under the name it dials.
			kh := writeTestFile(t, "known_hosts", hostKeyLine(t, f, h, sameName+":"+strconv.Itoa(h.Port)), 0o600)
			cfg.WriteString(sshConfigBlock(fmt.Sprintf("via%d", i+1),
				"HostName "+sameName,
				"Port "+strconv.Itoa(h.Port),
				"User "+f.User,
				"IdentityFile "+f.ClientKey,
				"UserKnownHostsFile "+kh,
				fmt.Sprintf("ProxyCommand /bin/bash -c 'exec 3<>/dev/tcp/%s/%d; cat <&3 & exec cat >&3'", h.Addr, h.Port)))
		}
		cfgFile := writeTestFile(t, "config", cfg.String(), 0o600)
		r := dt(t, f, nil, "", "-F", cfgFile, "sys:via1,via2,via3", "ssh", "echo $DT_TEST_HOST")
		recs := records(t, r.stdout)
		for i, h := range []*fleet.Host{h1, h2, h3} {
			alias := fmt.Sprintf("via%d", i+1)
			if rec := recs[alias]; rec.Status != output.Okay || string(rec.Message) != h.Name {
				t.Errorf("%s relays to %s, but answered %s %q", alias, h.Name, rec.Status, rec.Message)
			}
		}
	})

	t.Run("changed key never rides a trusting alias's connection", func(t *testing.T) {
		// kA accepts new keys (an empty known_hosts, StrictHostKeyChecking
		// no); kB is strict and its known_hosts has another key for the
		// same address: alone it fails with CHANGED.
		other := &f.Hosts[5]
		addr := h1.Addr + ":" + strconv.Itoa(h1.Port)
		common := []string{"HostName " + h1.Addr, "Port " + strconv.Itoa(h1.Port), "User " + f.User, "IdentityFile " + f.ClientKey}
		cfg := sshConfigBlock("kA", append(common, "StrictHostKeyChecking no", "UserKnownHostsFile "+writeTestFile(t, "kA_hosts", "", 0o600))...) +
			sshConfigBlock("kB", append(common, "StrictHostKeyChecking yes", "UserKnownHostsFile "+writeTestFile(t, "kB_hosts", hostKeyLine(t, f, other, addr), 0o600))...)
		cfgFile := writeTestFile(t, "config", cfg, 0o600)
		for i := 0; i < 4; i++ {
			r := dt(t, f, nil, "", "-F", cfgFile, "sys:kA,kB", "ssh", "sleep 0.3; echo ran")
			recs := records(t, r.stdout)
			if rec := recs["kA"]; rec.Status != output.Okay || string(rec.Message) != "ran" {
				t.Errorf("run %d: kA %s %q", i, rec.Status, rec.Message)
			}
			if rec := recs["kB"]; rec.Status != output.Fail || !strings.Contains(string(rec.Message), "hostkey: host key for "+addr+" has CHANGED") {
				t.Errorf("run %d: kB %s %q, want a CHANGED host key failure", i, rec.Status, rec.Message)
			}
		}
	})

	t.Run("a shared connection outlives its first user", func(t *testing.T) {
		// The alias and the bare address resolve identically, so they
		// share one connection. The first session to take the lock exits
		// at once, the other a second later: the first must not close the
		// connection under the second.
		lines := []string{"HostName " + h1.Addr, "Port " + strconv.Itoa(h1.Port), "User " + f.User, "IdentityFile " + f.ClientKey, "UserKnownHostsFile " + f.KnownHosts}
		cfgFile := writeTestFile(t, "config", sshConfigBlock(h1.Name, lines...)+sshConfigBlock(h1.Addr, lines...), 0o600)
		dir := remoteDir(t, f)
		for i := 0; i < 3; i++ {
			lock := filepath.Join(dir, fmt.Sprintf("lock%d", i))
			r := dt(t, f, nil, "", "-F", cfgFile, "sys:"+h1.Name+","+h1.Addr, "ssh", "mkdir "+lock+" 2>/dev/null || sleep 1; echo done")
			recs := records(t, r.stdout)
			for _, name := range []string{h1.Name, h1.Addr} {
				if rec := recs[name]; rec.Status != output.Okay || string(rec.Message) != "done" {
					t.Errorf("run %d: %s %s %q", i, name, rec.Status, rec.Message)
				}
			}
		}
	})
}

// TestHostKeyWarnings: a run that did not verify host keys says so once on
// stderr, with the number of hosts; a verified run says nothing.
func TestHostKeyWarnings(t *testing.T) {
	f := shared(t)
	pattern := "sys:h001,h002,h003"
	r := dt(t, f, nil, "", pattern, "ssh", "true")
	if r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Errorf("strict run: exit %d, stderr %q", r.code, r.stderr)
	}
	r = dt(t, f, nil, "", "--host-keys", "off", pattern, "ssh", "true")
	if r.code != 0 || strings.Count(r.stderr, "dt: warning: host keys not checked for 3 host(s)") != 1 {
		t.Errorf("--host-keys off: exit %d, stderr %q", r.code, r.stderr)
	}
	// StrictHostKeyChecking no (accept-new in dt) with an empty
	// known_hosts: three keys accepted unverified.
	home := copyHome(t, f)
	writeFile(t, filepath.Join(home, ".ssh", "known_hosts"), nil, 0o600)
	cfg := filepath.Join(home, ".ssh", "config")
	data, _ := os.ReadFile(cfg)
	writeFile(t, cfg, append([]byte("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile "+filepath.Join(home, ".ssh", "known_hosts")+"\n"), data...), 0o600)
	r = dt(t, f, []string{"HOME=" + home}, "", pattern, "ssh", "true")
	if r.code != 0 || strings.Count(r.stderr, "dt: warning: 3 new host key(s) accepted unverified") != 1 {
		t.Errorf("StrictHostKeyChecking no: exit %d, stderr %q", r.code, r.stderr)
	}
	// Now known: verified, no warning.
	r = dt(t, f, []string{"HOME=" + home}, "", pattern, "ssh", "true")
	if r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Errorf("second run: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestUnprotectedKeyRefused: like OpenSSH, dt does not use a private key
// file that others can read, and says how to fix it.
func TestUnprotectedKeyRefused(t *testing.T) {
	f := shared(t)
	home := copyHome(t, f)
	key := filepath.Join(home, ".ssh", "id_ed25519")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	r := dt(t, f, []string{"HOME=" + home}, "", "sys:h001", "ssh", "true")
	rec := records(t, r.stdout)["h001"]
	if r.code != 1 || rec.Status != output.Fail || !strings.Contains(string(rec.Message), "UNPROTECTED PRIVATE KEY FILE") || !strings.Contains(string(rec.Message), "chmod 600 "+key) {
		t.Errorf("key 0644: exit %d %s %q", r.code, rec.Status, rec.Message)
	}
	os.Chmod(key, 0o600)
	if r := dt(t, f, []string{"HOME=" + home}, "", "sys:h001", "ssh", "true"); r.code != 0 {
		t.Errorf("key 0600: exit %d", r.code)
	}
}

// TestJumpChainLimit: one limit for jump chains, written in the inventory
// or built from ssh_config.
func TestJumpChainLimit(t *testing.T) {
	f := shared(t)
	hops := make([]string, 9)
	for i := range hops {
		hops[i] = fmt.Sprintf("j%d", i+1)
	}
	db := writeTestFile(t, "dtdb", "h001|"+strings.Join(hops, ",")+" far\n", 0o600)
	r := dt(t, f, nil, "", "-D", db, "all:", "ssh", "true")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, db+":1: jump chain of 9 hosts") || !strings.Contains(r.stderr, "at most 8") {
		t.Errorf("9 hops in the inventory: exit %d, stderr %q", r.code, r.stderr)
	}
	cfg := writeTestFile(t, "config", sshConfigBlock("far", "HostName 127.0.0.1", "ProxyJump "+strings.Join(hops, ",")), 0o600)
	r = dt(t, f, nil, "", "-F", cfg, "sys:far", "ssh", "true")
	if rec := records(t, r.stdout)["far"]; r.code != 1 || rec.Status != output.Fail || !strings.Contains(string(rec.Message), "resolve: far: jump chain of 9 hosts; at most 8 are allowed") {
		t.Errorf("9 hops in ssh_config: exit %d %s %q", r.code, rec.Status, rec.Message)
	}
}

// TestC1ControlsEscaped: 8-bit control characters from a host, as UTF-8
// and as raw bytes, are escaped in lines and in JSON, losslessly.
func TestC1ControlsEscaped(t *testing.T) {
	f := shared(t)
	cmd := `printf 'A\302\2332JB\233C'`
	r := dt(t, f, nil, "", "sys:h001", "ssh", cmd)
	if want := `okay::dt:ssh:h001:A\xc2\x9b2JB\x9bC` + "\n"; r.stdout != want {
		t.Errorf("line %q, want %q", r.stdout, want)
	}
	if rec := records(t, r.stdout)["h001"]; string(rec.Message) != "A\xc2\x9b2JB\x9bC" {
		t.Errorf("parsed back %q", rec.Message)
	}
	r = dt(t, f, nil, "", "--json", "sys:h001", "ssh", cmd)
	for _, b := range []byte(r.stdout) {
		if b == 0x9b {
			t.Fatalf("raw C1 byte in JSON %q", r.stdout)
		}
	}
	if !strings.Contains(r.stdout, `"output":"A\u009b2JB\ufffdC"`) || !strings.Contains(r.stdout, `"output_b64":"`) {
		t.Errorf("JSON %q", r.stdout)
	}
}

// TestScriptAndStdinBounded: dt reads no unbounded local input: a script
// that is a device is refused before anything runs.
func TestScriptAndStdinBounded(t *testing.T) {
	f := shared(t)
	r := dt(t, f, nil, "", "sys:h001", "script", "/dev/zero")
	if r.code != 3 || r.stdout != "" || !strings.Contains(r.stderr, "/dev/zero is not a regular file (a character device)") {
		t.Errorf("script /dev/zero: exit %d, stderr %q", r.code, r.stderr)
	}
}

// ptyKeep is a command on a pseudo-terminal whose slave side the test
// keeps open, so the terminal's modes can be read after the command ends.
type ptyKeep struct {
	ptmx, pts *os.File
	cmd       *exec.Cmd
	out       chan []byte
	screen    bytes.Buffer
}

// startOnPTYKeep starts cmd with a new terminal as its controlling
// terminal, stdin and stderr, and as its stdout unless stdout is set.
func startOnPTYKeep(t *testing.T, cmd *exec.Cmd, stdout *os.File) *ptyKeep {
	t.Helper()
	ptmx, pts := openPTY(t)
	t.Cleanup(func() { ptmx.Close(); pts.Close() })
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &ptyKeep{ptmx: ptmx, pts: pts, cmd: cmd, out: make(chan []byte, 100)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			if n > 0 {
				p.out <- bytes.Clone(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

// waitFor reads the screen until s shows, for up to 10s.
func (p *ptyKeep) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(p.screen.String(), s) {
		select {
		case b := <-p.out:
			p.screen.Write(b)
		case <-deadline:
			p.cmd.Process.Kill()
			t.Fatalf("no %q on screen %q", s, p.screen.String())
		}
	}
}

// exit waits for the command and returns its exit code.
func (p *ptyKeep) exit(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("still running; screen %q", p.screen.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// echoOn reports whether the terminal echoes input.
func (p *ptyKeep) echoOn(t *testing.T) bool {
	t.Helper()
	var tio syscall.Termios
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, p.pts.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&tio))); e != 0 {
		t.Fatal(e)
	}
	return tio.Lflag&syscall.ECHO != 0
}

// TestPromptRestoresTerminal: Ctrl-C at the -K prompt, once or twice,
// leaves the terminal echoing; dt exits 130 and runs nothing.
func TestPromptRestoresTerminal(t *testing.T) {
	f := shared(t)
	for _, presses := range []int{1, 2} {
		cmd := exec.Command(dtBin, "-K", "--sudo", "sys:h001", "ssh", "true")
		cmd.Env = f.Env()
		p := startOnPTYKeep(t, cmd, nil)
		p.waitFor(t, "dt: sudo password: ")
		if p.echoOn(t) {
			t.Fatal("echo on while the password is asked")
		}
		for i := 0; i < presses; i++ {
			p.ptmx.Write([]byte{3}) // ^C: SIGINT through the terminal
			time.Sleep(50 * time.Millisecond)
		}
		if code := p.exit(t); code != 130 {
			t.Errorf("%d Ctrl-C: exit %d, want 130; screen %q", presses, code, p.screen.String())
		}
		if !p.echoOn(t) {
			t.Errorf("%d Ctrl-C at the -K prompt left echo off", presses)
		}
	}
}

// sshdListener returns the host PID of the sshd that listens in systemd
// container h (a child of its PID 1).
func sshdListener(t *testing.T, h *fleet.Host) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if i < 0 || j < 0 || string(stat[i+1:j]) != "sshd" {
			continue
		}
		if fields := strings.Fields(string(stat[j+1:])); len(fields) > 1 && fields[1] == strconv.Itoa(h.PID) {
			pid, _ := strconv.Atoi(e.Name())
			return pid
		}
	}
	t.Fatalf("%s: no sshd under PID %d", h.Name, h.PID)
	return 0
}

// traceExecs records every program started under pid (and its future
// children) with its arguments, until the returned function is called,
// which returns the trace.
func traceExecs(t *testing.T, pid int) func() string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "trace")
	st := exec.Command("strace", "-f", "-qq", "-e", "trace=execve", "-s", "4096", "-o", out, "-p", strconv.Itoa(pid))
	if err := st.Start(); err != nil {
		t.Fatalf("strace: %v", err)
	}
	// strace attaches before it writes anything; give it a moment.
	time.Sleep(300 * time.Millisecond)
	return func() string {
		st.Process.Signal(syscall.SIGINT)
		st.Wait()
		data, _ := os.ReadFile(out)
		return string(data)
	}
}

// sudoAttempts counts the failed sudo password checks in host's journal
// since since.
func sudoAttempts(t *testing.T, f *fleet.Fleet, host string, since time.Time) int {
	t.Helper()
	out := inside(t, f, host, fmt.Sprintf("journalctl -q --no-pager --since @%d SYSLOG_IDENTIFIER=sudo | grep -c 'authentication failure' || true", since.Unix()))
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("%s: counting sudo failures: %q", host, out)
	}
	return n
}

// runK runs dt -N with args on a terminal, types password at the -K
// prompt, and returns the whole screen and the exit code. stdout, when not
// nil, receives dt's standard output instead of the terminal (the prompt
// still uses the terminal on stdin and stderr).
func runK(t *testing.T, env []string, password string, stdout *os.File, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(dtBin, append([]string{"-N"}, args...)...)
	cmd.Env = env
	p := startOnPTYKeep(t, cmd, stdout)
	p.waitFor(t, "dt: sudo password: ")
	p.ptmx.Write([]byte(password + "\n"))
	code := p.exit(t)
	time.Sleep(100 * time.Millisecond)
	for len(p.out) > 0 {
		p.screen.Write(<-p.out)
	}
	t.Logf("$ dt %s\n%s(exit %d)", strings.Join(args, " "), p.screen.String(), code)
	return p.screen.String(), code
}

// TestSudoPasswordSecrecy: the -K password never shows: not on the
// terminal (with or without a remote PTY), not in a file dt's output goes
// to, not in any program's arguments whatever the login shell, and a wrong
// one costs one sudo attempt per host, however many commands the module
// runs there.
func TestSudoPasswordSecrecy(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatal("strace is needed to watch the programs started on the hosts: ", err)
	}
	f := fleet.StartSystemdTest(t, fleet.SystemdOptions{N: 2})
	all := allNames(f)
	asFleet := userDB(t, f, fleet.SystemdUser)
	pw := fleet.SudoPassword

	t.Run("terminal", func(t *testing.T) {
		for _, args := range [][]string{
			{"-i", "--sudo", "-K", "-D", asFleet, "all:", "ssh", "id -u"},
			{"--sudo", "-K", "-D", asFleet, "all:", "ssh", "id -u"},
			{"-K", "-D", asFleet, "all:", "sudo", "id -u"},
		} {
			screen, code := runK(t, f.Env(), pw, nil, args...)
			if code != 0 || strings.Count(screen, "sudo password") != 1 {
				t.Errorf("dt %q: exit %d", args, code)
			}
			if strings.Contains(screen, pw) {
				t.Errorf("dt %q showed the password:\n%s", args, screen)
			}
			if args[0] == "-i" {
				// The remote command's own output reaches the terminal.
				if strings.Count(screen, "0\r\n") < len(all) {
					t.Errorf("dt %q: no uid 0 from every host:\n%s", args, screen)
				}
			} else if strings.Count(screen, ":0\r\n") != len(all) {
				t.Errorf("dt %q: no uid 0 line from every host:\n%s", args, screen)
			}
		}
	})

	t.Run("output to a file", func(t *testing.T) {
		out, err := os.Create(filepath.Join(t.TempDir(), "out.txt"))
		if err != nil {
			t.Fatal(err)
		}
		screen, code := runK(t, f.Env(), pw, out, "-i", "--sudo", "-K", "-D", asFleet, "all:", "ssh", "id -u")
		out.Close()
		saved, _ := os.ReadFile(out.Name())
		if code != 0 || strings.Contains(string(saved)+screen, pw) {
			t.Errorf("exit %d; the password is in the terminal or out.txt:\nout.txt: %q\nscreen: %q", code, saved, screen)
		}
		if !bytes.Contains(saved, []byte("0")) {
			t.Errorf("out.txt has no output: %q", saved)
		}
	})

	t.Run("no argument holds it, whatever the login shell", func(t *testing.T) {
		var stops []func() string
		for i := range f.Hosts {
			stops = append(stops, traceExecs(t, sshdListener(t, &f.Hosts[i])))
		}
		for _, u := range fleet.ShellUsers {
			screen, code := runK(t, f.Env(), pw, nil, "--sudo", "-K", "-D", userDB(t, f, u), "all:", "ssh", "id -u; ps -o args= -p $$")
			if code != 0 || strings.Count(screen, "okay::dt:ssh:") != len(all) {
				t.Errorf("login shell of %s: exit %d\n%s", u, code, screen)
			}
		}
		var trace strings.Builder
		for _, stop := range stops {
			trace.WriteString(stop())
		}
		execs, sudos := 0, 0
		sc := bufio.NewScanner(strings.NewReader(trace.String()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, "execve(") {
				continue
			}
			execs++
			if strings.Contains(line, `execve("/usr/bin/sudo"`) {
				sudos++
			}
			if strings.Contains(line, pw) {
				t.Errorf("a program got the password as an argument: %s", line)
			}
		}
		// Each shell user ran sudo (validate, command, -k) on each host:
		// the trace saw the sessions, so it could have seen a leak.
		if want := 3 * len(fleet.ShellUsers) * len(f.Hosts); sudos < want {
			t.Errorf("trace has %d sudo runs of %d execs, want at least %d: the tracing missed the sessions", sudos, execs, want)
		}
	})

	t.Run("wrong password: one attempt per host", func(t *testing.T) {
		since := time.Now().Add(-time.Second)
		screen, code := runK(t, f.Env(), "wrong-"+pw, nil, "--sudo", "-K", "-D", asFleet, "all:", "systemctl", "--settle", "0", "restart", "demo-ok", "demo-stopped", "demo-crash", "demo-x", "demo-y")
		if code != 1 {
			t.Errorf("exit %d", code)
		}
		for _, h := range all {
			if n := sudoAttempts(t, f, h, since); n != 1 {
				t.Errorf("%s: %d failed sudo attempts, want 1", h, n)
			}
			fails := 0
			for _, line := range lines(strings.ReplaceAll(screen, "\r\n", "\n")) {
				if strings.HasPrefix(line, "fail::dt:systemctl:"+h+":") {
					fails++
				}
			}
			if fails != 5 {
				t.Errorf("%s: %d fail lines, want 5 (one per unit):\n%s", h, fails, screen)
			}
		}
		if !strings.Contains(screen, "sudo rejected the password") || !strings.Contains(screen, "not asked again on this host") {
			t.Errorf("no reason given:\n%s", screen)
		}
	})
}
