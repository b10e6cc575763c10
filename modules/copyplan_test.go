package modules

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestExpandHost(t *testing.T) {
	for _, tt := range []struct {
		src, host, want, err string
	}{
		{"conf/{host}.conf", "web1", "conf/web1.conf", ""},
		{"{host}/{host}.conf", "db-2.example", "db-2.example/db-2.example.conf", ""},
		{"plain.conf", "..", "plain.conf", ""}, // no {host}: the name does not matter
		{"conf/{host}.conf", "with space", "conf/with space.conf", ""},
		{"conf/{host}.conf", "[::1]", "conf/[::1].conf", ""},
		{"conf/{host}", "..", "", "relative directory name"},
		{"conf/{host}", ".", "", "relative directory name"},
		{"conf/{host}.conf", "../../etc/passwd", "", "contains a /"},
		{"conf/{host}.conf", "a/b", "", "contains a /"},
		{"conf/{host}.conf", "-rf", "", "starts with -"},
		{"conf/{host}.conf", "web\n1", "", "control character"},
		{"conf/{host}.conf", "web\x001", "", "control character"},
		{"conf/{host}.conf", "", "", "empty"},
	} {
		got, err := expandHost(tt.src, tt.host)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("expandHost(%q, %q) = %q, %v; want an error with %q", tt.src, tt.host, got, err, tt.err)
			}
		case err != nil || got != tt.want:
			t.Errorf("expandHost(%q, %q) = %q, %v; want %q", tt.src, tt.host, got, err, tt.want)
		}
	}
}

// FuzzExpandHost: an expansion either is refused, or replaces every {host}
// with exactly the name and adds no path component of its own: the
// expanded path has the template's ".." components and no more, and as
// many components.
func FuzzExpandHost(f *testing.F) {
	for _, s := range [][2]string{
		{"conf/{host}.conf", "web1"}, {"{host}", ".."}, {"a/{host}/b", "x/y"}, {"{host}{host}", "."},
		{"../{host}", "-x"}, {"{host}/..", "ok"}, {"{ho{host}st}", "h"}, {"x", "/"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, src, host string) {
		got, err := expandHost(src, host)
		if err != nil {
			if !strings.Contains(src, hostToken) {
				t.Fatalf("refused %q without {host}: %v", src, err)
			}
			return
		}
		if !strings.Contains(src, hostToken) {
			if got != src {
				t.Fatalf("%q changed to %q", src, got)
			}
			return
		}
		if got != strings.ReplaceAll(src, hostToken, host) {
			t.Fatalf("expandHost(%q, %q) = %q", src, host, got)
		}
		if strings.ContainsAny(host, "/\n\x00") || host == ".." || host == "." || strings.HasPrefix(host, "-") {
			t.Fatalf("host name %q accepted", host)
		}
		parts := func(p string) (n, dotdot int) {
			for _, c := range strings.Split(p, "/") {
				n++
				if c == ".." {
					dotdot++
				}
			}
			return
		}
		// The template with {host} as a plain name: the same shape.
		wn, wd := parts(strings.ReplaceAll(src, hostToken, "h"))
		gn, gd := parts(got)
		if gn != wn || gd != wd {
			t.Fatalf("expandHost(%q, %q) = %q: %d components (%d ..), template has %d (%d ..)", src, host, got, gn, gd, wn, wd)
		}
	})
}

