package hosts

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// tempInfix names the temporary files UpdateFile writes next to the
// inventory: ".NAME.dt-edit-RANDOM" (see tempPrefix).
const tempInfix = ".dt-edit-"

// ErrNoInventory is returned by UpdateFile when the file does not exist
// and create is false.
var ErrNoInventory = errors.New("no inventory file")

// UpdateFile edits the inventory file at path with edit, safely:
//
//   - under an exclusive lock (flock) on the file, so that concurrent
//     editors (other dt processes) never lose each other's changes: each
//     reads the file as the one before it left it;
//   - a file that does not parse is never written (the *ParseError is
//     returned), and neither is one edit leaves unchanged;
//   - the new text is written to a temporary file in the same directory,
//     synced, given the old file's mode, owner (as root) and group (as
//     root or a member of it) and renamed over the old one, so that the
//     file is always either the old or the new one, whenever the process
//     dies;
//   - a symlink is followed: the file it points to is replaced, the link
//     stays.
//
// With create, a missing file is created (mode 0644 less the umask);
// without, a missing file is ErrNoInventory. edit's error aborts the edit
// and is returned.
func UpdateFile(path string, create bool, edit func(*Doc) error) error {
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		real, err = path, nil
		if target, lerr := os.Readlink(path); lerr == nil {
			// A dangling link: create what it points to.
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(path), target)
			}
			real = target
		}
	}
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	f, err := lockFile(real, create)
	if err != nil {
		return err
	}
	defer f.Close() // closing drops the lock
	removeStaleTemps(real)
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	doc, err := ParseDoc(data, path)
	if err != nil {
		return err
	}
	if err := edit(doc); err != nil {
		return err
	}
	if !doc.Changed() {
		return nil
	}
	out := doc.Bytes()
	if _, err := ParseInventory(strings.NewReader(string(out)), path); err != nil {
		// Never write what dt itself could not read back.
		return fmt.Errorf("inventory: the edited file would not parse (%v); nothing written", err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	return replaceFile(real, out, st)
}

// lockFile opens path (creating it if create) and takes an exclusive
// flock on it. A writer replaces the file by renaming a new one over it,
// so a lock won on the old file guards nothing: after locking, the path
// must still name the file that was locked, or it is opened again.
func lockFile(path string, create bool) (*os.File, error) {
	flags := os.O_RDONLY
	if create {
		flags = os.O_RDWR | os.O_CREATE
	}
	for {
		f, err := os.OpenFile(path, flags, 0o644)
		if errors.Is(err, fs.ErrNotExist) && !create {
			return nil, fmt.Errorf("%w %s", ErrNoInventory, path)
		}
		if err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		if err := flock(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("inventory: lock %s: %w", path, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close()
		if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
			return nil, fmt.Errorf("inventory: %w", err2)
		}
	}
}

// flock takes an exclusive lock on f, waiting for it; a signal arriving
// meanwhile does not make it fail.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// replaceFile writes data to a temporary file next to path, with the mode
// and (when allowed) the owner of st, syncs it, renames it over path and
// syncs the directory.
func replaceFile(path string, data []byte, st fs.FileInfo) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, tempPrefix(base)+"*")
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("inventory: cannot create a file in %s, which an edit needs (the new inventory is written next to the old one and renamed over it, never half written): %w", dir, err)
	}
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		// Root keeps owner and group. Anyone else becomes the owner (the
		// new file is theirs) but keeps the group when they belong to it,
		// so a group-shared inventory stays writable by the group.
		if tmp.Chown(int(sys.Uid), int(sys.Gid)) != nil {
			_ = tmp.Chown(-1, int(sys.Gid))
		}
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("inventory: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("inventory: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// removeStaleTemps removes temporary files an editor of path left when it
// died before renaming. It runs under the lock: no live editor has one.
func removeStaleTemps(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	stale, _ := filepath.Glob(filepath.Join(dir, escapeGlob(tempPrefix(base))+"*"))
	for _, f := range stale {
		os.Remove(f)
	}
}

// tempPrefix is the start of the names of base's temporary files: hidden,
// ".dtdb.dt-edit-" for ".dtdb", ".hosts.dt-edit-" for "hosts".
func tempPrefix(base string) string {
	if !strings.HasPrefix(base, ".") {
		base = "." + base
	}
	return base + tempInfix
}

// escapeGlob escapes the characters filepath.Match gives a meaning to.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
