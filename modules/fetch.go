package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dtools/dt/output"
)

// Fetch pulls files from every host into one local directory per host.
type Fetch struct{}

// Name implements Module.
func (Fetch) Name() string { return "fetch" }

// Summary implements Module.
func (Fetch) Summary() string {
	return "pull files over SFTP into LOCALDIR/HOST/ (atomic local writes, mode and mtime kept)"
}

// Usage implements Module.
func (Fetch) Usage() string {
	return `dt PATTERN fetch [-r] REMOTE... LOCALDIR

Copies files from every host over SFTP into LOCALDIR/HOST/NAME, one
directory per host, so the local tree can be compared with ordinary tools
(diff -r, sha256sum). One line per host and file:

  $ dt tag:web fetch /etc/app.conf ./conf
  okay::dt:fetch:web1:/etc/app.conf -> conf/web1/app.conf 1234 bytes sha256=9f2c... mode=0644
  fail::dt:fetch:web2:/etc/app.conf: no such file or directory

The files keep their mode and modification time. Each is written to a
temporary file next to its final name and renamed, so a reader of the local
tree never sees a half-written file. LOCALDIR and the host directories are
created when missing.

OPTIONS
   -r   fetch directories recursively (REMOTE/... lands in LOCALDIR/HOST/NAME/...);
        symlinks and special files are reported as fail lines, never followed

With --sudo the host's sftp-server program runs as root through sudo, so
files only root may read can be fetched.`
}

// Prepare implements Module.
func (m Fetch) Prepare(args []string, opts Options) (Job, error) {
	fs := flag.NewFlagSet(m.Name(), flag.ContinueOnError)
	var j fetchJob
	fs.BoolVar(&j.recursive, "r", false, "")
	rest, err := parseArgs(m.Name(), fs, args)
	if err != nil {
		return nil, err
	}
	if opts.Interactive {
		return nil, usagef(m.Name(), "-i does not apply: fetch talks SFTP, not to a terminal")
	}
	if len(rest) < 2 {
		return nil, usagef(m.Name(), "missing REMOTE or LOCALDIR; usage: dt PATTERN fetch [-r] REMOTE... LOCALDIR")
	}
	j.remotes, j.localDir = rest[:len(rest)-1], rest[len(rest)-1]
	for i, r := range j.remotes {
		j.remotes[i] = homeRelative(r)
	}
	if j.localDir == "" {
		return nil, usagef(m.Name(), "empty LOCALDIR")
	}
	if fi, err := os.Stat(j.localDir); err == nil && !fi.IsDir() {
		return nil, usagef(m.Name(), "LOCALDIR %q is not a directory", j.localDir)
	}
	seen := map[string]string{}
	for _, r := range j.remotes {
		name := path.Base(r)
		if err := safeName(name); err != nil {
			return nil, usagef(m.Name(), "REMOTE %q: name a file or directory (its last component is the local name): %v", r, err)
		}
		if prev, dup := seen[name]; dup {
			return nil, usagef(m.Name(), "%q and %q would both be fetched to HOST/%s", prev, r, name)
		}
		seen[name] = r
	}
	j.sudo = opts.Sudo
	return j, nil
}

// safeName refuses a name that is not one plain path component: empty,
// "." or "..", or with a "/" or NUL. Names from a host's directory
// listing pass through it, so a hostile server cannot write outside
// LOCALDIR/HOST.
func safeName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%q is not a file name", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%q has a / or a NUL", name)
	}
	return nil
}

// fetchLocalPath is where the remote entry at rel (its name, then the names
// under it for -r) lands: localDir/host/rel[0]/rel[1]/... Every part is
// checked with safeName, so the result is always inside localDir/host.
func fetchLocalPath(localDir, host string, rel ...string) (string, error) {
	if err := safeName(host); err != nil {
		return "", fmt.Errorf("host name: %v", err)
	}
	parts := []string{localDir, host}
	for _, r := range rel {
		if err := safeName(r); err != nil {
			return "", err
		}
		parts = append(parts, r)
	}
	return filepath.Join(parts...), nil
}

