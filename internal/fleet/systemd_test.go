package fleet

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSystemdFleet boots two real systemd containers and checks over real
// ssh what dt's systemctl, journal and sudo tests rely on, then that Stop
// leaves nothing behind.
func TestSystemdFleet(t *testing.T) {
	f := StartSystemdTest(t, SystemdOptions{N: 2})
	ctx := context.Background()

	if f.User != "root" {
		t.Errorf("User = %q, want root", f.User)
	}
	for _, h := range f.Hosts {
		got := mustSSH(t, f, h.Name, "hostname; echo $DT_TEST_HOST $DT_TEST_FLEET; id -un; ps -o comm= -p 1")
		want := h.Name + "\n" + h.Name + " " + f.ID + "\nroot\nsystemd\n"
		if got != want {
			t.Errorf("%s answered %q, want %q", h.Name, got, want)
		}
		if n := handshakes(t, f, h.Name); n != 1 {
			t.Errorf("Handshakes(%s) = %d after one login, want 1", h.Name, n)
		}
		if !strings.Contains(strings.Join(h.Tags, " "), "systemd") {
			t.Errorf("%s has tags %v, want systemd among them", h.Name, h.Tags)
		}
	}

	// ssh runs a command; out is what it must print (exactly, or as a
	// substring with contains); fails says whether it must exit non-zero.
	tests := []struct {
		name     string
		args     []string
		fails    bool
		out      string
		contains bool
	}{
		{"root demo-ok active", []string{"c001", "systemctl is-active demo-ok"}, false, "active\n", false},
		{"root states at boot", []string{"c001", "systemctl is-active demo-fail demo-stopped; systemctl is-enabled demo-ok demo-stopped"},
			false, "failed\ninactive\nenabled\ndisabled\n", false},
		{"root start demo-fail fails", []string{"c001", "systemctl start demo-fail"}, true, "Job for demo-fail.service failed", true},
		{"root journal shows failure", []string{"c001", "journalctl -u demo-fail -n 10 --no-pager --since '-1h'"}, false, "demo-fail: config invalid", true},
		{"root demo-crash restarts", []string{"c001", "sleep 3; systemctl show -p NRestarts --value demo-crash"}, false, "", false},
		{"fleet user manager", []string{"fleet@c001", "systemctl --user is-active demo-ok demo-stopped; systemctl --user is-failed demo-fail"},
			false, "active\ninactive\nfailed\n", false},
		{"fleet user journal", []string{"fleet@c002", "journalctl --user -u demo-ok --no-pager"}, false, "demo-ok: started", true},
		{"fleet system journal denied", []string{"fleet@c001", "journalctl -u demo-fail -n 10 --no-pager"}, false,
			"You are currently not seeing messages from other users and the system", true},
		{"fleet restart denied", []string{"fleet@c001", "systemctl restart demo-ok"}, true, "", false},
		{"fleet sudo -n fails", []string{"fleet@c001", "sudo -n true"}, true, "sudo: a password is required\n", false},
		{"fleet sudo -S works", []string{"fleet@c002", "echo " + SudoPassword + " | sudo -S -p '' id -u"}, false, "0\n", false},
		{"fleet sudo wrong password", []string{"fleet@c002", "echo wrong | sudo -S -p '' id -u"}, true, "incorrect password", true},
		{"nolinger has no manager", []string{"nolinger@c001", "systemctl --user is-active demo-ok"}, true, "Failed to connect to bus", true},
		{"nolinger no runtime dir", []string{"nolinger@c001", "echo ${XDG_RUNTIME_DIR-unset}; id -u"}, false, "unset\n1001\n", false},
	}
	for _, tc := range tests {
		out, err := sshOut(t, f, tc.args...)
		switch {
		case tc.fails && err == nil:
			t.Errorf("%s: ssh %q succeeded, want a failure; output %q", tc.name, tc.args, out)
		case !tc.fails && err != nil:
			t.Errorf("%s: ssh %q: %v; output %q", tc.name, tc.args, err, out)
		case tc.name == "root demo-crash restarts":
			if n := strings.TrimSpace(out); n == "" || n == "0" {
				t.Errorf("%s: NRestarts = %q after 3 s, want > 0", tc.name, n)
			}
		case tc.out == "":
		case tc.contains && !strings.Contains(out, tc.out):
			t.Errorf("%s: ssh %q printed %q, want it to contain %q", tc.name, tc.args, out, tc.out)
		case !tc.contains && out != tc.out:
			t.Errorf("%s: ssh %q printed %q, want %q", tc.name, tc.args, out, tc.out)
		}
	}

	// A home whose config logs in as fleet.
	home, err := f.UserHome(SystemdUser)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ssh", "-F", filepath.Join(home, ".ssh", "config"), "c002", "id -un; systemctl --user is-active demo-ok")
	cmd.Env = f.EnvAs(home)
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "fleet\nactive\n" {
		t.Errorf("ssh as the UserHome user: %v, %q; want fleet, active", err, out)
	}
	if env := strings.Join(f.EnvAs(home), "\n"); !strings.Contains(env, "HOME="+home+"\n") {
		t.Errorf("EnvAs(%s) = %q", home, env)
	}

	// Exec reaches inside without a login.
	before := handshakes(t, f, "c001")
	if out, err := f.Exec(ctx, "c001", "hostname; systemctl is-active demo-ok"); err != nil || string(out) != "c001\nactive\n" {
		t.Errorf("Exec: %v, %q", err, out)
	}
	if n := handshakes(t, f, "c001"); n != before {
		t.Errorf("Handshakes(c001) = %d after Exec, want still %d", n, before)
	}

	// A process left behind by a session is seen by RemoteProcs and
	// killed by Stop.
	mustSSH(t, f, "fleet@c002", "nohup sleep 1234 >/dev/null 2>&1 &")
	if pids, err := f.RemoteProcs("sleep 1234"); err != nil || len(pids) != 1 {
		t.Errorf("RemoteProcs(sleep 1234) = %v, %v; want one process", pids, err)
	}

	// StopHost ends one container; the other one stays.
	c002 := f.Hosts[1]
	if err := f.StopHost("c002"); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", c002.HostPort(), time.Second); err == nil {
		c.Close()
		t.Errorf("c002 still accepts connections after StopHost")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(c002.PID)); err == nil {
		t.Errorf("systemd of c002 (pid %d) still runs after StopHost", c002.PID)
	}
	if got := mustSSH(t, f, "c001", "hostname"); got != "c001\n" {
		t.Errorf("c001 answered %q after StopHost(c002)", got)
	}

	// Stop leaves no process, cgroup, mount or nspawn directory.
	c001 := f.Hosts[0]
	cgroups := append([]string(nil), f.sysd.containers[0].cgroups...)
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(c001.PID)); err == nil {
		t.Errorf("systemd of c001 (pid %d) still runs after Stop", c001.PID)
	}
	if pids, err := f.RemoteProcs(""); err != nil || len(pids) != 0 {
		t.Errorf("RemoteProcs after Stop = %v, %v; want none", pids, err)
	}
	for _, cg := range cgroups {
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("cgroup %s still exists after Stop", cg)
		}
	}
	for _, h := range f.Hosts {
		if c, err := net.DialTimeout("tcp", h.HostPort(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Stop", h.Name)
		}
	}
	if left, _ := filepath.Glob("/run/systemd/nspawn/propagate/dt-" + f.ID + "-*"); len(left) > 0 {
		t.Errorf("left after Stop: %v", left)
	}
	if mounts := mountsUnder(t, f.Dir); len(mounts) > 0 {
		t.Errorf("mounts left under %s after Stop: %v", f.Dir, mounts)
	}
	// Handshakes still reads the logs of stopped containers.
	if n := handshakes(t, f, "c001"); n < 2 {
		t.Errorf("Handshakes(c001) = %d after Stop, want the logins counted before", n)
	}
}

