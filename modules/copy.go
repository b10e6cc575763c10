package modules

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Copy pushes local files to every host over SFTP, atomically and only when
// they differ.
type Copy struct{}

// Name implements Module.
func (Copy) Name() string { return "copy" }

// Summary implements Module.
func (Copy) Summary() string {
	return "push files over SFTP: atomic, unchanged files untouched, {host} for one file per host"
}

// Usage implements Module.
func (Copy) Usage() string {
	return `dt PATTERN copy [-r] [--mode MODE] [--owner USER[:GROUP]] [--backup] [--mkdir] SRC... DEST

Copies local files to every host over SFTP, on the same connection as every
other module, and prints one line per host and file:

  $ dt tag:web copy app.conf /etc/app.conf
  okay::dt:copy:web1:/etc/app.conf changed 1234 bytes sha256=9f2c... mode=0644
  okay::dt:copy:web2:/etc/app.conf unchanged 1234 bytes sha256=9f2c... mode=0644

"changed" means the file was written, "unchanged" that the host already had
the same content (sha256, computed on the host) and mode, so nothing was
written: a deploy hook can tell whether anything moved.

Every file is written atomically: into a temporary file in a private
directory next to DEST, mode (and owner) set, fsynced, then renamed over
DEST. Readers see the old file or the new one, never a part; a failed copy
(permission denied, disk full...) leaves the old file as it was and no
temporary behind.

With one SRC file, DEST is the target file, or a directory to put it in
when DEST exists as one or ends in "/". With several SRC, or -r, DEST is a
directory, as with cp. -r copies a directory SRC as DEST/NAME/... ("SRC/"
copies its contents into DEST); symlinks and special files inside it are
reported as fail lines, never followed.

{host} in SRC is replaced by each host's name: a different file per host.
A host whose file is missing fails alone; a host name that is not a plain
file name (a "/", "..", a newline, a leading "-") is refused.

  dt tag:web copy conf/{host}.conf /etc/app.conf
  dt tag:web copy app.service /etc/systemd/system/ && dt tag:web systemctl daemon-reload

OPTIONS
   -r              copy directories recursively
   --mode MODE     octal mode of the copies (default: the local file's)
   --owner USER[:GROUP]  owner of the copies, names or numbers (needs root:
                   --sudo); USER alone means its login group. Without it a
                   replaced file keeps its owner where the login may set it.
   --backup        keep a file about to be replaced as DEST.~YYYYMMDDTHHMMSSZ~
   --mkdir         create DEST's missing parent directories (DEST too, for a
                   directory DEST)

With --sudo the host's sftp-server program runs as root through sudo (-K
works as for every module), so a non-root login can write to /etc.`
}

// Prepare implements Module.
func (m Copy) Prepare(args []string, opts Options) (Job, error) {
	fs := flag.NewFlagSet(m.Name(), flag.ContinueOnError)
	var j copyJob
	fs.BoolVar(&j.recursive, "r", false, "")
	modeS := fs.String("mode", "", "")
	ownerS := fs.String("owner", "", "")
	fs.BoolVar(&j.backup, "backup", false, "")
	fs.BoolVar(&j.mkdir, "mkdir", false, "")
	rest, err := parseArgs(m.Name(), fs, args)
	if err != nil {
		return nil, err
	}
	if opts.Interactive {
		return nil, usagef(m.Name(), "-i does not apply: copy talks SFTP, not to a terminal")
	}
	if len(rest) < 2 {
		return nil, usagef(m.Name(), "missing SRC or DEST; usage: dt PATTERN copy [OPTIONS] SRC... DEST")
	}
	j.srcs, j.dest = rest[:len(rest)-1], homeRelative(rest[len(rest)-1])
	if j.dest == "" {
		return nil, usagef(m.Name(), "empty DEST")
	}
	if *modeS != "" {
		bits, err := strconv.ParseUint(*modeS, 8, 32)
		if err != nil || bits > 0o7777 {
			return nil, usagef(m.Name(), "--mode %q: want an octal mode such as 0644 or 755", *modeS)
		}
		j.mode = fileMode(uint32(bits))
		j.modeSet = true
	}
	if *ownerS != "" {
		if j.owner, err = parseOwner(*ownerS); err != nil {
			return nil, usagef(m.Name(), "--owner %q: %v", *ownerS, err)
		}
	}
	j.sudo = opts.Sudo
	debug.SetGCPercent(transferGCPercent)
	j.stamp = time.Now().UTC().Format("20060102T150405Z")
	j.files = &fileCache{}
	for _, s := range j.srcs {
		if strings.Contains(s, hostToken) {
			j.perHost = true
		}
	}
	if !j.perHost {
		// Every host gets the same files: look at them once, now, so a
		// missing one is a usage error rather than a line per host.
		if j.plan, err = planSources(j.srcs, j.recursive); err != nil {
			return nil, usagef(m.Name(), "%v", err)
		}
		for _, e := range j.plan {
			if e.Kind == entryFile {
				if err := j.files.get(e.Local).load(); err != nil {
					return nil, usagef(m.Name(), "%v", err)
				}
			}
		}
	}
	return j, nil
}