type fetchJob struct {
	remotes   []string
	localDir  string
	recursive bool
	sudo      bool
}

func (j fetchJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	hostDir, err := fetchLocalPath(j.localDir, h.Name())
	if err != nil {
		emit(moduleFail(h, err.Error()))
		return
	}
	c, err := openSFTP(ctx, h, j.sudo)
	if err != nil {
		emit(h.Fail(err))
		return
	}
	defer c.Close()
	root, err := openHostDir(j.localDir, h.Name(), hostDir)
	if err != nil {
		emit(moduleFail(h, err.Error()))
		return
	}
	defer root.Close()
	for _, r := range j.remotes {
		fi, err := c.Stat(r)
		if err != nil {
			if lost := c.lost(); lost != nil {
				emit(c.failRecord(ctx, lost))
				return
			}
			emit(moduleFail(h, r+": "+errText(err)))
			continue
		}
		local := localEntry{root: root, rel: path.Base(r), shown: filepath.Join(hostDir, path.Base(r))}
		switch {
		case fi.Mode().IsRegular():
			emit(c.fetchRecord(ctx, r, local, fi))
		case fi.IsDir() && j.recursive:
			if !c.fetchTree(ctx, r, local, fi, emit) {
				return
			}
		case fi.IsDir():
			emit(moduleFail(h, r+": is a directory (use -r)"))
		default:
			emit(moduleFail(h, r+": not a regular file or directory"))
		}
	}
}

// openHostDir opens LOCALDIR/HOST, made when missing, as an os.Root: every
// file of the host is written through it, so neither a name the host
// lists nor a symlink planted under it (by another local user, say) can
// lead a write outside it. LOCALDIR is the user's choice and may be a
// symlink; LOCALDIR/HOST may not.
func openHostDir(localDir, host, shown string) (*os.Root, error) {
	if err := os.MkdirAll(localDir, 0o755); err != nil {
		return nil, pathErr(localDir, err)
	}
	parent, err := os.OpenRoot(localDir)
	if err != nil {
		return nil, pathErr(localDir, err)
	}
	defer parent.Close()
	if err := parent.Mkdir(host, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, pathErr(shown, err)
	}
	if err := checkLocalDir(parent, host, shown); err != nil {
		return nil, err
	}
	root, err := parent.OpenRoot(host)
	if err != nil {
		return nil, pathErr(shown, err)
	}
	return root, nil
}

// checkLocalDir says why rel under root is not a directory fetch may write
// into: a symlink is never followed.
func checkLocalDir(root *os.Root, rel, shown string) error {
	fi, err := root.Lstat(rel)
	switch {
	case err != nil:
		return pathErr(shown, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link here, not followed", shown)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory here", shown)
	}
	return nil
}

// fetchPathMax bounds the local path of a fetched directory under
// LOCALDIR/HOST: Linux's PATH_MAX.
const fetchPathMax = 4096

// localEntry is where a fetched file or directory goes: rel under the
// host's directory root, shown to the person as shown.
type localEntry struct {
	root  *os.Root
	rel   string
	shown string
}

// child is the entry name inside l.
func (l localEntry) child(name string) localEntry {
	return localEntry{root: l.root, rel: filepath.Join(l.rel, name), shown: filepath.Join(l.shown, name)}
}

