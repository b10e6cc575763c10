package mux

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// socketName is the keeper's socket in its directory.
const socketName = "mux.sock"

// Dir returns the directory of this user's keeper socket:
// $XDG_RUNTIME_DIR/dt when XDG_RUNTIME_DIR is an absolute path, else
// $TMPDIR/dt-UID (TMPDIR defaulting to /tmp).
func Dir(getenv func(string) string) string {
	if x := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
		return filepath.Join(x, "dt")
	}
	tmp := getenv("TMPDIR")
	if !filepath.IsAbs(tmp) {
		tmp = "/tmp"
	}
	return filepath.Join(tmp, "dt-"+strconv.Itoa(os.Getuid()))
}

// Socket returns the keeper's socket in dir.
func Socket(dir string) string { return filepath.Join(dir, socketName) }

// UnsafeDirError is a socket directory that someone else could use: dt
// neither creates its socket there nor connects to one there.
type UnsafeDirError struct {
	Dir  string
	Why  string
	Hint string
}

func (e *UnsafeDirError) Error() string {
	return fmt.Sprintf("socket directory %s %s", e.Dir, e.Why)
}

// prepareDir checks that only this user can use dir, as OpenSSH checks its
// control socket's directory, creating it (0700) first when create is set
// and it is missing. dir must be a real directory (not a symlink), owned
// by this user and writable by nobody else; its parent must be owned by
// this user or root, and sticky when others may write to it (so nobody
// can rename dir away and put their own in its place).
func prepareDir(dir string, create bool) error {
	if create {
		parent := filepath.Dir(dir)
		if err := checkParent(parent); err != nil {
			return err
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("socket directory: %w", err)
		}
	} else if err := checkParent(filepath.Dir(dir)); err != nil {
		return err
	}
	return checkDir(dir)
}

func checkDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	uid := os.Getuid()
	sys, _ := st.Sys().(*syscall.Stat_t)
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return &UnsafeDirError{Dir: dir, Why: "is a symlink", Hint: "remove it; dt makes a private directory there"}
	case !st.IsDir():
		return &UnsafeDirError{Dir: dir, Why: "is not a directory", Hint: "remove it; dt makes a private directory there"}
	case sys == nil || int(sys.Uid) != uid:
		owner := -1
		if sys != nil {
			owner = int(sys.Uid)
		}
		return &UnsafeDirError{Dir: dir, Why: fmt.Sprintf("is owned by uid %d, not by you (uid %d)", owner, uid), Hint: "remove it, or set XDG_RUNTIME_DIR to a directory of yours"}
	case st.Mode().Perm()&0o022 != 0:
		return &UnsafeDirError{Dir: dir, Why: fmt.Sprintf("is writable by group or others (mode %#o)", st.Mode().Perm()), Hint: "chmod 700 " + dir}
	}
	return nil
}

func checkParent(parent string) error {
	st, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if sys == nil || (int(sys.Uid) != os.Getuid() && sys.Uid != 0) {
		owner := -1
		if sys != nil {
			owner = int(sys.Uid)
		}
		return &UnsafeDirError{Dir: parent, Why: fmt.Sprintf("is owned by uid %d, neither you (uid %d) nor root", owner, os.Getuid()), Hint: "set XDG_RUNTIME_DIR to a directory of yours"}
	}
	if st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0 {
		return &UnsafeDirError{Dir: parent, Why: fmt.Sprintf("is writable by others and not sticky (mode %#o)", st.Mode().Perm()), Hint: "set XDG_RUNTIME_DIR to a directory of yours"}
	}
	return nil
}