// ownerSpec is --owner as given: names or numbers; "" leaves one as it is.
type ownerSpec struct{ user, group string }

var errOwnerSyntax = errors.New("want USER, USER:GROUP or :GROUP (names or numbers)")

// parseOwner reads USER[:GROUP]; names are checked to be plain account
// names, so they can never be taken as options or shell words.
func parseOwner(s string) (*ownerSpec, error) {
	u, g, _ := strings.Cut(s, ":")
	if u == "" && g == "" {
		return nil, errOwnerSyntax
	}
	for _, n := range []string{u, g} {
		if n != "" && !accountName(n) {
			return nil, errOwnerSyntax
		}
	}
	return &ownerSpec{user: u, group: g}, nil
}

// accountName: letters, digits, '_', '.', '-' (not first), an optional
// trailing '$' (Samba machine accounts), or a number.
func accountName(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' ||
			i > 0 && (c == '.' || c == '-') || i == len(n)-1 && i > 0 && c == '$'
		if !ok {
			return false
		}
	}
	return n != ""
}

// copyJob is a prepared copy.
type copyJob struct {
	srcs      []string
	dest      string
	recursive bool
	backup    bool
	mkdir     bool
	mode      fs.FileMode
	modeSet   bool
	owner     *ownerSpec
	sudo      bool
	stamp     string      // --backup suffix, the same on every host
	perHost   bool        // a SRC has {host}: planned per host
	plan      []copyEntry // when !perHost
	files     *fileCache
}

