package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Accounts and units inside every systemd container (see StartSystemd).
const (
	// SystemdUser is the unprivileged user of the containers (uid 1000). It
	// may run anything with sudo, but only with SudoPassword; it lingers, so
	// its user manager runs from boot and `systemctl --user` works; it is
	// not in group systemd-journal, so it cannot read the system journal.
	SystemdUser = "fleet"
	// NoLingerUser is a second unprivileged user (uid 1001) with no user
	// manager: it does not linger, and its ssh sessions do not register
	// with logind, so `systemctl --user` fails for it.
	NoLingerUser = "nolinger"
	// SudoPassword is SystemdUser's password, which sudo asks for.
	SudoPassword = "dt-fleet-sudo"
)

// ShellUsers are unprivileged users of the containers whose login shells
// are bash, dash, mksh, posh and zsh, in that order. Like SystemdUser they
// may run anything with sudo, with SudoPassword; like NoLingerUser they
// have no user manager.
var ShellUsers = []string{"shbash", "shdash", "shmksh", "shposh", "shzsh"}

// DemoUnits are the services every systemd container has, both as system
// units and as user units of SystemdUser (~/.config/systemd/user):
//
//   - demo-ok: enabled, runs until stopped; logs "demo-ok: started" at start
//     and "demo-ok: reloaded" on reload (SIGHUP).
//   - demo-fail: enabled, and fails whenever it is started: its
//     ExecStartPre logs "demo-fail: config invalid" to stderr and exits 1,
//     so `systemctl start demo-fail` fails and the unit is "failed" from
//     boot on.
//   - demo-crash: enabled, crash-loops: logs "demo-crash: started", runs for
//     a second, logs "demo-crash: crashed" and exits 3; Restart=always,
//     RestartSec=1, no start limit.
//   - demo-stopped: disabled and not running; logs "demo-stopped: started"
//     if started.
var DemoUnits = []string{"demo-ok", "demo-fail", "demo-crash", "demo-stopped"}

// SystemdOptions describe a fleet of systemd containers to start.
type SystemdOptions struct {
	// Dir is where everything is written (usually a temp dir); required.
	// It must not contain ',', ':' or white space (it goes into overlay
	// mount options).
	Dir string
	// N is the number of containers; at least 1.
	N int
	// Name names container i (0-based); default SystemdName.
	Name func(i int) string
	// Tags gives container i's tags for ~/.dtdb; default SystemdTags.
	Tags func(i int) []string
	// FirstAddr is container 0's address, as Options.FirstAddr.
	FirstAddr string
	// Port is the port every container's sshd listens on, as
	// Options.Port.
	Port int
	// CacheDir holds the Debian base (built once, about a minute);
	// default $DT_FLEET_CACHE or DefaultCacheDir.
	CacheDir string
	// Mirror is the Debian mirror for building the base; default
	// $DT_DEBIAN_MIRROR, or the mirror of this machine's apt sources.
	Mirror string
	// Log receives progress and diagnostics; may be nil.
	Log io.Writer
}

// SystemdName is the default SystemdOptions.Name: c001, c002, ...
func SystemdName(i int) string { return fmt.Sprintf("c%03d", i+1) }

// SystemdTags is the default SystemdOptions.Tags: every container is
// "linux systemd".
func SystemdTags(i int) []string { return []string{"linux", "systemd"} }