// tree makes files (ending in "/" for directories, "@" for a symlink, "|"
// for a fifo) under a new temp dir and returns it.
func tree(t testing.TB, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		p := filepath.Join(dir, strings.TrimRight(n, "/@|"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(n, "/"):
			err = os.MkdirAll(p, 0o750)
		case strings.HasSuffix(n, "@"):
			err = os.Symlink("/etc/passwd", p)
		case strings.HasSuffix(n, "|"):
			err = syscall.Mkfifo(p, 0o644)
		default:
			err = os.WriteFile(p, []byte(n), 0o640)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func rels(entries []copyEntry) []string {
	var out []string
	for _, e := range entries {
		s := e.Rel
		switch e.Kind {
		case entryDir:
			s += "/"
		case entrySkip:
			s += " (" + e.Why + ")"
		}
		out = append(out, s)
	}
	return out
}

func TestPlanSources(t *testing.T) {
	dir := tree(t, "app.conf", "site/index.html", "site/css/a.css", "site/empty/", "site/link@", "site/fifo|", "other/app.conf")
	in := func(p ...string) []string {
		var out []string
		for _, x := range p {
			out = append(out, filepath.Join(dir, x))
		}
		return out
	}
	for _, tt := range []struct {
		name      string
		srcs      []string
		recursive bool
		want      []string
		err       string
	}{
		{"one file", in("app.conf"), false, []string{"app.conf"}, ""},
		{"directory as NAME/...", in("site"), true, []string{"site/", "site/css/", "site/css/a.css", "site/empty/", "site/fifo (special file (device, socket or fifo), not copied)", "site/index.html", "site/link (symbolic link, not followed)"}, ""},
		{"contents with a trailing slash", []string{filepath.Join(dir, "site") + "/"}, true, []string{"css/", "css/a.css", "empty/", "fifo (special file (device, socket or fifo), not copied)", "index.html", "link (symbolic link, not followed)"}, ""},
		{"a symlink named on the command line is followed", in("site/link"), false, []string{"link"}, ""},
		{"directory without -r", in("site"), false, nil, "is a directory (use -r)"},
		{"two sources, one name", in("app.conf", "other/app.conf"), false, nil, "would both be copied to"},
		{"missing", in("nope"), false, nil, "no such file or directory"},
		{"fifo named on the command line", in("site/fifo"), false, nil, "not a regular file or directory"},
	} {
		got, err := planSources(tt.srcs, tt.recursive)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(rels(got), tt.want) {
			t.Errorf("%s: %q, %v\nwant %q", tt.name, rels(got), err, tt.want)
		}
	}
}

// FuzzPlanTree builds a tree from fuzzed names (any bytes a file name may
// hold: newlines, spaces, leading dashes, backslashes, UTF-8 or not) and
// checks the -r mapping: every regular file and directory of the tree is
// planned exactly once, under DEST/NAME, at the path it has in the tree;
// nothing maps outside DEST (no "..", no absolute path); parents come
// before their children.
func FuzzPlanTree(f *testing.F) {
	f.Add("a\x00b/c\x00-d\x00e f/g\nh\x00..x\x00\\\x00\xff")
	f.Add("dir/sub/file\x00dir/other\x00.hidden")
	f.Fuzz(func(t *testing.T, spec string) {
		root := t.TempDir()
		top := filepath.Join(root, "top")
		want := map[string]bool{"top": true}
		for _, name := range strings.Split(spec, "\x00") {
			var comps []string
			for _, c := range strings.Split(name, "/") {
				if c == "" || c == "." || c == ".." || len(c) > 200 {
					continue
				}
				comps = append(comps, c)
			}
			if len(comps) == 0 || len(comps) > 8 {
				continue
			}
			p := filepath.Join(append([]string{top}, comps...)...)
			if os.MkdirAll(filepath.Dir(p), 0o755) != nil {
				continue // a file where a directory should be
			}
			if os.WriteFile(p, []byte("x"), 0o644) != nil {
				continue
			}
			rel := path.Join(append([]string{"top"}, comps...)...)
			for d := path.Dir(rel); d != "."; d = path.Dir(d) {
				want[d] = true
			}
			want[rel] = true
		}
		if err := os.MkdirAll(top, 0o755); err != nil {
			t.Fatal(err)
		}
		entries, err := planSources([]string{top}, true)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if seen[e.Rel] {
				t.Fatalf("%q planned twice", e.Rel)
			}
			seen[e.Rel] = true
			if !want[e.Rel] {
				t.Fatalf("%q planned, not in the tree", e.Rel)
			}
			if path.IsAbs(e.Rel) || path.Clean(e.Rel) != e.Rel || slices.Contains(strings.Split(e.Rel, "/"), "..") {
				t.Fatalf("unsafe relative path %q", e.Rel)
			}
			if got := remoteTarget("/dest", e.Rel); !strings.HasPrefix(got, "/dest/top") {
				t.Fatalf("%q lands at %q, outside /dest/top", e.Rel, got)
			}
			if e.Local != filepath.Join(root, filepath.FromSlash(e.Rel)) {
				t.Fatalf("%q comes from %q", e.Rel, e.Local)
			}
			if d := path.Dir(e.Rel); d != "." && !seen[d] {
				t.Fatalf("%q planned before its directory", e.Rel)
			}
		}
		for w := range want {
			if !seen[w] {
				t.Fatalf("%q is in the tree but not planned", w)
			}
		}
	})
}

// FuzzFetchLocalPath: whatever a host calls itself and whatever names its
// directory listing holds, a fetched file lands inside LOCALDIR/HOST, or
// is refused.
func FuzzFetchLocalPath(f *testing.F) {
	for _, s := range [][3]string{{"web1", "app.conf", "x"}, {"..", "a", "b"}, {"h", "..", "x"}, {"h", "a/../../b", "c"}, {"[::1]", "-rf", "a\nb"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, host, a, b string) {
		got, err := fetchLocalPath("/out", host, a, b)
		if err != nil {
			return
		}
		base := filepath.Join("/out", host)
		if base == "/out" || !strings.HasPrefix(got, base+"/") || filepath.Dir(filepath.Dir(got)) != base {
			t.Fatalf("fetchLocalPath(%q, %q, %q) = %q, outside %q", host, a, b, got, base)
		}
		if filepath.Base(got) != b || filepath.Base(filepath.Dir(got)) != a {
			t.Fatalf("fetchLocalPath(%q, %q, %q) = %q: names changed", host, a, b, got)
		}
	})
}

func TestHomeRelative(t *testing.T) {
	for in, want := range map[string]string{
		"~":              ".",
		"~/":             ".",
		"~/app.conf":     "app.conf",
		"~//etc/a":       "etc/a",
		"~user/app.conf": "~user/app.conf",
		"/etc/app.conf":  "/etc/app.conf",
		"app.conf":       "app.conf",
		"./~/x":          "./~/x",
	} {
		if got := homeRelative(in); got != want {
			t.Errorf("homeRelative(%q) = %q, want %q", in, got, want)
		}
	}
}
