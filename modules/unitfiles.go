package modules

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/dtools/dt/runner"
)

// previousSuffix names the previous version deploy keeps of a unit file it
// replaces: /etc/systemd/system/app.service.dt-prev. systemd ignores the
// name (it is no unit name, and drop-in directories are read for *.conf
// only), so the copy costs nothing but disk, and a person can restore it
// by hand.
const previousSuffix = ".dt-prev"

// olderSuffix names where deploy keeps the FILE.dt-prev it found while it
// runs (FILE.dt-older): a rollback puts it back as FILE.dt-prev, a deploy
// that stands removes it. One cut off (a lost connection) may leave it;
// the next deploy replaces it.
const olderSuffix = ".dt-older"

// unitFileMode is the mode of every file deploy writes: systemd warns
// about executable unit files and refuses none that root may write.
const unitFileMode fs.FileMode = 0o644

// System and user unit directories. The user one is relative to the
// login's home, where both its SFTP and its shell sessions start.
const (
	systemUnitDir = "/etc/systemd/system"
	userUnitDir   = ".config/systemd/user"
)

// unitFile is one of deploy's files on one host.
type unitFile struct {
	deployFile
	spec    pushSpec
	local   *localFile
	same    bool   // the host has it already: not written
	prev    string // the previous version's path; "" when the file is new
	older   string // where the FILE.dt-prev found was moved; "" when there was none
	kept    bool   // prev was made (a link to the file as it was)
	madeDir string // the drop-in directory deploy created for it
	pushed  bool   // written: a rollback restores prev or removes it
}

// shown is the file's path as a person reads it: the user directory as
// "~/.config/...".
func (f *unitFile) shown() string {
	if path.IsAbs(f.spec.target) {
		return f.spec.target
	}
	return "~/" + f.spec.target
}

// checkReplaceable refuses a target that is there but is no regular file:
// a symlink (a masked unit points to /dev/null, a linked one elsewhere)
// or a directory. deploy never replaces either.
func (f *unitFile) checkReplaceable() error {
	fi := f.spec.existing
	switch {
	case fi == nil || fi.Mode().IsRegular():
		return nil
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link (a masked or linked unit?); deploy replaces only regular files: unmask or remove it first", f.shown())
	case fi.IsDir():
		return fmt.Errorf("%s is a directory, not replaced by a file", f.shown())
	}
	return fmt.Errorf("%s is not a regular file, not replaced", f.shown())
}

// pushUnitFiles writes the files the host does not have yet with copy's
// atomic push, keeping each replaced file's previous version next to it
// first. It stops at the first error; the files written until then have
// pushed set, so the caller can restore them.
func (c *sftpConn) pushUnitFiles(ctx context.Context, files []*unitFile) error {
	for _, f := range files {
		if f.same {
			continue
		}
		if f.DropIn {
			dir := path.Dir(f.spec.target)
			if _, err := c.Stat(dir); errors.Is(err, fs.ErrNotExist) {
				if err := c.Mkdir(dir); err != nil {
					return fmt.Errorf("%s: cannot create the drop-in directory: %s", dir, errText(err))
				}
				f.madeDir = dir
			}
		}
		if f.spec.existing != nil {
			if err := c.keepPrevious(ctx, f); err != nil {
				return err
			}
		}
		if _, err := c.push(ctx, f.local, f.spec); err != nil {
			if lost := c.lost(); lost != nil {
				return fmt.Errorf("%s: %w", f.shown(), lost)
			}
			return fmt.Errorf("%s: %w", f.shown(), err)
		}
		f.pushed = true
	}
	return nil
}

// keepPrevious keeps f's current content as FILE.dt-prev (a hard link:
// the file itself is never missing). A FILE.dt-prev already there is
// moved to FILE.dt-older first, for a rollback to put back.
func (c *sftpConn) keepPrevious(ctx context.Context, f *unitFile) error {
	target := f.spec.target
	prev, older := target+previousSuffix, target+olderSuffix
	if _, err := c.Lstat(prev); err == nil {
		if err := c.replace(ctx, prev, older, true); err != nil {
			return fmt.Errorf("cannot move the previous version %s aside: %s", prev, errText(err))
		}
		f.older = older
	} else if lost := c.lost(); lost != nil {
		return lost
	}
	var err error
	if c.has(extHardlink) {
		err = c.Link(target, prev)
	} else {
		err = c.exec(ctx, "ln -- "+Quote(target)+" "+Quote(prev))
	}
	if err != nil {
		return fmt.Errorf("cannot keep the previous version as %s: %s", prev, errText(err))
	}
	f.prev, f.kept = prev, true
	return nil
}

// restoreSteps put back what pushUnitFiles changed, last file first: the
// previous version renamed over the file (one atomic rename), a new file
// removed with the drop-in directory made for it, and the FILE.dt-prev
// found before put back as it was (or the one made removed).
func restoreSteps(files []*unitFile) []unitStep {
	var steps []unitStep
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		var cmd string
		switch {
		case f.pushed && f.prev == "":
			cmd = "rm -f -- " + Quote(f.spec.target)
			if f.madeDir != "" {
				cmd += " && { rmdir -- " + Quote(f.madeDir) + " 2>/dev/null || true; }"
			}
		case f.pushed:
			cmd = "mv -f -- " + Quote(f.prev) + " " + Quote(f.spec.target)
		case f.kept:
			cmd = "rm -f -- " + Quote(f.prev)
		}
		if f.older != "" {
			more := "mv -f -- " + Quote(f.older) + " " + Quote(f.prev)
			if cmd == "" {
				cmd = more
			} else {
				cmd += " && " + more
			}
		}
		if cmd != "" {
			steps = append(steps, unitStep{Verb: "restore", Unit: f.Rel, Cmd: cmd})
		}
	}
	return steps
}

// dropOlder removes the FILE.dt-older copies once the deploy stands.
func (d *deployRun) dropOlder(ctx context.Context) {
	var olds []string
	for _, f := range d.files {
		if f.older != "" {
			olds = append(olds, f.older)
		}
	}
	if len(olds) == 0 {
		return
	}
	ctx, cancel := rollbackContext(ctx)
	defer cancel()
	_, _ = d.h.Run(ctx, runner.Command{Cmd: "rm -f -- " + QuoteAll(olds)})
}