func (j copyJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	entries := j.plan
	if j.perHost {
		srcs := make([]string, len(j.srcs))
		for i, s := range j.srcs {
			var err error
			if srcs[i], err = expandHost(s, h.Name()); err != nil {
				emit(moduleFail(h, err.Error()))
				return
			}
		}
		var err error
		if entries, err = planSources(srcs, j.recursive); err != nil {
			emit(moduleFail(h, err.Error()))
			return
		}
	}
	for _, e := range entries {
		if e.Kind == entryFile {
			if err := j.files.get(e.Local).load(); err != nil {
				emit(moduleFail(h, err.Error()))
				return
			}
		}
	}

	c, err := openSFTP(ctx, h, j.sudo)
	if err != nil {
		emit(h.Fail(err))
		return
	}
	defer c.Close()

	var own *owner
	if j.owner != nil {
		if own, err = c.resolveOwner(ctx, *j.owner); err != nil {
			emit(moduleFail(h, err.Error()))
			return
		}
	}
	dir, target, err := j.destination(c, entries)
	if err != nil {
		emit(c.failRecord(ctx, err))
		return
	}

	// Directories and skipped entries first, in tree order. Nothing goes
	// below a directory that could not be made: where the host has a
	// symlink (or a file) instead, the tree's files would land elsewhere.
	var files []pushSpec
	var locals []*localFile
	var failedDirs []copyEntry
	for _, e := range entries {
		t := target
		if t == "" {
			t = remoteTarget(dir, e.Rel)
		}
		if under, ok := below(e.Rel, failedDirs); ok {
			emit(moduleFail(h, t+": not copied: its directory "+remoteTarget(dir, under.Rel)+" could not be used"))
			continue
		}
		switch e.Kind {
		case entryDir:
			if err := c.makeDir(t, e.Mode); err != nil {
				emit(moduleFail(h, t+": "+err.Error()))
				failedDirs = append(failedDirs, e)
			}
		case entrySkip:
			emit(moduleFail(h, t+": "+e.Why))
		case entryFile:
			lf := j.files.get(e.Local)
			mode := lf.mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			if j.modeSet {
				mode = j.mode
			}
			files = append(files, pushSpec{target: t, mode: mode, owner: own})
			locals = append(locals, lf)
		}
	}

	unchanged, err := c.sameFiles(ctx, files, locals)
	if err != nil {
		emit(c.failRecord(ctx, err))
		return
	}

	for i, spec := range files {
		lf := locals[i]
		if unchanged[i] {
			emit(h.Okay([]byte(j.line(spec, lf, "unchanged", ""))))
			continue
		}
		if spec.existing != nil && spec.existing.IsDir() {
			emit(moduleFail(h, spec.target+": is a directory, not replaced by a file"))
			continue
		}
		// A device, fifo or socket is never replaced: a copy to
		// /dev/null under --sudo must not leave a file in its place.
		if m := spec.existing; m != nil && !m.Mode().IsRegular() && m.Mode()&fs.ModeSymlink == 0 {
			emit(moduleFail(h, spec.target+": is a special file (device, fifo or socket), not replaced"))
			continue
		}
		if j.backup {
			spec.backup = j.stamp
		}
		backup, err := c.push(ctx, lf, spec)
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				emit(h.Fail(&runner.Error{Stage: runner.Stage(cause), Err: fmt.Errorf("%s: %v", spec.target, cause)}))
				return
			}
			if lost := c.lost(); lost != nil {
				emit(c.failRecord(ctx, fmt.Errorf("%s: %w", spec.target, lost)))
				return
			}
			emit(moduleFail(h, spec.target+": "+err.Error()))
			continue
		}
		emit(h.Okay([]byte(j.line(spec, lf, "changed", backup))))
	}
}

// line is an okay record's message:
// "TARGET changed|unchanged N bytes sha256=HEX mode=0644[ owner=U:G][ backup=PATH]".
func (j copyJob) line(spec pushSpec, lf *localFile, verb, backup string) string {
	s := fmt.Sprintf("%s %s %d bytes sha256=%s mode=%04o", spec.target, verb, lf.size, lf.sum, modeBits(spec.mode))
	if spec.owner != nil {
		s += " owner=" + spec.owner.String()
	}
	if backup != "" {
		s += " backup=" + backup
	}
	return s
}

func (o owner) String() string {
	f := func(n int) string {
		if n < 0 {
			return "-"
		}
		return strconv.Itoa(n)
	}
	return f(o.uid) + ":" + f(o.gid)
}

// destination decides where the entries go on this host: under the
// directory dir, or, for one file copied to a file DEST, to target.
func (j copyJob) destination(c *sftpConn, entries []copyEntry) (dir, target string, err error) {
	single := len(j.srcs) == 1 && len(entries) == 1 && entries[0].Kind == entryFile && entries[0].Rel == path.Base(entries[0].Rel) && !strings.HasSuffix(j.dest, "/")
	fi, err := c.Stat(j.dest)
	switch {
	case err == nil && fi.IsDir():
		return j.dest, "", nil
	case err == nil && single:
		return "", j.dest, nil
	case err == nil:
		return "", "", fmt.Errorf("%s: not a directory (several files, or -r, copy into a directory)", j.dest)
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("%s: %s", j.dest, errText(err))
	case single:
		if j.mkdir {
			if err := c.MkdirAll(path.Dir(j.dest)); err != nil {
				return "", "", fmt.Errorf("%s: cannot create its directory: %s", j.dest, errText(err))
			}
		}
		return "", j.dest, nil
	case j.mkdir:
		if err := c.MkdirAll(j.dest); err != nil {
			return "", "", fmt.Errorf("%s: cannot create the directory: %s", j.dest, errText(err))
		}
		return j.dest, "", nil
	}
	return "", "", fmt.Errorf("%s: no such directory (--mkdir creates it)", j.dest)
}