// AvailableSystemd returns nil if this machine can run a systemd fleet: what
// Available checks, plus systemd-nspawn, nsenter, overlayfs, a cgroup
// hierarchy, and debootstrap if the base is not cached yet.
func AvailableSystemd() error {
	if err := Available(); err != nil {
		return err
	}
	var missing []string
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		missing = append(missing, "systemd-nspawn (apt-get install -y systemd-container)")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		missing = append(missing, "nsenter (util-linux)")
	}
	if _, ok := baseCached(cacheDir(SystemdOptions{})); !ok {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			missing = append(missing, "debootstrap (apt-get install -y debootstrap)")
		}
	}
	if fs, err := os.ReadFile("/proc/filesystems"); err == nil && !bytes.Contains(fs, []byte("\toverlay\n")) {
		// The module may just not be loaded yet.
		_ = exec.Command("modprobe", "overlay").Run()
		if fs, err := os.ReadFile("/proc/filesystems"); err == nil && !bytes.Contains(fs, []byte("\toverlay\n")) {
			missing = append(missing, "overlayfs (modprobe overlay)")
		}
	}
	if hs, err := cgroupHierarchies(); err != nil || len(hs) == 0 {
		missing = append(missing, fmt.Sprintf("a cgroup2 or name=systemd cgroup hierarchy (%v)", err))
	}
	if len(missing) > 0 {
		return fmt.Errorf("fleet: cannot start systemd containers here: needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// systemdFleet is the container side of a Fleet started by StartSystemd.
type systemdFleet struct {
	base       string
	containers []*container // by host index; nil until started
}

// container is one running systemd-nspawn.
type container struct {
	machine string   // nspawn machine name (also names /run/systemd/nspawn/propagate/MACHINE)
	cgroups []string // its cgroup directory in every hierarchy
	cmd     *exec.Cmd
	init    int           // the container's systemd (PID 1 inside), once known
	done    chan struct{} // closed when cmd has been waited for
	err     error         // cmd.Wait's result, after done

	stopOnce sync.Once
	stopErr  error
}

// StartSystemd boots o.N containers, each with real systemd as PID 1
// (systemd-nspawn --boot over an overlay of a cached Debian bookworm base),
// sharing this machine's network; each container's own sshd listens on its
// own loopback address, reserved like Start's. It returns once every
// container has finished booting (systemctl is-system-running says
// "running" or "degraded", for the system and for SystemdUser's user
// manager) and its sshd accepts connections. On error, whatever was
// started is stopped again. The caller must call Stop.
//
// The returned Fleet is like Start's, with these differences:
//
//   - Fleet.User is "root": ~/.ssh/config logs in as root. Every user of
//     the container accepts the fleet's client key, so "fleet@c001" works
//     as a host pattern or ssh destination; UserHome writes a home whose
//     ssh config logs in as another user by default.
//   - The containers have SystemdUser, NoLingerUser, sudo and DemoUnits.
//     journald is persistent (/var/log/journal), so `journalctl --user`
//     works for SystemdUser.
//   - sshd uses PAM (as on a real machine), LogLevel VERBOSE, and logs to
//     Host.LogFile, so Fleet.Handshakes works. Sessions get DT_TEST_HOST and
//     DT_TEST_FLEET, so Fleet.RemoteProcs works.
//   - Host.Dir holds the container's overlay: upper/ has every file the
//     container wrote or changed (Host.Config, Host.HostKeyFile and
//     Host.LogFile are in it). Host.PID is the container's PID 1 (systemd),
//     so /proc/PID/root is its whole file system while it runs; Fleet.Exec
//     runs a command inside it without ssh.
//   - Host.SVDir is empty (no runit).
//
// The base is built on first use (debootstrap, about a minute; see
// SystemdOptions.CacheDir), under a lock, so parallel callers build it once.
// Every container runs in its own cgroup (dt-fleet/PID-FLEETID-NAME in every
// hierarchy); Stop kills the cgroup, which ends the container at once, and
// removes it. Containers left over by a process that died without Stop are
// removed by the next StartSystemd.
func StartSystemd(ctx context.Context, o SystemdOptions) (f *Fleet, err error) {
	t0 := time.Now()
	if err := AvailableSystemd(); err != nil {
		return nil, err
	}
	if o.Dir == "" {
		return nil, errors.New("fleet: SystemdOptions.Dir is required")
	}
	if o.N < 1 {
		return nil, fmt.Errorf("fleet: SystemdOptions.N must be at least 1, not %d", o.N)
	}
	if o.Name == nil {
		o.Name = SystemdName
	}
	if o.Tags == nil {
		o.Tags = SystemdTags
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	if strings.ContainsAny(dir, ",:\\ \t\n") {
		return nil, fmt.Errorf("fleet: SystemdOptions.Dir %q must not contain ',', ':', '\\' or white space (overlayfs options)", dir)
	}
	if err := mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	f = newFleet(dir, "root", Options{Dir: o.Dir, N: o.N, Name: o.Name, Tags: o.Tags, FirstAddr: o.FirstAddr, User: "root", Log: o.Log})
	f.sysd = &systemdFleet{containers: make([]*container, o.N)}
	sweepContainers(f.logf)

	base, err := systemdBase(ctx, o, f.logf)
	if err != nil {
		return nil, err
	}
	f.sysd.base = base

	port, err := f.reserveAddrs(o.FirstAddr, o.N, o.Port)
	if err != nil {
		return nil, err
	}
	f.opts.Port = port
	defer func() {
		if err != nil {
			f.Stop()
			f = nil
		}
	}()

	seen := map[string]bool{}
	for i := 0; i < o.N; i++ {
		name, tags := o.Name(i), o.Tags(i)
		if len(name) > 40 { // nspawn machine names are short
			return f, fmt.Errorf("fleet: bad host name %q", name)
		}
		if err := checkHost(name, tags, seen); err != nil {
			return f, err
		}
		hd := filepath.Join(dir, "hosts", name)
		upper := filepath.Join(hd, "upper")
		f.Hosts = append(f.Hosts, Host{
			Name:        name,
			Addr:        addrString(f.first + uint32(i)),
			Port:        port,
			Tags:        tags,
			Dir:         hd,
			Config:      filepath.Join(upper, "etc", "ssh", "sshd_config"),
			HostKeyFile: filepath.Join(upper, "etc", "ssh", "ssh_host_ed25519_key"),
			LogFile:     filepath.Join(upper, "var", "log", "dt-sshd.log"),
		})
	}

	if err := f.writeClientKeys(); err != nil {
		return f, err
	}
	f.logf("fleet %s: booting %d systemd containers %s-%s in %s", f.ID, o.N, f.Hosts[0].Addr, f.Hosts[o.N-1].Addr, dir)

	errs := make([]error, o.N)
	var wg sync.WaitGroup
	for i := range f.Hosts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = f.startContainer(ctx, i)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return f, err
	}
	if err := f.writeClientFiles(); err != nil {
		return f, err
	}
	f.logf("fleet %s: %d systemd containers up in %v", f.ID, o.N, time.Since(t0).Round(time.Millisecond))
	return f, nil
}

// containerScript is what starts a container, in a private mount namespace
// (so the overlay mount disappears with the container): join its cgroups,
// mount its root, become systemd-nspawn.
const containerScript = `set -e
for p in $DT_CGROUP_PROCS; do echo $$ >"$p"; done
mount -t overlay overlay -o "lowerdir=$DT_LOWER,upperdir=$DT_UPPER,workdir=$DT_WORK" "$DT_ROOT"
exec systemd-nspawn --quiet --boot --register=no --keep-unit \
	--directory="$DT_ROOT" --machine="$DT_MACHINE" --hostname="$DT_HOST" \
	--console=pipe --link-journal=no --resolv-conf=off --timezone=off
`

// containerSSHDConfig renders a container's sshd_config.
func (f *Fleet) containerSSHDConfig(h *Host) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# sshd_config of fleet container %s (fleet %s), generated by dt's internal/fleet.\n", h.Name, f.ID)
	fmt.Fprintf(&b, "ListenAddress %s:%d\n", h.Addr, h.Port)
	b.WriteString("HostKey /etc/ssh/ssh_host_ed25519_key\n")
	b.WriteString("AuthorizedKeysFile /etc/ssh/dt_authorized_keys\n")
	fmt.Fprintf(&b, "SetEnv DT_TEST_HOST=%s DT_TEST_FLEET=%s\n", h.Name, f.ID)
	b.WriteString(`UsePAM yes
UseDNS no
LogLevel VERBOSE
MaxStartups 100000
MaxSessions 1000
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PrintMotd no
PrintLastLog no
X11Forwarding no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
`)
	return b.String()
}

// startContainer writes container i's own files into its overlay's upper
// layer, boots it and waits until it is up.
func (f *Fleet) startContainer(ctx context.Context, i int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h := &f.Hosts[i]
	upper := filepath.Join(h.Dir, "upper")
	work := filepath.Join(h.Dir, "work")
	root := filepath.Join(h.Dir, "root")
	// A reused Dir may hold a previous run's layer: start afresh.
	for _, d := range []string{upper, work} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
	}
	for _, d := range []string{root, work, filepath.Join(upper, "etc", "ssh"), filepath.Join(upper, "var", "log")} {
		if err := mkdir(d, 0o755); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
	}
	pub, err := writeKeyPair(h.HostKeyFile, "root@"+h.Name)
	if err != nil {
		return fmt.Errorf("fleet: host key of %s: %w", h.Name, err)
	}
	h.HostKeyPub = pub
	machineID := randomID() + randomID() + randomID() + randomID()
	files := []struct {
		path string
		data string
		perm os.FileMode
	}{
		{h.Config, f.containerSSHDConfig(h), 0o644},
		{filepath.Join(upper, "etc", "ssh", "dt_authorized_keys"), string(ssh.MarshalAuthorizedKey(f.ClientKeyPub)), 0o644},
		{filepath.Join(upper, "etc", "hostname"), h.Name + "\n", 0o644},
		{filepath.Join(upper, "etc", "hosts"), fmt.Sprintf("127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", h.Addr, h.Name), 0o644},
		{filepath.Join(upper, "etc", "machine-id"), machineID + "\n", 0o444},
		{h.LogFile, "", 0o600},
	}
	for _, fl := range files {
		if err := writeFile(fl.path, []byte(fl.data), fl.perm); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
	}

	c := &container{
		machine: "dt-" + f.ID + "-" + h.Name,
		done:    make(chan struct{}),
	}
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var procs []string
	for _, hier := range hs {
		cg := filepath.Join(hier, "dt-fleet", fmt.Sprintf("%d-%s-%s", os.Getpid(), f.ID, h.Name))
		if err := os.MkdirAll(cg, 0o755); err != nil {
			return fmt.Errorf("fleet: cgroup of %s: %w", h.Name, err)
		}
		c.cgroups = append(c.cgroups, cg)
		procs = append(procs, filepath.Join(cg, "cgroup.procs"))
	}
	f.mu.Lock()
	f.sysd.containers[i] = c // from here on, Stop removes the cgroups
	f.mu.Unlock()

	console := filepath.Join(h.Dir, "console.log")
	out, err := os.OpenFile(console, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	cmd := exec.Command(shPath, "-c", containerScript, "dt-fleet-"+h.Name)
	cmd.Dir = h.Dir
	cmd.Env = []string{
		"PATH=" + sysPath,
		"SYSTEMD_NSPAWN_LOCK=0", // no lock files left in /run/systemd/nspawn/locks
		"DT_CGROUP_PROCS=" + strings.Join(procs, " "),
		"DT_LOWER=" + f.sysd.base,
		"DT_UPPER=" + upper,
		"DT_WORK=" + work,
		"DT_ROOT=" + root,
		"DT_MACHINE=" + c.machine,
		"DT_HOST=" + h.Name,
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Unshareflags also makes all mounts private: the overlay mount
		// is seen by the container only and goes away with it.
		Unshareflags: syscall.CLONE_NEWNS,
		Setpgid:      true,
	}
	err = cmd.Start()
	out.Close()
	if err != nil {
		return fmt.Errorf("fleet: starting systemd-nspawn for %s: %w", h.Name, err)
	}
	c.cmd = cmd
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	f.logf("fleet %s: %s: systemd-nspawn is pid %d", f.ID, h.Name, cmd.Process.Pid)

	// Wait for the container's systemd, then for the end of its boot.
	deadline := time.Now().Add(120 * time.Second)
	exited := func() error {
		return fmt.Errorf("fleet: container %s exited during boot (%v)%s", h.Name, c.err, tail(console, 3000))
	}
	for h.PID == 0 {
		h.PID = childNamed(cmd.Process.Pid, "systemd")
		if h.PID != 0 {
			f.mu.Lock()
			c.init = h.PID
			f.mu.Unlock()
			break
		}
		select {
		case <-c.done:
			return exited()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet: container %s: no systemd after 120 s%s", h.Name, tail(console, 3000))
		}
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if out, err := f.execPID(wctx, h.PID, bootWaitScript); err != nil {
		select {
		case <-c.done:
			return exited()
		default:
		}
		return fmt.Errorf("fleet: container %s did not finish booting: %v: %s%s", h.Name, err, out, tail(console, 3000))
	}
	for {
		conn, err := net.DialTimeout("tcp", h.HostPort(), 250*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-c.done:
			return exited()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet: sshd of container %s does not accept connections on %s: %v%s", h.Name, h.HostPort(), err, tail(h.LogFile, 2000))
		}
	}
}

// bootWaitScript waits, inside a container, until the system and
// SystemdUser's user manager have finished starting up.
const bootWaitScript = `wait_state() { # WHO COMMAND...: until COMMAND says running or degraded
	who=$1; shift
	i=0
	while :; do
		s=$("$@" is-system-running --wait 2>&1)
		case $s in running|degraded) return 0;; esac
		i=$((i+1))
		if [ $i -ge 600 ]; then
			echo "$who: $s"
			return 1
		fi
		sleep 0.1 # the manager's socket is not there yet
	done
}
wait_state system systemctl || { systemctl --failed --no-pager 2>&1; exit 1; }
XDG_RUNTIME_DIR=/run/user/1000 wait_state "user manager of fleet" \
	setpriv --reuid=1000 --regid=1000 --init-groups systemctl --user
`

// Exec runs script with /bin/sh -c as root inside container host, without
// ssh (so no handshake is counted), and returns its combined output. It
// works only for fleets started by StartSystemd.
func (f *Fleet) Exec(ctx context.Context, host, script string) ([]byte, error) {
	h := f.Host(host)
	if h == nil {
		return nil, fmt.Errorf("fleet: no host %q", host)
	}
	if f.sysd == nil || h.PID == 0 {
		return nil, fmt.Errorf("fleet: %s is not a running systemd container", host)
	}
	return f.execPID(ctx, h.PID, script)
}

// execPID runs script in all namespaces of process pid, as root.
func (f *Fleet) execPID(ctx context.Context, pid int, script string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "nsenter", "--target", strconv.Itoa(pid), "--all", "--root", "--wd",
		"/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + sysPath, "LANG=C.UTF-8"}
	// When ctx ends, nsenter is killed, but what it started in the
	// container may keep the output pipe open: stop waiting for it.
	cmd.WaitDelay = 2 * time.Second
	return cmd.CombinedOutput()
}

// childNamed returns the PID of a child of parent whose command name is
// comm, or 0.
func childNamed(parent int, comm string) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(stat, ')')
		j := bytes.IndexByte(stat, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		if string(stat[j+1:i]) == comm {
			return pid
		}
	}
	return 0
}

// stop stops every container of f (see container.stop).
func (s *systemdFleet) stop(f *Fleet) error {
	f.mu.Lock()
	cs := append([]*container(nil), s.containers...)
	f.mu.Unlock()
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func(i int, c *container) {
			defer wg.Done()
			errs[i] = c.stop(f)
		}(i, c)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stopHost stops container i.
func (s *systemdFleet) stopHost(f *Fleet, i int) error {
	f.mu.Lock()
	c := s.containers[i]
	f.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.stop(f)
}

// stop ends the container at once: it kills the container's systemd (the
// kernel then kills everything else in its PID namespace, and
// systemd-nspawn, its parent, reaps it and exits), then whatever is left in
// its cgroups, waits for systemd-nspawn, and removes the cgroups and
// nspawn's propagation directory. The overlay mount lived in the
// container's private mount namespace and is gone with it.
//
// The order matters: this machine's PID 1 may not reap orphans, so the
// container's systemd must die while systemd-nspawn is there to reap it.
func (c *container) stop(f *Fleet) error {
	c.stopOnce.Do(func() {
		var errs []error
		f.mu.Lock()
		init := c.init
		f.mu.Unlock()
		if init > 0 && c.cmd != nil {
			_ = syscall.Kill(init, syscall.SIGKILL)
			select {
			case <-c.done:
			case <-time.After(5 * time.Second):
			}
		}
		if err := killCgroups(c.cgroups, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
		if c.cmd != nil {
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.done
				errs = append(errs, fmt.Errorf("fleet: systemd-nspawn of %s outlived its cgroup", c.machine))
			}
		}
		for _, cg := range c.cgroups {
			if err := removeCgroup(cg); err != nil {
				errs = append(errs, err)
			}
		}
		_ = os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", c.machine))
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// cgroupHierarchies returns the mount points of the cgroup hierarchies a
// container must be placed in: the cgroup2 one and the name=systemd one
// (cgroup v1 or hybrid setups).
func cgroupHierarchies() ([]string, error) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		switch {
		case f[2] == "cgroup2":
			out = append(out, f[1])
		case f[2] == "cgroup" && has(strings.Split(f[3], ","), "name=systemd"):
			out = append(out, f[1])
		}
	}
	return out, nil
}

// cgroupPIDs returns the processes in cgroup dir and below.
func cgroupPIDs(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, s := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(s); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// killCgroups kills every process in the cgroups (and below) and waits
// until they are empty.
func killCgroups(cgroups []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left := 0
		for _, cg := range cgroups {
			// cgroup2's cgroup.kill kills the whole subtree at once,
			// including processes forked meanwhile.
			if err := os.WriteFile(filepath.Join(cg, "cgroup.kill"), []byte("1"), 0o644); err == nil {
				left += len(cgroupPIDs(cg))
				continue
			}
			pids := cgroupPIDs(cg)
			killAll(pids, syscall.SIGKILL)
			left += len(pids)
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet: %d processes still in %v after SIGKILL", left, cgroups)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeCgroup removes the cgroup dir and its children, deepest first.
func removeCgroup(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var last error
	for i := len(dirs) - 1; i >= 0; i-- {
		// A cgroup is busy for a moment after its last process died.
		for try := 0; ; try++ {
			err := syscall.Rmdir(dirs[i])
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if try >= 100 {
				last = fmt.Errorf("fleet: removing cgroup %s: %w", dirs[i], err)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return last
}

// sweepContainers kills and removes the containers of processes that died
// without stopping them (cgroups dt-fleet/PID-* whose PID is gone).
func sweepContainers(logf func(string, ...any)) {
	hs, err := cgroupHierarchies()
	if err != nil {
		return
	}
	for _, hier := range hs {
		ents, err := os.ReadDir(filepath.Join(hier, "dt-fleet"))
		if err != nil {
			continue
		}
		for _, e := range ents {
			owner, rest, ok := strings.Cut(e.Name(), "-")
			pid, err := strconv.Atoi(owner)
			if !e.IsDir() || !ok || err != nil || alive(pid) {
				continue
			}
			cg := filepath.Join(hier, "dt-fleet", e.Name())
			logf("fleet: removing container %s left over by process %d", rest, pid)
			for _, p := range cgroupPIDs(cg) {
				if comm(p) == "systemd-nspawn" {
					if init := childNamed(p, "systemd"); init > 0 {
						_ = syscall.Kill(init, syscall.SIGKILL)
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
			_ = killCgroups([]string{cg}, 10*time.Second)
			_ = removeCgroup(cg)
			_ = os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", "dt-"+rest))
		}
	}
}

// Cgroups returns the cgroup directories of a systemd fleet's containers
// (every hierarchy's), for accounting their CPU; nil for an sshd fleet.
func (f *Fleet) Cgroups() []string {
	if f.sysd == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var dirs []string
	for _, c := range f.sysd.containers {
		if c != nil {
			dirs = append(dirs, c.cgroups...)
		}
	}
	return dirs
}
