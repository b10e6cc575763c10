package modules

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"

	"github.com/dtools/dt/runner"
)

// SFTP extensions dt uses when the server offers them (OpenSSH does).
const (
	extPosixRename = "posix-rename@openssh.com"
	extFsync       = "fsync@openssh.com"
	extHardlink    = "hardlink@openssh.com"
	extStatVFS     = "statvfs@openssh.com"
)

// owner is a numeric uid and gid; -1 leaves one as it is.
type owner struct{ uid, gid int }

// pushSpec is what to make of one file on a host.
type pushSpec struct {
	target   string      // remote path
	mode     fs.FileMode // permission bits (and setuid, setgid, sticky)
	owner    *owner      // --owner, resolved; nil: whoever writes it
	backup   string      // the suffix stamp for --backup; "" for none
	existing fs.FileInfo // target's lstat, nil when it does not exist
}

// packetPool holds the hosts' transfer buffers between files.
var packetPool = sync.Pool{New: func() any { b := make([]byte, sftpPacket); return &b }}

// push writes src to spec.target atomically: into a temporary file in a
// private (0700) directory next to the target, with the mode (and owner)
// set and the data fsynced when the server offers it, then renamed over the
// target (posix-rename). A reader never sees a half-written target; on any
// failure the old target is left as it was and the temporary is removed.
// It returns the backup's path when one was made.
func (c *sftpConn) push(ctx context.Context, lf *localFile, spec pushSpec) (backup string, err error) {
	src, err := lf.open()
	if err != nil {
		return "", err
	}
	defer src.Close()

	dir := path.Dir(spec.target)
	tmpDir := path.Join(dir, ".dt-"+randomHex(6))
	if err := c.Mkdir(tmpDir); err != nil {
		return "", c.dirError(dir, err)
	}
	tmp := path.Join(tmpDir, path.Base(spec.target))
	done := false
	defer func() {
		if !done {
			c.cleanup(ctx, tmpDir, tmp)
		}
	}()
	// Private from the start: nobody else may open the file while it is
	// written, whatever its final mode.
	if err := c.Chmod(tmpDir, 0o700); err != nil {
		return "", fmt.Errorf("cannot make the temporary directory %s private: %s", tmpDir, errText(err))
	}
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return "", fmt.Errorf("cannot create a temporary file in %s: %s", dir, errText(err))
	}
	if err := c.writeAll(f, src, lf.size); err != nil {
		f.Close()
		return "", c.writeError(dir, lf.size, err)
	}
	if err := lf.unchanged(src); err != nil {
		f.Close()
		return "", err
	}
	if err := c.finish(f, spec); err != nil {
		f.Close()
		return "", c.writeError(dir, 0, err)
	}
	if err := f.Close(); err != nil {
		return "", c.writeError(dir, 0, err)
	}
	if spec.backup != "" && spec.existing != nil && spec.existing.Mode().IsRegular() {
		if backup, err = c.backupOf(ctx, spec.target, spec.backup); err != nil {
			return "", err
		}
	}
	if err := c.replace(ctx, tmp, spec.target, spec.existing != nil); err != nil {
		return backup, fmt.Errorf("cannot rename the temporary file over %s: %s", spec.target, errText(err))
	}
	done = true
	if err := c.RemoveDirectory(tmpDir); err != nil {
		return backup, fmt.Errorf("copied, but the empty temporary directory %s stays: %s", tmpDir, errText(err))
	}
	return backup, nil
}

// finish sets the temporary file's mode and owner and syncs it.
func (c *sftpConn) finish(f *sftp.File, spec pushSpec) error {
	switch {
	case spec.owner != nil:
		uid, gid := spec.owner.uid, spec.owner.gid
		if uid < 0 || gid < 0 {
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			st := fi.Sys().(*sftp.FileStat)
			if uid < 0 {
				uid = int(st.UID)
			}
			if gid < 0 {
				gid = int(st.GID)
			}
		}
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("chown %d:%d: %w", uid, gid, err)
		}
	case spec.existing != nil:
		// Replacing a file keeps its owner where the login may set it
		// (root, or the same user): an atomic copy must not hand a
		// service's file over to whoever ran dt.
		old := spec.existing.Sys().(*sftp.FileStat)
		if fi, err := f.Stat(); err == nil {
			if st := fi.Sys().(*sftp.FileStat); st.UID != old.UID || st.GID != old.GID {
				_ = f.Chown(int(old.UID), int(old.GID))
			}
		}
	}
	// After chown, which may clear setuid and setgid bits.
	if err := f.Chmod(spec.mode); err != nil {
		return fmt.Errorf("chmod %04o: %w", modeBits(spec.mode), err)
	}
	if c.has(extFsync) {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync: %w", err)
		}
	}
	return nil
}

