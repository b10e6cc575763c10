package fleet

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// DefaultCacheDir is where StartSystemd keeps the Debian base it boots
// containers from (SystemdOptions.CacheDir); DT_FLEET_CACHE overrides it.
const DefaultCacheDir = "/var/cache/dt-fleet"

// DefaultDebianMirror is the mirror debootstrap uses when neither
// SystemdOptions.Mirror, DT_DEBIAN_MIRROR nor this machine's apt sources
// name one.
const DefaultDebianMirror = "http://deb.debian.org/debian"

// The base every systemd container boots from: Debian bookworm, minbase,
// plus what a small server with systemd, sshd and sudo needs.
const (
	baseSuite    = "bookworm"
	baseVariant  = "minbase"
	basePackages = "systemd,systemd-sysv,libpam-systemd,dbus,openssh-server,sudo,procps,iproute2,mksh,posh,zsh"
)

// baseSetup runs once in the freshly debootstrapped base (chroot, as root,
// with DT_SUDO_PASSWORD set). Changing it changes the base's cache key, so a
// new base is built.
const baseSetup = `set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# fleet (uid 1000): may sudo anything with its password; lingering, so its
# user manager (user@1000.service) runs from boot. Not in systemd-journal.
useradd -m -u 1000 -s /bin/bash fleet
echo "fleet:$DT_SUDO_PASSWORD" | chpasswd
printf 'fleet ALL=(ALL:ALL) ALL\n' >/etc/sudoers.d/fleet
chmod 0440 /etc/sudoers.d/fleet
mkdir -p /var/lib/systemd/linger
touch /var/lib/systemd/linger/fleet

# nolinger (uid 1001): no user manager at all. Not lingering, and its ssh
# sessions skip pam_systemd, so logind never starts user@1001 for them (as
# with cron jobs or "su" on a real machine): systemctl --user has nothing to
# talk to.
useradd -m -u 1001 -s /bin/bash nolinger
usermod -p '*' nolinger

# One sudo user per login shell (ShellUsers): what the -K password goes
# through depends on the shell's builtins (printf is not one in mksh or
# posh). Like fleet, they may sudo anything with the same password; like
# nolinger, they have no user manager (logins stay fast).
for sh in bash dash mksh posh zsh; do
	useradd -m -s "$(command -v $sh)" sh$sh
	echo "sh$sh:$DT_SUDO_PASSWORD" | chpasswd
	printf 'sh%s ALL=(ALL:ALL) ALL\n' $sh >/etc/sudoers.d/sh$sh
	chmod 0440 /etc/sudoers.d/sh$sh
done
sed -i 's/^session[[:space:]].*pam_systemd\.so.*/session [success=1 default=ignore] pam_succeed_if.so quiet user in nolinger:shbash:shdash:shmksh:shposh:shzsh\n&/' /etc/pam.d/common-session
grep -q 'user in nolinger:' /etc/pam.d/common-session

# Persistent journal: journald keeps one file per user, so journalctl --user
# works for fleet.
mkdir -p /var/log/journal

# Every container gets its own machine id, host key and sshd_config. sshd
# logs to a file the fleet reads from outside (Fleet.Handshakes).
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/sshd -D -E /var/log/dt-sshd.log\n' >/etc/systemd/system/ssh.service.d/dt-fleet.conf

# Nothing on the console, no timers doing background work.
for u in console-getty.service container-getty@.service getty@.service getty-static.service \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
	e2scrub_reap.service fstrim.timer systemd-pstore.service remote-fs.target; do
	rm -f /etc/systemd/system/*.wants/$u
	ln -sf /dev/null /etc/systemd/system/$u
done

# The demo units, as system units and as fleet's user units.
unit() { # DIR NAME WANTEDBY UNIT-SECTION SERVICE-SECTION
	printf '[Unit]\nDescription=dt test unit %s\n%s\n[Service]\n%s\n[Install]\nWantedBy=%s\n' "$2" "$4" "$5" "$3" >"$1/$2.service"
}
for scope in system user; do
	if [ $scope = system ]; then
		d=/etc/systemd/system want=multi-user.target
	else
		d=/home/fleet/.config/systemd/user want=default.target
	fi
	mkdir -p $d/$want.wants
	unit $d demo-ok $want '' "$(printf '%s\n' \
		"ExecStart=/bin/sh -c 'echo \"demo-ok: started\"; trap \"echo demo-ok: reloaded\" HUP; sleep infinity & while :; do wait; done'" \
		'ExecReload=/bin/kill -HUP $MAINPID')"
	unit $d demo-fail $want '' "$(printf '%s\n' \
		"ExecStartPre=/bin/sh -c 'echo \"demo-fail: config invalid\" >&2; exit 1'" \
		'ExecStart=/bin/sleep infinity')"
	unit $d demo-crash $want 'StartLimitIntervalSec=0' "$(printf '%s\n' \
		"ExecStart=/bin/sh -c 'echo \"demo-crash: started\"; sleep 1; echo \"demo-crash: crashed\" >&2; exit 3'" \
		'Restart=always' \
		'RestartSec=1')"
	unit $d demo-stopped $want '' \
		"ExecStart=/bin/sh -c 'echo \"demo-stopped: started\"; exec sleep infinity'"
	for u in demo-ok demo-fail demo-crash; do
		ln -sf $d/$u.service $d/$want.wants/$u.service
	done
done
chown -R fleet:fleet /home/fleet/.config

# Smaller base.
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
`

// baseKey is the cache key of the base: a hash of everything that goes into
// it.
func baseKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "dt-fleet systemd base v1\n%s\n%s\n%s\n%s\n%s\n%s\n",
		runtime.GOARCH, baseSuite, baseVariant, basePackages, SudoPassword, baseSetup)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// baseComplete marks a finished base; a directory without it is a build
