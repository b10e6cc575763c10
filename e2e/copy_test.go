package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
)

// smallDisk is the host of the copy fleet whose private directory is a
// 2 MiB tmpfs.
const smallDisk = "h008"

// copyFleet starts the fleet of the file tests: 8 hosts, each with its own
// private tmpfs (fleet.Private), the last one small.
func copyFleet(t *testing.T) *fleet.Fleet {
	t.Helper()
	return fleet.StartTest(t, fleet.Options{N: 8, PrivateSize: func(i int) int64 {
		if i == 7 {
			return 2 << 20
		}
		return 128 << 20
	}})
}

// onHost is where rel inside host's private directory is, seen from here.
func onHost(f *fleet.Fleet, host, rel string) string {
	return f.Host(host).PrivatePath(f, rel)
}

// remotePath is rel inside the private directory, as the hosts see it.
func remotePath(f *fleet.Fleet, rel string) string { return filepath.Join(f.Private, rel) }

// writeLocal writes a local file with mode and returns its path.
func writeLocal(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// randomHex is a random name part.
func randomHex(t *testing.T) string { return hex.EncodeToString(randomBytes(t, 6)) }

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// copyRecords parses copy or fetch output into records by host and path
// (the message up to its first space or ": ").
func copyRecords(t *testing.T, stdout string) map[string]map[string]output.Record {
	t.Helper()
	return recordsBy(t, stdout, func(r output.Record) string {
		msg := string(r.Message)
		if i := strings.Index(msg, ": "); i >= 0 && (r.Status == output.Fail) {
			return msg[:i]
		}
		key, _, _ := strings.Cut(msg, " ")
		return key
	})
}

// checkFile checks host's copy of rel: its content and mode.
func checkFile(t *testing.T, f *fleet.Fleet, host, rel string, data []byte, mode os.FileMode) {
	t.Helper()
	p := onHost(f, host, rel)
	got, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("%s: %v", host, err)
		return
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%s:%s: %d bytes, sha256 %s; want %d bytes, %s", host, rel, len(got), sum(got), len(data), sum(data))
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != mode {
		t.Errorf("%s:%s: mode %v, %v; want %v", host, rel, fi.Mode().Perm(), err, mode)
	}
}

// noTemporaries fails if host's private directory dir holds a
// temporary of dt's (.dt-*).
func noTemporaries(t *testing.T, f *fleet.Fleet, host, dir string) {
	t.Helper()
	ents, err := os.ReadDir(onHost(f, host, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".dt-") {
			t.Errorf("%s: temporary %s left in %s", host, e.Name(), dir)
		}
	}
}

// TestCopy drives copy against real sshd hosts, each writing into its own
// private directory, and checks every host's files from outside.
func TestCopy(t *testing.T) {
	f := copyFleet(t)
	local := t.TempDir()
	all := allNames(f)

	t.Run("changed, then unchanged", func(t *testing.T) {
		data := []byte("listen 8080\n")
		src := writeLocal(t, local, "app.conf", data, 0o640)
		dest := remotePath(f, "app.conf")
		line := regexp.MustCompile(`^okay::dt:copy:(h00\d):` + regexp.QuoteMeta(dest) + ` (changed|unchanged) 12 bytes sha256=` + sum(data) + ` mode=0640$`)
		for _, want := range []string{"changed", "unchanged"} {
			r := dt(t, f, nil, "", "all:", "copy", src, dest)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			seen := map[string]bool{}
			for _, l := range lines(r.stdout) {
				m := line.FindStringSubmatch(l)
				if m == nil || m[2] != want {
					t.Errorf("line %q, want %s", l, want)
					continue
				}
				seen[m[1]] = true
			}
			if len(seen) != len(all) {
				t.Errorf("%d hosts said %s, want %d", len(seen), want, len(all))
			}
		}
		for _, h := range all {
			checkFile(t, f, h, "app.conf", data, 0o640)
		}
		// A different mode alone is a change.
		r := dt(t, f, nil, "", "all:", "copy", "--mode", "600", src, dest)
		if strings.Count(r.stdout, " changed 12 bytes") != len(all) || !strings.Contains(r.stdout, "mode=0600") {
			t.Errorf("--mode 600:\n%s", r.stdout)
		}
		for _, h := range all {
			checkFile(t, f, h, "app.conf", data, 0o600)
		}
		// Into a directory, with a trailing slash: the two-line hook.
		r = dt(t, f, nil, "", "all:", "copy", src, f.Private+"/")
		if strings.Count(r.stdout, "unchanged") != 0 || strings.Count(r.stdout, dest+" changed") != len(all) {
			t.Errorf("copy into DIR/:\n%s", r.stdout)
		}
	})

	t.Run("three files, one login per host", func(t *testing.T) {
		var srcs []string
		for i := 1; i <= 3; i++ {
			srcs = append(srcs, writeLocal(t, local, fmt.Sprintf("three/f%d", i), []byte(strings.Repeat("x", i)), 0o644))
		}
		if err := mkdirAll(f, "three", 0o777); err != nil {
			t.Fatal(err)
		}
		before := handshakes(t, f)
		r := dt(t, f, nil, "", "all:", "copy", srcs[0], srcs[1], srcs[2], remotePath(f, "three"))
		if r.code != 0 || strings.Count(r.stdout, "okay::") != 3*len(all) {
			t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		after := handshakes(t, f)
		for _, h := range all {
			if after[h]-before[h] != 1 {
				t.Errorf("%s: %d logins for a copy of 3 files, want 1", h, after[h]-before[h])
			}
			for i := 1; i <= 3; i++ {
				checkFile(t, f, h, fmt.Sprintf("three/f%d", i), []byte(strings.Repeat("x", i)), 0o644)
			}
		}
	})

	t.Run("atomic: a reader sees the old or the new file", func(t *testing.T) {
		old, neu := bytes.Repeat([]byte("o"), 24<<20), bytes.Repeat([]byte("n"), 24<<20)
		oldSum, newSum := sum(old), sum(neu)
		src := writeLocal(t, local, "atomic.bin", neu, 0o644)
		// Not in the sticky top directory: there only the owner (fleet) of
		// a file may rename over it, and this one is written by root.
		if err := mkdirAll(f, "atomic", 0o777); err != nil {
			t.Fatal(err)
		}
		target := onHost(f, "h001", "atomic/atomic.bin")
		if err := os.WriteFile(target, old, 0o644); err != nil {
			t.Fatal(err)
		}
		var reads, bad atomic.Int64
		var badSeen atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(target)
				s := sum(b)
				reads.Add(1)
				if err != nil || (s != oldSum && s != newSum) {
					bad.Add(1)
					badSeen.Store(fmt.Sprintf("%d bytes, %v", len(b), err))
				}
			}
		}()
		// The reader must be running before the copy starts.
		for reads.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		r := dt(t, f, nil, "", "sys:h001", "copy", src, remotePath(f, "atomic/atomic.bin"))
		close(stop)
		wg.Wait()
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stdout)
		}
		if bad.Load() > 0 {
			t.Errorf("%d of %d reads saw neither the old nor the new file (e.g. %v)", bad.Load(), reads.Load(), badSeen.Load())
		}
		checkFile(t, f, "h001", "atomic/atomic.bin", neu, 0o644)
		noTemporaries(t, f, "h001", "atomic")
		t.Logf("%d reads during the copy", reads.Load())
	})

	t.Run("backup", func(t *testing.T) {
		v1, v2 := []byte("version 1\n"), []byte("version 2, longer\n")
		src := writeLocal(t, local, "bk.conf", v1, 0o644)
		dest := remotePath(f, "bk.conf")
		dt(t, f, nil, "", "sys:h001,h002", "copy", "--backup", src, dest)
		writeLocal(t, local, "bk.conf", v2, 0o644)
		r := dt(t, f, nil, "", "sys:h001,h002", "copy", "--backup", src, dest)
		re := regexp.MustCompile(`^okay::dt:copy:(h00[12]):` + regexp.QuoteMeta(dest) + ` changed 18 bytes sha256=\w+ mode=0644 backup=(` + regexp.QuoteMeta(dest) + `\.~\d{8}T\d{6}Z~)$`)
		for _, l := range lines(r.stdout) {
			m := re.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("line %q", l)
				continue
			}
			checkFile(t, f, m[1], "bk.conf", v2, 0o644)
			checkFile(t, f, m[1], filepath.Base(m[2]), v1, 0o644)
		}
		// Unchanged: no new backup.
		r = dt(t, f, nil, "", "sys:h001", "copy", "--backup", src, dest)
		if !strings.Contains(r.stdout, " unchanged ") || strings.Contains(r.stdout, "backup=") {
			t.Errorf("unchanged with --backup: %s", r.stdout)
		}
	})

	t.Run("-r, symlinks and special files reported", func(t *testing.T) {
		srcDir := filepath.Join(local, "site")
		writeLocal(t, srcDir, "index.html", []byte("<h1>hi</h1>\n"), 0o644)
		writeLocal(t, srcDir, "css/a.css", []byte("body{}\n"), 0o600)
		if err := os.Symlink("/etc/shadow", filepath.Join(srcDir, "shadow")); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(srcDir, "pipe"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := mkdirAll(f, "www", 0o777); err != nil {
			t.Fatal(err)
		}
		dest := remotePath(f, "www")
		r := dt(t, f, nil, "", "all:", "copy", "-r", srcDir, dest)
		if r.code != 1 {
			t.Errorf("exit %d, want 1 (a symlink was not copied)", r.code)
		}
		recs := copyRecords(t, r.stdout)
		for _, h := range all {
			for p, want := range map[string]string{
				dest + "/site/index.html": "okay changed",
				dest + "/site/css/a.css":  "okay changed",
				dest + "/site/shadow":     "fail symbolic link, not followed",
				dest + "/site/pipe":       "fail special file",
			} {
				rec := recs[h][p]
				st, what, _ := strings.Cut(want, " ")
				if string(rec.Status) != st || !strings.Contains(string(rec.Message), what) {
					t.Errorf("%s %s: %s %q, want %s", h, p, rec.Status, rec.Message, want)
				}
			}
			checkFile(t, f, h, "www/site/index.html", []byte("<h1>hi</h1>\n"), 0o644)
			checkFile(t, f, h, "www/site/css/a.css", []byte("body{}\n"), 0o600)
			if _, err := os.Lstat(onHost(f, h, "www/site/shadow")); err == nil {
				t.Errorf("%s: the symlink was copied", h)
			}
		}
		// "DIR/" copies the contents; a re-run changes nothing.
		r = dt(t, f, nil, "", "sys:h001", "copy", "-r", srcDir+"/", dest)
		if !strings.Contains(r.stdout, dest+"/index.html changed") {
			t.Errorf("contents copy:\n%s", r.stdout)
		}
		r = dt(t, f, nil, "", "sys:h001", "copy", "-r", srcDir+"/", dest)
		if strings.Contains(r.stdout, " changed ") || strings.Count(r.stdout, " unchanged ") != 2 {
			t.Errorf("re-run:\n%s", r.stdout)
		}
	})

	t.Run("-r never writes through a symlink on the host", func(t *testing.T) {
		srcDir := filepath.Join(local, "linked")
		writeLocal(t, srcDir, "sub/f.conf", []byte("f\n"), 0o644)
		writeLocal(t, srcDir, "top.conf", []byte("top\n"), 0o644)
		if err := mkdirAll(f, "lk/dest", 0o777); err != nil {
			t.Fatal(err)
		}
		if err := mkdirAll(f, "lk/elsewhere", 0o777); err != nil {
			t.Fatal(err)
		}
		// On the host, DEST/sub is a link to a directory outside DEST.
		if err := os.Symlink(remotePath(f, "lk/elsewhere"), onHost(f, "h001", "lk/dest/sub")); err != nil {
			t.Fatal(err)
		}
		dest := remotePath(f, "lk/dest")
		r := dt(t, f, nil, "", "sys:h001", "copy", "-r", srcDir+"/", dest)
		recs := copyRecords(t, r.stdout)["h001"]
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		for p, want := range map[string]string{
			dest + "/top.conf":   "okay changed",
			dest + "/sub":        "fail symbolic link on the host, not followed",
			dest + "/sub/f.conf": "fail not copied: its directory " + dest + "/sub",
		} {
			st, what, _ := strings.Cut(want, " ")
			if rec := recs[p]; string(rec.Status) != st || !strings.Contains(string(rec.Message), what) {
				t.Errorf("%s: %s %q, want %s", p, rec.Status, rec.Message, want)
			}
		}
		if ents, err := os.ReadDir(onHost(f, "h001", "lk/elsewhere")); err != nil || len(ents) != 0 {
			t.Errorf("the directory the link points to got %v (%v)", ents, err)
		}
	})

	t.Run("-r follows a SRC that is a symlink, as cp does", func(t *testing.T) {
		real := filepath.Join(local, "realtree")
		writeLocal(t, real, "sub/in.conf", []byte("in\n"), 0o644)
		link := filepath.Join(local, "linktree")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		if err := mkdirAll(f, "lt", 0o777); err != nil {
			t.Fatal(err)
		}
		r := dt(t, f, nil, "", "sys:h001", "copy", "-r", link, remotePath(f, "lt"))
		if want := "okay::dt:copy:h001:" + remotePath(f, "lt/linktree/sub/in.conf") + " changed "; r.code != 0 || !strings.HasPrefix(r.stdout, want) {
			t.Errorf("exit %d: %q, want %q...", r.code, r.stdout, want)
		}
		checkFile(t, f, "h001", "lt/linktree/sub/in.conf", []byte("in\n"), 0o644)
	})

	t.Run("~/ in DEST and REMOTE is the login's home", func(t *testing.T) {
		dir := "dt-e2e-tilde-" + randomHex(t)
		src := writeLocal(t, local, "tilde.conf", []byte("tilde\n"), 0o644)
		r := dt(t, f, nil, "", "sys:h001", "copy", "--mkdir", src, "~/"+dir+"/tilde.conf")
		defer dt(t, f, nil, "", "sys:h001", "ssh", "rm -rf ~/"+dir+" '~'")
		if want := "okay::dt:copy:h001:" + dir + "/tilde.conf changed "; r.code != 0 || !strings.HasPrefix(r.stdout, want) {
			t.Errorf("exit %d: %q, want %q...", r.code, r.stdout, want)
		}
		r = dt(t, f, nil, "", "sys:h001", "ssh", "cat ~/"+dir+"/tilde.conf; if test -e '~'; then echo a literal tilde directory was made; fi")
		if r.stdout != "okay::dt:ssh:h001:tilde\n" {
			t.Errorf("on the host: %q", r.stdout)
		}
		out := t.TempDir()
		r = dt(t, f, nil, "", "sys:h001", "fetch", "~/"+dir+"/tilde.conf", out)
		if got, err := os.ReadFile(filepath.Join(out, "h001", "tilde.conf")); r.code != 0 || string(got) != "tilde\n" {
			t.Errorf("fetch ~/: exit %d, %q, %v", r.code, got, err)
		}
	})

	t.Run("many files: a re-run is unchanged", func(t *testing.T) {
		// 500 files with long names: hashing them all in one remote
		// command would pass the shell a command over Linux's 128 KiB
		// limit for one argument.
		srcDir := filepath.Join(local, "many")
		for i := 0; i < 500; i++ {
			writeLocal(t, srcDir, fmt.Sprintf("%s-%03d", strings.Repeat("n", 200), i), []byte(fmt.Sprint(i)), 0o644)
		}
		if err := mkdirAll(f, "many", 0o777); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{" changed ", " unchanged "} {
			r := dt(t, f, nil, "", "sys:h004", "copy", "-r", srcDir+"/", remotePath(f, "many"))
			if n := strings.Count(r.stdout, want); r.code != 0 || n != 500 {
				t.Errorf("exit %d, %d of 500 lines say %q", r.code, n, want)
			}
		}
	})

	t.Run("{host}: one file per host, a missing one fails alone", func(t *testing.T) {
		for _, h := range all[:len(all)-1] {
			writeLocal(t, local, "per/"+h+".conf", []byte("I am "+h+"\n"), 0o644)
		}
		missing := all[len(all)-1]
		r := dt(t, f, nil, "", "all:", "copy", filepath.Join(local, "per/{host}.conf"), remotePath(f, "who.conf"))
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		recs := records(t, r.stdout)
		for _, h := range all {
			if h == missing {
				if recs[h].Status != output.Fail || !strings.Contains(string(recs[h].Message), "no such file or directory") {
					t.Errorf("%s: %s %q", h, recs[h].Status, recs[h].Message)
				}
				continue
			}
			if recs[h].Status != output.Okay {
				t.Errorf("%s: %s %q", h, recs[h].Status, recs[h].Message)
			}
			checkFile(t, f, h, "who.conf", []byte("I am "+h+"\n"), 0o644)
		}
		// Host names that would lead elsewhere are refused, before any
		// connection.
		writeLocal(t, local, "per/x.conf", []byte("x"), 0o644)
		for _, name := range []string{".."} { // more names: modules.TestExpandHost
			r = dt(t, f, nil, "", "sys:"+name, "copy", filepath.Join(local, "per/{host}"), remotePath(f, "x"))
			if r.code != 1 || !strings.Contains(r.stdout, "cannot replace {host}") {
				t.Errorf("host %q: exit %d: %s", name, r.code, r.stdout)
			}
		}
	})

	t.Run("--mkdir", func(t *testing.T) {
		src := writeLocal(t, local, "deep.conf", []byte("deep\n"), 0o644)
		dest := remotePath(f, "a/b/c/deep.conf")
		r := dt(t, f, nil, "", "sys:h001", "copy", src, dest)
		if r.code != 1 || !strings.Contains(r.stdout, "no such directory: "+remotePath(f, "a/b/c")+" (--mkdir creates it)") {
			t.Errorf("without --mkdir: exit %d: %s", r.code, r.stdout)
		}
		r = dt(t, f, nil, "", "sys:h001", "copy", "--mkdir", src, dest)
		if r.code != 0 {
			t.Errorf("--mkdir: exit %d: %s", r.code, r.stdout)
		}
		checkFile(t, f, "h001", "a/b/c/deep.conf", []byte("deep\n"), 0o644)
		// A file where a directory should be.
		r = dt(t, f, nil, "", "sys:h001", "copy", src, remotePath(f, "a/b/c/deep.conf/x"))
		if r.code != 1 || !strings.Contains(r.stdout, "not a directory: "+remotePath(f, "a/b/c/deep.conf")) {
			t.Errorf("under a file: exit %d: %s", r.code, r.stdout)
		}
		// Several sources into a missing directory.
		r = dt(t, f, nil, "", "sys:h001", "copy", "--mkdir", src, filepath.Join(local, "app.conf"), remotePath(f, "new/dir"))
		if r.code != 0 {
			t.Errorf("--mkdir DIR: exit %d: %s", r.code, r.stdout)
		}
		checkFile(t, f, "h001", "new/dir/deep.conf", []byte("deep\n"), 0o644)
	})

	t.Run("permission denied on one host, the others copy", func(t *testing.T) {
		for _, h := range all {
			p := onHost(f, h, "locked")
			mode := os.FileMode(0o777)
			if h == "h002" {
				mode = 0o755 // root's; the login is fleet
			}
			if err := os.Mkdir(p, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
		src := filepath.Join(local, "app.conf")
		r := dt(t, f, nil, "", "all:", "copy", src, remotePath(f, "locked/app.conf"))
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		recs := records(t, r.stdout)
		for _, h := range all {
			rec := recs[h]
			if h == "h002" {
				if rec.Status != output.Fail || !strings.Contains(string(rec.Message), "permission denied") {
					t.Errorf("%s: %s %q", h, rec.Status, rec.Message)
				}
				continue
			}
			if rec.Status != output.Okay {
				t.Errorf("%s: %s %q", h, rec.Status, rec.Message)
			}
		}
	})

	t.Run("a directory where the file goes is reported, not replaced", func(t *testing.T) {
		if err := mkdirAll(f, "clash/app.conf", 0o777); err != nil {
			t.Fatal(err)
		}
		r := dt(t, f, nil, "", "sys:h001", "copy", filepath.Join(local, "app.conf"), remotePath(f, "clash")+"/")
		if want := "fail::dt:copy:h001:" + remotePath(f, "clash/app.conf") + ": is a directory, not replaced by a file\n"; r.code != 1 || r.stdout != want {
			t.Errorf("exit %d: %q, want %q", r.code, r.stdout, want)
		}
		if fi, err := os.Stat(onHost(f, "h001", "clash/app.conf")); err != nil || !fi.IsDir() {
			t.Errorf("the directory is gone: %v", err)
		}
	})

	t.Run("a device or fifo where the file goes is not replaced", func(t *testing.T) {
		// Not in the sticky top directory, where the login could not
		// rename over root's fifo anyway.
		if err := mkdirAll(f, "fifodir", 0o777); err != nil {
			t.Fatal(err)
		}
		p := onHost(f, "h001", "fifodir/fifo")
		if err := syscall.Mkfifo(p, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
		src := writeLocal(t, local, "fifo.conf", []byte("not into a fifo\n"), 0o644)
		r := dt(t, f, nil, "", "sys:h001", "copy", src, remotePath(f, "fifodir/fifo"))
		if want := "fail::dt:copy:h001:" + remotePath(f, "fifodir/fifo") + ": is a special file (device, fifo or socket), not replaced\n"; r.code != 1 || r.stdout != want {
			t.Errorf("exit %d: %q, want %q", r.code, r.stdout, want)
		}
		if fi, err := os.Lstat(p); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("the fifo is gone: %v, %v", fi, err)
		}
	})

	t.Run("disk full: the old file stays, no temporary is left", func(t *testing.T) {
		old := []byte("the old configuration\n")
		if err := os.WriteFile(onHost(f, smallDisk, "full.conf"), old, 0o644); err != nil {
			t.Fatal(err)
		}
		src := writeLocal(t, local, "full.conf", randomBytes(t, 3<<20), 0o644)
		r := dt(t, f, nil, "", "sys:"+smallDisk, "copy", src, remotePath(f, "full.conf"))
		if r.code != 1 || !strings.Contains(r.stdout, "no space left on device") {
			t.Errorf("exit %d: %s", r.code, r.stdout)
		}
		checkFile(t, f, smallDisk, "full.conf", old, 0o644)
		noTemporaries(t, f, smallDisk, ".")
	})

	t.Run("--timeout mid-copy: the old file stays, no temporary is left", func(t *testing.T) {
		// 300 MiB (sparse here, so cheap to make) cannot reach the host in
		// 300 ms; whether the timeout or the host's 128 MiB disk stops
		// it, nothing may be left behind.
		src := filepath.Join(local, "huge.bin")
		fd, err := os.Create(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := fd.Truncate(300 << 20); err != nil {
			t.Fatal(err)
		}
		fd.Close()
		if err := mkdirAll(f, "slow", 0o777); err != nil {
			t.Fatal(err)
		}
		old := []byte("old\n")
		if err := os.WriteFile(onHost(f, "h003", "slow/huge.bin"), old, 0o644); err != nil {
			t.Fatal(err)
		}
		r := dt(t, f, nil, "", "--timeout", "300ms", "sys:h003", "copy", src, remotePath(f, "slow/huge.bin"))
		if r.code != 1 || !(strings.HasPrefix(r.stdout, "fail::dt:copy:h003:timeout: ") || strings.Contains(r.stdout, "no space left")) {
			t.Errorf("exit %d: %q", r.code, r.stdout)
		}
		checkFile(t, f, "h003", "slow/huge.bin", old, 0o644)
		noTemporaries(t, f, "h003", "slow")
	})

	t.Run("hangup mid-copy: no temporary is left", func(t *testing.T) {
		// The terminal (or the SSH session) dt runs in goes away: SIGHUP
		// must clean up as Ctrl-C does. Into a directory outside the small
		// private disks, so that the copy is still running when it comes.
		src := filepath.Join(local, "hup.bin")
		fd, err := os.Create(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := fd.Truncate(256 << 20); err != nil {
			t.Fatal(err)
		}
		fd.Close()
		dir := t.TempDir()
		if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(dtBin, "sys:h005", "copy", src, filepath.Join(dir, "hup.bin"))
		cmd.Env = f.Env()
		var out, errb lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the temporary holds data.
		deadline := time.Now().Add(20 * time.Second)
		for {
			tmps, _ := filepath.Glob(filepath.Join(dir, ".dt-*", "hup.bin"))
			if len(tmps) == 1 {
				if fi, err := os.Stat(tmps[0]); err == nil && fi.Size() > 0 {
					break
				}
			}
			if time.Now().After(deadline) || out.String() != "" {
				cmd.Process.Kill()
				t.Fatalf("no temporary ever held data; stdout %q stderr %q", out.String(), errb.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGHUP)
		err = cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Errorf("exit %v, want 130; stdout %q stderr %q", err, out.String(), errb.String())
		}
		if !strings.HasPrefix(out.String(), "fail::dt:copy:h005:interrupt: ") {
			t.Errorf("stdout %q, want an interrupt fail line", out.String())
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
			t.Errorf("left behind: %v (%v)", ents, err)
		}
	})

	t.Run("hostile names: spaces, newlines, leading dashes", func(t *testing.T) {
		srcDir := filepath.Join(local, "hostile")
		names := []string{"with space", "-rf", "new\nline", "back\\slash", "quote'd", "$(id)"}
		for _, n := range names {
			writeLocal(t, srcDir, n, []byte("content of "+n), 0o644)
		}
		if err := mkdirAll(f, "h", 0o777); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{" changed ", " unchanged "} {
			r := dt(t, f, nil, "", "sys:h001,h003", "copy", "-r", srcDir+"/", remotePath(f, "h"))
			if r.code != 0 || strings.Count(r.stdout, want) != 2*len(names) {
				t.Errorf("want %d%q lines, exit %d:\n%s", 2*len(names), want, r.code, r.stdout)
			}
		}
		for _, h := range []string{"h001", "h003"} {
			for _, n := range names {
				checkFile(t, f, h, "h/"+n, []byte("content of "+n), 0o644)
			}
		}
		if _, err := os.Stat(onHost(f, "h001", "h/uid=")); err == nil {
			t.Error("$(id) was run")
		}
	})

	t.Run("fetch from every host", func(t *testing.T) {
		mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for _, h := range all {
			p := onHost(f, h, "fetch/me.log")
			if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("log of "+h+"\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(p, 0, 0); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out := filepath.Join(t.TempDir(), "out")
		r := dt(t, f, nil, "", "all:", "fetch", remotePath(f, "fetch/me.log"), remotePath(f, "fetch/missing"), out)
		if r.code != 1 {
			t.Errorf("exit %d, want 1 (a missing file)", r.code)
		}
		recs := copyRecords(t, r.stdout)
		for _, h := range all {
			want := []byte("log of " + h + "\n")
			local := filepath.Join(out, h, "me.log")
			rec := recs[h][remotePath(f, "fetch/me.log")]
			if rec.Status != output.Okay || !strings.Contains(string(rec.Message), " -> "+local+fmt.Sprintf(" %d bytes sha256=%s mode=0644", len(want), sum(want))) {
				t.Errorf("%s: %s %q", h, rec.Status, rec.Message)
			}
			got, err := os.ReadFile(local)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %q, %v", h, got, err)
			}
			if fi, err := os.Stat(local); err != nil || !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o644 {
				t.Errorf("%s: %s: %v; want mtime %v, mode 0644", h, local, err, mtime)
				if err == nil {
					t.Errorf("%s: mtime %v mode %v", h, fi.ModTime(), fi.Mode())
				}
			}
			if rec := recs[h][remotePath(f, "fetch/missing")]; rec.Status != output.Fail || !strings.Contains(string(rec.Message), "no such file or directory") {
				t.Errorf("%s missing: %s %q", h, rec.Status, rec.Message)
			}
		}
		// -r brings the tree, every host into its own directory; a
		// symlink on the host is reported, not followed.
		for _, h := range []string{"h001", "h002"} {
			p := onHost(f, h, "tree/sub/b.txt")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("b of "+h), 0o604); err != nil { // root's, readable by the login
				t.Fatal(err)
			}
			if err := os.Symlink("/etc/shadow", onHost(f, h, "tree/link")); err != nil {
				t.Fatal(err)
			}
		}
		r = dt(t, f, nil, "", "sys:h001,h002", "fetch", "-r", remotePath(f, "tree"), out)
		if r.code != 1 || strings.Count(r.stdout, "symbolic link, not followed") != 2 {
			t.Errorf("fetch -r: exit %d, want 1 and two symlinks reported", r.code)
		}
		for _, h := range []string{"h001", "h002"} {
			p := filepath.Join(out, h, "tree/sub/b.txt")
			got, err := os.ReadFile(p)
			if err != nil || string(got) != "b of "+h {
				t.Errorf("%s: fetch -r: %q, %v", h, got, err)
			}
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o604 {
				t.Errorf("%s: fetch -r: mode of %s: %v", h, p, err)
			}
			if _, err := os.Lstat(filepath.Join(out, h, "tree/link")); err == nil {
				t.Errorf("%s: the symlink was fetched", h)
			}
		}
	})

	t.Run("fetch never writes through a symlink in LOCALDIR", func(t *testing.T) {
		for _, h := range []string{"h001", "h002"} {
			p := onHost(f, h, "ftree/sub/x.conf")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("x of "+h), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, elsewhere := t.TempDir(), t.TempDir()
		// Planted by someone else: LOCALDIR/h001 and LOCALDIR/h002/ftree/sub
		// are links to a directory outside LOCALDIR.
		if err := os.Symlink(elsewhere, filepath.Join(out, "h001")); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(out, "h002", "ftree"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(elsewhere, filepath.Join(out, "h002", "ftree", "sub")); err != nil {
			t.Fatal(err)
		}
		r := dt(t, f, nil, "", "sys:h001,h002", "fetch", "-r", remotePath(f, "ftree"), out)
		recs := records(t, r.stdout)
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		for h, want := range map[string]string{
			"h001": out + "/h001 is a symbolic link here, not followed",
			"h002": out + "/h002/ftree/sub is a symbolic link here, not followed",
		} {
			if rec := recs[h]; rec.Status != output.Fail || !strings.Contains(string(rec.Message), want) {
				t.Errorf("%s: %s %q, want %q", h, rec.Status, rec.Message, want)
			}
		}
		if ents, err := os.ReadDir(elsewhere); err != nil || len(ents) != 0 {
			t.Errorf("the directory the links point to got %v (%v)", ents, err)
		}
	})
}

// mkdirAll makes rel with mode in every host's private directory.
func mkdirAll(f *fleet.Fleet, rel string, mode os.FileMode) error {
	for _, h := range f.Hosts {
		p := onHost(f, h.Name, rel)
		if err := os.MkdirAll(p, mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
	return nil
}

// handshakes is every host's count of accepted logins.
func handshakes(t *testing.T, f *fleet.Fleet) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, h := range f.Hosts {
		k, err := f.Handshakes(h.Name)
		if err != nil {
			t.Fatal(err)
		}
		n[h.Name] = k
	}
	return n
}

// TestStdinBroadcast: -I gives the same bytes, binary and larger than
// what stays in memory, to every host; without -I a command reads EOF.
func TestStdinBroadcast(t *testing.T) {
	f := shared(t)
	payload := append(randomBytes(t, 3<<20), 0, '\n', 0xff, '\r')
	r := dt(t, f, nil, string(payload), "-I", "all:", "ssh", `t=$(mktemp) && cat >"$t" && sha256sum <"$t" && wc -c <"$t"; rm -f "$t"`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := sum(payload) + "  -\n" + fmt.Sprint(len(payload))
	recs := records(t, r.stdout)
	if len(recs) != len(f.Hosts) {
		t.Errorf("%d records, want %d", len(recs), len(f.Hosts))
	}
	for h, rec := range recs {
		if rec.Status != output.Okay || string(rec.Message) != want {
			t.Errorf("%s: %s %q, want %q", h, rec.Status, rec.Message, want)
		}
	}
	// The spool file never has a name in TMPDIR: nothing is created
	// there that another process could open, or that a kill could leave.
	tmp := t.TempDir()
	ino, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ino)
	if _, err := unix.InotifyAddWatch(ino, tmp, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	r = dt(t, f, []string{"TMPDIR=" + tmp}, string(payload), "-I", "sys:h001", "ssh", "wc -c")
	if r.code != 0 || r.stdout != fmt.Sprintf("okay::dt:ssh:h001:%d\n", len(payload)) {
		t.Errorf("-I with TMPDIR: exit %d, %q", r.code, r.stdout)
	}
	buf := make([]byte, 4096)
	if n, _ := unix.Read(ino, buf); n > 0 {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[0]))
		name := strings.TrimRight(string(buf[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		t.Errorf("-I created %q in TMPDIR", name)
	}
	// Without -I: nothing.
	r = dt(t, f, nil, "hello", "sys:h001", "ssh", "wc -c")
	if r.stdout != "okay::dt:ssh:h001:0\n" {
		t.Errorf("without -I: %q", r.stdout)
	}
	// Both want stdin.
	r = dt(t, f, nil, "h001\n", "-I", "out:", "ssh", "cat")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "both want standard input") {
		t.Errorf("-I with out:: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
}