// mountsUnder lists the mount points under dir in any process's mount
// namespace.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	seen := map[string]bool{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "mounts"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir) && !seen[f[1]] {
				seen[f[1]] = true
				out = append(out, f[1])
			}
		}
	}
	return out
}

func TestMirrorFromSources(t *testing.T) {
	tests := []struct {
		name, text, want string
		deb822           bool
	}{
		{"one-line", "deb http://ftp.de.debian.org/debian bookworm main\n", "http://ftp.de.debian.org/debian", false},
		{"one-line with options", "# c\ndeb-src http://x/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://y/debian bookworm main\n", "http://y/debian", false},
		{"one-line other suite", "deb http://z/debian bullseye main\n", "", false},
		{"deb822", "Types: deb\n# http://snapshot\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n",
			"http://deb.debian.org/debian", true},
		{"deb822 security only", "Types: deb\nURIs: http://s/debian-security\nSuites: bookworm-security\n", "", true},
		{"deb822 disabled", "Types: deb\nURIs: http://a/debian\nSuites: bookworm\nEnabled: no\n\nTypes: deb\nURIs: http://b/debian\nSuites: bookworm\n", "http://b/debian", true},
	}
	for _, tc := range tests {
		got := mirrorFromList(tc.text, "bookworm")
		if tc.deb822 {
			got = mirrorFromDeb822(tc.text, "bookworm")
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
