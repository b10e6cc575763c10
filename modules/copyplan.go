package modules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// hostToken in a copy SRC is replaced by the host's name.
const hostToken = "{host}"

// entryKind is what a copy entry makes on the host.
type entryKind int

const (
	entryFile entryKind = iota // a regular file, copied
	entryDir                   // a directory, created (-r)
	entrySkip                  // a symlink or special file found by -r: reported, not copied
)

// copyEntry is one local file or directory to recreate on a host.
type copyEntry struct {
	Local string    // local path
	Rel   string    // slash-separated path under the destination directory
	Kind  entryKind //
	Mode  fs.FileMode
	Why   string // entrySkip: what it is
}

// checkPathComponent refuses a name that cannot safely stand as one path
// component: empty, "." or "..", with a "/" or a control character
// (newline, NUL...), or starting with "-".
func checkPathComponent(name string) error {
	switch {
	case name == "":
		return errors.New("it is empty")
	case name == "." || name == "..":
		return fmt.Errorf("%q is a relative directory name", name)
	case strings.ContainsRune(name, '/'):
		return errors.New("it contains a /")
	case strings.HasPrefix(name, "-"):
		return errors.New("it starts with -")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("it contains the control character %q", c)
		}
	}
	return nil
}

// expandHost replaces every {host} in src with the host's name. A name
// that could make the path point somewhere else ("..", "a/b") or that is
// hostile to tools reading the path (newline, leading "-") is refused.
func expandHost(src, host string) (string, error) {
	if !strings.Contains(src, hostToken) {
		return src, nil
	}
	if err := checkPathComponent(host); err != nil {
		return "", fmt.Errorf("host name %q cannot replace %s in %q: %v", host, hostToken, src, err)
	}
	return strings.ReplaceAll(src, hostToken, host), nil
}

// planSources lists what copying srcs makes under the destination
// directory: for a regular file its base name; with recursive, for a
// directory "dir" the tree dir/... (its contents only when src ends in "/",
// or is "." or ".."). Symlinks and special files inside a tree become
// entrySkip entries; a SRC named on the command line is followed when it is
// a symlink, as cp does. Two entries for the same path are an error.
func planSources(srcs []string, recursive bool) ([]copyEntry, error) {
	var out []copyEntry
	seen := map[string]string{}
	add := func(e copyEntry) error {
		if prev, dup := seen[e.Rel]; dup {
			return fmt.Errorf("%q and %q would both be copied to %q", prev, e.Local, e.Rel)
		}
		seen[e.Rel] = e.Local
		out = append(out, e)
		return nil
	}
	for _, src := range srcs {
		fi, err := os.Stat(src)
		if err != nil {
			return nil, pathErr(src, err)
		}
		switch {
		case fi.Mode().IsRegular():
			if err := add(copyEntry{Local: src, Rel: filepath.Base(src), Kind: entryFile, Mode: fi.Mode()}); err != nil {
				return nil, err
			}
		case fi.IsDir():
			if !recursive {
				return nil, fmt.Errorf("%q is a directory (use -r)", src)
			}
			entries, err := walkTree(src)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if err := add(e); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("%q is not a regular file or directory", src)
		}
	}
	return out, nil
}

// walkTree lists the tree at dir (which exists) without following
// symlinks, parents before children.
func walkTree(dir string) ([]copyEntry, error) {
	prefix := ""
	if base := filepath.Base(dir); !strings.HasSuffix(dir, "/") && base != "." && base != ".." {
		prefix = base
	}
	// A SRC that is a symlink to a directory is followed, as cp follows
	// one named on its command line: WalkDir would report the link
	// itself, so walk "SRC/." (still named SRC/... below it).
	root := dir
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		root = dir + string(filepath.Separator) + "."
	}
	var out []copyEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return pathErr(p, err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = path.Join(prefix, filepath.ToSlash(rel))
		if rel == "." {
			return nil // the directory itself, copied as its contents
		}
		e := copyEntry{Local: p, Rel: rel}
		switch t := d.Type(); {
		case t.IsDir():
			e.Kind = entryDir
		case t.IsRegular():
			e.Kind = entryFile
		case t&fs.ModeSymlink != 0:
			e.Kind, e.Why = entrySkip, "symbolic link, not followed"
		default:
			e.Kind, e.Why = entrySkip, "special file (device, socket or fifo), not copied"
		}
		if e.Kind != entrySkip {
			fi, err := d.Info()
			if err != nil {
				return pathErr(p, err)
			}
			e.Mode = fi.Mode()
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// homeRelative turns a remote path written from the login's home ("~",
// "~/etc/app.conf") into the relative path SFTP resolves from there: the
// server does not expand "~", and a literal "~" directory (which --mkdir
// would make) is never what was meant. Other paths, "~user/..." too, stay
// as they are.
func homeRelative(p string) string {
	switch {
	case p == "~" || p == "~/":
		return "."
	case strings.HasPrefix(p, "~/"):
		return strings.TrimLeft(p[2:], "/")
	}
	return p
}

// remoteTarget is where entry rel lands under the remote directory dir.
func remoteTarget(dir, rel string) string {
	if dir == "" {
		dir = "."
	}
	return path.Join(dir, rel)
}

// pathErr words a local file error for a record or a usage error.
func pathErr(p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%q: %v", p, err)
}