// that did not finish.
const baseComplete = ".dt-fleet-complete"

// cacheDir returns the cache directory to use for o.
func cacheDir(o SystemdOptions) string {
	if o.CacheDir != "" {
		return o.CacheDir
	}
	if d := os.Getenv("DT_FLEET_CACHE"); d != "" {
		return d
	}
	return DefaultCacheDir
}

// baseCached returns the path of the base if it has been built already.
func baseCached(cache string) (string, bool) {
	dir := filepath.Join(cache, "base-"+baseKey())
	_, err := os.Stat(filepath.Join(dir, baseComplete))
	return dir, err == nil
}

// systemdBase returns the root directory of the Debian base, building it
// first (debootstrap, about a minute) unless it is cached. A lock file makes
// processes that need the same base at the same time build it once.
func systemdBase(ctx context.Context, o SystemdOptions, logf func(string, ...any)) (string, error) {
	cache := cacheDir(o)
	dir, ok := baseCached(cache)
	if ok {
		return dir, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("fleet: systemd base: %w", err)
	}
	lock := dir + ".lock"
	lf, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", fmt.Errorf("fleet: systemd base: %w", err)
	}
	defer lf.Close()
	t0 := time.Now()
	if err := flockContext(ctx, lf, func() { logf("fleet: waiting for another process building %s", dir) }); err != nil {
		return "", fmt.Errorf("fleet: systemd base: locking %s: %w", lock, err)
	}
	if _, ok := baseCached(cache); ok { // built while we waited
		logf("fleet: systemd base %s ready after %v", dir, time.Since(t0).Round(time.Millisecond))
		return dir, nil
	}

	mirror := o.Mirror
	if mirror == "" {
		mirror = debianMirror()
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", fmt.Errorf("fleet: building the systemd base needs debootstrap (apt-get install -y debootstrap)")
	}
	// We hold the lock: whatever else is there is a failed build.
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("fleet: systemd base: removing a failed build: %w", err)
	}
	_ = os.RemoveAll(dir)
	logf("fleet: building systemd base %s (debootstrap %s from %s, about a minute)", dir, baseSuite, mirror)
	logFile := dir + ".log"
	if err := runLogged(ctx, logFile, nil, "debootstrap", "--variant="+baseVariant, "--include="+basePackages,
		baseSuite, tmp, mirror); err != nil {
		return "", fmt.Errorf("fleet: debootstrap of the systemd base failed: %v%s", err, tail(logFile, 3000))
	}
	logf("fleet: debootstrap done in %v; configuring", time.Since(t0).Round(time.Millisecond))
	setup := exec.CommandContext(ctx, "chroot", tmp, "/bin/sh", "-s")
	setup.Stdin = strings.NewReader(baseSetup)
	if err := runLogged(ctx, logFile, setup, "", "DT_SUDO_PASSWORD="+SudoPassword); err != nil {
		return "", fmt.Errorf("fleet: configuring the systemd base failed: %v%s", err, tail(logFile, 3000))
	}
	if err := os.WriteFile(filepath.Join(tmp, baseComplete), []byte(baseKey()+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("fleet: systemd base: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("fleet: systemd base: %w", err)
	}
	logf("fleet: systemd base %s built in %v", dir, time.Since(t0).Round(time.Millisecond))
	return dir, nil
}

// runLogged runs cmd (or, if cmd is nil, the program name with args) in a
// private mount namespace, so that nothing it mounts (debootstrap mounts
// /proc in the target) outlives it, with its output appended to logFile.
// For a given cmd, args are extra environment entries.
func runLogged(ctx context.Context, logFile string, cmd *exec.Cmd, name string, args ...string) error {
	env := []string{"PATH=" + sysPath, "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}
	if cmd == nil {
		cmd = exec.CommandContext(ctx, name, args...)
	} else {
		env = append(env, args...)
	}
	cmd.Env = env
	lf, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	return cmd.Run()
}

// flockContext takes an exclusive lock on f, calling waiting once if it
// has to wait, and gives up when ctx is done.
func flockContext(ctx context.Context, f *os.File, waiting func()) error {
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return err
		}
		if !told {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// debianMirror returns the Debian mirror this machine's apt uses for the
// base's suite (so that debootstrap reaches the same server apt does), or
// DT_DEBIAN_MIRROR if set, or DefaultDebianMirror.
func debianMirror() string {
	if m := os.Getenv("DT_DEBIAN_MIRROR"); m != "" {
		return m
	}
	files := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, more...)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var m string
		switch {
		case strings.HasSuffix(file, ".sources"):
			m = mirrorFromDeb822(string(data), baseSuite)
		case strings.HasSuffix(file, ".list") || file == "/etc/apt/sources.list":
			m = mirrorFromList(string(data), baseSuite)
		}
		if m != "" {
			return m
		}
	}
	return DefaultDebianMirror
}

// mirrorFromList returns the URI of the first one-line-style "deb" source
// for suite.
func mirrorFromList(text, suite string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // options
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			f = f[1:]
		}
		if len(f) >= 2 && f[1] == suite {
			return f[0]
		}
	}
	return ""
}

// mirrorFromDeb822 returns the first URI of the first deb822 stanza of type
// deb that lists suite.
func mirrorFromDeb822(text, suite string) string {
	for _, stanza := range strings.Split(text, "\n\n") {
		fields := map[string][]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if ok {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.Fields(v)
			}
		}
		if has(fields["types"], "deb") && has(fields["suites"], suite) && len(fields["uris"]) > 0 {
			if has(fields["enabled"], "no") {
				continue
			}
			return fields["uris"][0]
		}
	}
	return ""
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