// writeAll streams size bytes of src into f, sftpWindow packets in flight.
func (c *sftpConn) writeAll(f *sftp.File, src io.ReaderAt, size int64) error {
	var next atomic.Int64
	var failed atomic.Bool
	errs := make(chan error, sftpWindow)
	for w := 0; w < sftpWindow; w++ {
		go func() {
			bp := packetPool.Get().(*[]byte)
			defer packetPool.Put(bp)
			buf := *bp
			for !failed.Load() {
				off := next.Add(sftpPacket) - sftpPacket
				if off >= size {
					break
				}
				n := int(min(int64(sftpPacket), size-off))
				if _, err := src.ReadAt(buf[:n], off); err != nil {
					failed.Store(true)
					errs <- fmt.Errorf("reading the source: %w", err)
					return
				}
				if _, err := f.WriteAt(buf[:n], off); err != nil {
					failed.Store(true)
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for w := 0; w < sftpWindow; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// writeError explains a failed write into dir; need is how many bytes were
// still to be written (0: unknown). A full disk gives SFTP's generic
// "failure": the free space says whether that is what happened.
func (c *sftpConn) writeError(dir string, need int64, err error) error {
	if lost := c.lost(); lost != nil {
		return lost
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure && c.has(extStatVFS) {
		if st, serr := c.StatVFS(dir); serr == nil {
			if free := st.Bavail * st.Frsize; free == 0 || int64(free) < need {
				return fmt.Errorf("no space left on device in %s (%d bytes free)", dir, free)
			}
		}
	}
	return fmt.Errorf("cannot write the temporary file in %s: %s", dir, errText(err))
}

// dirError explains why no temporary directory could be made in dir.
func (c *sftpConn) dirError(dir string, err error) error {
	if lost := c.lost(); lost != nil {
		return lost
	}
	if fi, serr := c.Stat(dir); serr == nil && !fi.IsDir() {
		return fmt.Errorf("not a directory: %s", dir)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no such directory: %s (--mkdir creates it)", dir)
	case errors.Is(err, fs.ErrPermission):
		hint := ""
		if !c.h.priv.Sudo {
			hint = "; --sudo writes as root"
		}
		return fmt.Errorf("permission denied: cannot create files in %s (dt writes a temporary file next to the target and renames it%s)", dir, hint)
	}
	return fmt.Errorf("cannot create a temporary directory in %s: %s", dir, errText(err))
}

// backupOf keeps target's current content as target.~STAMP~ (a hard link,
// so the target itself is never missing), or target.~STAMP-N~ when that
// name is taken.
func (c *sftpConn) backupOf(ctx context.Context, target, stamp string) (string, error) {
	for i := 0; i < 100; i++ {
		name := target + ".~" + stamp + "~"
		if i > 0 {
			name = fmt.Sprintf("%s.~%s-%d~", target, stamp, i)
		}
		if _, err := c.Lstat(name); err == nil {
			continue
		}
		var err error
		if c.has(extHardlink) {
			err = c.Link(target, name)
		} else {
			err = c.exec(ctx, "ln -- "+Quote(target)+" "+Quote(name))
		}
		if err != nil {
			return "", fmt.Errorf("cannot make the backup %s: %s", name, errText(err))
		}
		return name, nil
	}
	return "", fmt.Errorf("cannot make a backup of %s: 100 backups with the stamp %s exist", target, stamp)
}

// replace renames tmp over target in one step.
func (c *sftpConn) replace(ctx context.Context, tmp, target string, exists bool) error {
	switch {
	case c.has(extPosixRename):
		return c.PosixRename(tmp, target)
	case !exists:
		return c.Rename(tmp, target) // SFTP v3 rename refuses an existing target
	default:
		return c.exec(ctx, "mv -f -- "+Quote(tmp)+" "+Quote(target))
	}
}

// exec runs a command on the host (as root under --sudo) and turns a
// non-zero exit into an error.
func (c *sftpConn) exec(ctx context.Context, cmd string) error {
	res, err := c.h.Run(ctx, runner.Command{Cmd: cmd})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s: exit %d: %s", cmd, res.ExitCode, trimOutput(res.Output))
	}
	return nil
}

// cleanup removes the temporary file and directory of a failed push: over
// SFTP while the session lives, else with rm in a new session, which gets
// a few seconds even when the run was interrupted.
func (c *sftpConn) cleanup(ctx context.Context, tmpDir, tmp string) {
	if c.lost() == nil {
		err := c.Remove(tmp)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			if c.RemoveDirectory(tmpDir) == nil {
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = c.exec(ctx, "rm -rf -- "+Quote(tmpDir))
}

// modeBits is m's permission bits in the octal form chmod takes.
func modeBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// fileMode is the fs.FileMode of octal permission bits.
func fileMode(bits uint32) fs.FileMode {
	m := fs.FileMode(bits & 0o777)
	if bits&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if bits&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if bits&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// trimOutput is a command's output for a message: trailing newlines off.
func trimOutput(out []byte) string {
	for len(out) > 0 && (out[len(out)-1] == '\n' || out[len(out)-1] == '\r') {
		out = out[:len(out)-1]
	}
	return string(out)
}
