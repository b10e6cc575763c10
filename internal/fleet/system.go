package fleet

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Paths of the programs a fleet runs. sshd must be started by absolute path
// (it re-executes itself for every connection).
const (
	sshdPath = "/usr/sbin/sshd"
	shPath   = "/bin/sh"
)

// sysPath is the PATH given to the hosts' processes.
const sysPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Available returns nil if this machine can run a fleet: we are root and
// /usr/sbin/sshd exists. Otherwise the error says what is missing.
func Available() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (sshd binds port 22 and runs in its own namespaces)")
	}
	for _, p := range []string{sshdPath, shPath} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p+" (apt-get install -y openssh-server)")
		}
	}
	if _, err := exec.LookPath("mount"); err != nil {
		missing = append(missing, "mount (util-linux)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("fleet: cannot start a test fleet here: needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// availableRunit returns nil if runit's programs are installed.
func availableRunit() error {
	for _, p := range []string{"runsvdir", "runsv", "chpst", "sv"} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("fleet: Options.Runit needs runit's %s (apt-get install -y runit)", p)
		}
	}
	return nil
}

// loginUser is the resolved login user of a fleet.
type loginUser struct {
	name     string
	uid, gid int
	home     string
}

var userMu sync.Mutex

// ensureUser returns the account name, creating it (useradd -m -s /bin/bash)
// if it does not exist and unlocking it (usermod -p '*') if its password
// field starts with "!": with UsePAM no, sshd refuses locked accounts even
// for public-key logins.
func ensureUser(name string) (loginUser, error) {
	userMu.Lock()
	defer userMu.Unlock()
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return loginUser{}, fmt.Errorf("fleet: looking up user %s: %w", name, err)
		}
		out, aerr := exec.Command("useradd", "-m", "-s", "/bin/bash", name).CombinedOutput()
		// Another process may have created it meanwhile: look again.
		if u, err = user.Lookup(name); err != nil {
			return loginUser{}, fmt.Errorf("fleet: creating user %s: %v: %s", name, aerr, out)
		}
	}
	if locked, err := passwordLocked(name); err != nil {
		return loginUser{}, err
	} else if locked {
		if out, err := exec.Command("usermod", "-p", "*", name).CombinedOutput(); err != nil {
			return loginUser{}, fmt.Errorf("fleet: unlocking user %s: %v: %s", name, err, out)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return loginUser{name: name, uid: uid, gid: gid, home: u.HomeDir}, nil
}

// passwordLocked reports whether name's password field in /etc/shadow starts
// with "!".
func passwordLocked(name string) (bool, error) {
	f, err := os.Open("/etc/shadow")
	if err != nil {
		return false, fmt.Errorf("fleet: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), ":", 3)
		if len(fields) >= 2 && fields[0] == name {
			return strings.HasPrefix(fields[1], "!"), nil
		}
	}
	return false, sc.Err()
}

// ensureTraversable makes sure the login user can reach dir (sshd reads the
// authorized_keys file with the user's privileges, and runsvdir runs as the
// user): it adds o+x to dir and to those of its parents that lie strictly
// below the temp directory, and fails on any other parent that others cannot
// search.
func ensureTraversable(dir string) error {
	tmp := filepath.Clean(os.TempDir())
	for p := dir; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if p == dir || strings.HasPrefix(p, tmp+"/") {
				if err := os.Chmod(p, st.Mode().Perm()|0o001); err != nil {
					return fmt.Errorf("fleet: %w", err)
				}
			} else {
				return fmt.Errorf("fleet: %s is not searchable by other users, so the fleet's login user cannot reach %s; use a directory under %s", p, dir, tmp)
			}
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}

// raiseNoFileLimit raises the soft RLIMIT_NOFILE to the hard limit, for this
// process and the hosts it starts.
func raiseNoFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}