// below returns the entry of dirs that rel lies under, if any.
func below(rel string, dirs []copyEntry) (copyEntry, bool) {
	for _, d := range dirs {
		if strings.HasPrefix(rel, d.Rel+"/") {
			return d, true
		}
	}
	return copyEntry{}, false
}

// makeDir creates directory p with mode (-r), unless it is one already. A
// symlink is not one: -r never writes through a link on the host.
func (c *sftpConn) makeDir(p string, mode fs.FileMode) error {
	if fi, err := c.Lstat(p); err == nil {
		switch {
		case fi.IsDir():
			return nil
		case fi.Mode()&fs.ModeSymlink != 0:
			return errors.New("is a symbolic link on the host, not followed: nothing copied into it")
		}
		return errors.New("exists and is not a directory")
	}
	if err := c.Mkdir(p); err != nil {
		return fmt.Errorf("cannot create the directory: %s", errText(err))
	}
	if err := c.Chmod(p, mode&(fs.ModePerm|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return fmt.Errorf("chmod: %s", errText(err))
	}
	return nil
}

// resolveOwner turns user and group names into numbers on the host.
func (c *sftpConn) resolveOwner(ctx context.Context, o ownerSpec) (*owner, error) {
	own := &owner{uid: -1, gid: -1}
	var script []string
	switch {
	case o.user == "":
	case isNumber(o.user):
		own.uid, _ = strconv.Atoi(o.user)
	default:
		script = append(script, "id -u -- "+Quote(o.user))
	}
	switch {
	case o.group == "" && o.user != "" && !isNumber(o.user):
		script = append(script, "id -g -- "+Quote(o.user))
	case o.group == "":
	case isNumber(o.group):
		own.gid, _ = strconv.Atoi(o.group)
	default:
		script = append(script, "getent group -- "+Quote(o.group)+" | cut -d: -f3")
	}
	if len(script) == 0 {
		return own, nil
	}
	res, err := c.h.Run(ctx, runner.Command{Cmd: strings.Join(script, " && ")})
	if err != nil {
		return nil, err
	}
	words := strings.Fields(string(res.Output))
	if res.ExitCode != 0 || len(words) != len(script) {
		return nil, fmt.Errorf("--owner %s: no such user or group on this host (%s)", o, trimOutput(res.Output))
	}
	for _, w := range words {
		if !isNumber(w) {
			return nil, fmt.Errorf("--owner %s: the host answered %q", o, res.Output)
		}
	}
	if o.user != "" && !isNumber(o.user) {
		own.uid, _ = strconv.Atoi(words[0])
		words = words[1:]
	}
	if len(words) > 0 {
		own.gid, _ = strconv.Atoi(words[0])
	}
	return own, nil
}

func (o ownerSpec) String() string {
	if o.group == "" {
		return o.user
	}
	return o.user + ":" + o.group
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 31)
	return err == nil
}

// sameMode: fi has mode's permission bits (and setuid, setgid, sticky).
func sameMode(fi fs.FileInfo, mode fs.FileMode) bool {
	return modeBits(fi.Mode()) == modeBits(mode)
}

// sameOwner: fi belongs to o where o says (nil: anyone will do).
func sameOwner(fi fs.FileInfo, o *owner) bool {
	if o == nil {
		return true
	}
	st, ok := fi.Sys().(*sftp.FileStat)
	if !ok {
		return false
	}
	return (o.uid < 0 || int(st.UID) == o.uid) && (o.gid < 0 || int(st.GID) == o.gid)
}

// moduleFail is a fail record whose message the module wrote (no stage
// prefix).
func moduleFail(h *Host, msg string) output.Record {
	return h.Record(output.Fail, output.StageModule, []byte(msg), -1)
}

// failRecord is the record of an error that may be the session's or the
// run's (timeout, interrupt) rather than the file's.
func (c *sftpConn) failRecord(ctx context.Context, err error) output.Record {
	if cause := context.Cause(ctx); cause != nil {
		return c.h.Fail(&runner.Error{Stage: runner.Stage(cause), Err: cause})
	}
	var re *runner.Error
	if errors.As(err, &re) {
		return c.h.Fail(&runner.Error{Stage: re.Stage, Err: err})
	}
	return moduleFail(c.h, err.Error())
}