// fetchTree fetches the remote directory dir into local, recursively. It
// returns false when the session is gone and the host is done.
func (c *sftpConn) fetchTree(ctx context.Context, dir string, local localEntry, fi fs.FileInfo, emit func(output.Record)) bool {
	// The kernel takes no longer path (PATH_MAX), and a tree deeper than
	// that is a host lying about its directories: stop there rather than
	// recurse for ever (os.Root would let the local paths grow).
	if len(local.rel) >= fetchPathMax {
		emit(moduleFail(c.h, dir+": too deep: the local path would be over "+strconv.Itoa(fetchPathMax)+" bytes"))
		return true
	}
	if err := local.root.Mkdir(local.rel, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		emit(moduleFail(c.h, dir+": "+pathErr(local.shown, err).Error()))
		return true
	}
	if err := checkLocalDir(local.root, local.rel, local.shown); err != nil {
		emit(moduleFail(c.h, dir+": "+err.Error()))
		return true
	}
	ents, err := c.ReadDir(dir)
	if err != nil {
		if lost := c.lost(); lost != nil {
			emit(c.failRecord(ctx, lost))
			return false
		}
		emit(moduleFail(c.h, dir+": "+errText(err)))
	}
	for _, e := range ents {
		name := e.Name()
		rp := path.Join(dir, name)
		if err := safeName(name); err != nil {
			emit(moduleFail(c.h, fmt.Sprintf("%s: the host listed a bad name: %v", dir, err)))
			continue
		}
		lp := local.child(name)
		switch m := e.Mode(); {
		case m.IsRegular():
			emit(c.fetchRecord(ctx, rp, lp, e))
		case m.IsDir():
			if !c.fetchTree(ctx, rp, lp, e, emit) {
				return false
			}
		case m&fs.ModeSymlink != 0:
			emit(moduleFail(c.h, rp+": symbolic link, not followed"))
		default:
			emit(moduleFail(c.h, rp+": special file (device, socket or fifo), not fetched"))
		}
		if context.Cause(ctx) != nil {
			return false
		}
	}
	// The directory's own mode and mtime, now that its files are in.
	_ = local.root.Chmod(local.rel, fi.Mode().Perm())
	_ = local.root.Chtimes(local.rel, fi.ModTime(), fi.ModTime())
	return true
}

// fetchRecord fetches one file and says how it went.
func (c *sftpConn) fetchRecord(ctx context.Context, remote string, local localEntry, fi fs.FileInfo) output.Record {
	n, sum, err := c.fetchFile(remote, local, fi)
	if err != nil {
		if context.Cause(ctx) != nil || c.lost() != nil {
			return c.failRecord(ctx, fmt.Errorf("%s: %w", remote, c.lost()))
		}
		return moduleFail(c.h, remote+": "+err.Error())
	}
	return c.h.Okay([]byte(fmt.Sprintf("%s -> %s %d bytes sha256=%s mode=%04o", remote, local.shown, n, sum, modeBits(fi.Mode()))))
}

// fetchFile copies remote to local through a temporary file in local's
// directory, renamed into place once complete (a symlink there is
// replaced, never written through), with the remote mode and mtime. It
// returns the size and sha256 of what it wrote.
func (c *sftpConn) fetchFile(remote string, local localEntry, fi fs.FileInfo) (int64, string, error) {
	f, err := c.Open(remote)
	if err != nil {
		return 0, "", errors.New(errText(err))
	}
	defer f.Close()
	shownDir := filepath.Dir(local.shown)
	tmpRel := filepath.Join(filepath.Dir(local.rel), ".dt-"+randomHex(8)+".tmp")
	tmp, err := local.root.OpenFile(tmpRel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, "", pathErr(shownDir, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			local.root.Remove(tmpRel)
		}
	}()
	h := sha256.New()
	// WriteTo reads sftpWindow packets ahead and writes them in order.
	n, err := f.WriteTo(io.MultiWriter(tmp, h))
	if err != nil {
		return 0, "", fmt.Errorf("reading: %s", errText(err))
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return 0, "", pathErr(local.shown, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, "", pathErr(local.shown, err)
	}
	if err := local.root.Chtimes(tmpRel, fi.ModTime(), fi.ModTime()); err != nil {
		return 0, "", pathErr(local.shown, err)
	}
	if fi, err := local.root.Lstat(local.rel); err == nil && fi.IsDir() {
		return 0, "", fmt.Errorf("%s is a directory here", local.shown)
	}
	if err := local.root.Rename(tmpRel, local.rel); err != nil {
		return 0, "", pathErr(local.shown, err)
	}
	ok = true
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
