package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/internal/fleet"
)

// dtLocal runs dt with HOME=home and nothing of a fleet: for the modules
// that connect to nothing (tag, del, local).
func dtLocal(t *testing.T, home, stdin string, args ...string) run {
	t.Helper()
	return dtLocalEnv(t, home, nil, stdin, args...)
}

// dtLocalEnv is dtLocal with extra environment variables.
func dtLocalEnv(t *testing.T, home string, env []string, stdin string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dtBin, args...)
	cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("dt %q: %v", args, err)
	}
	t.Logf("$ dt %s\n%s%s(exit %d)", strings.Join(args, " "), r.stdout, r.stderr, r.code)
	return r
}

func parseInventoryFile(t *testing.T, path string) *hosts.Inventory {
	t.Helper()
	inv, err := hosts.LoadInventory(path)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestTagConcurrent: 20 dt processes tagging every host at once lose no
// tag, and the file keeps its comments, blank lines and order.
func TestTagConcurrent(t *testing.T) {
	home := t.TempDir()
	db := filepath.Join(home, ".dtdb")
	var b strings.Builder
	b.WriteString("# the fleet\n\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "h%03d linux   # host %d\n", i, i)
		if i%10 == 0 {
			b.WriteString("\n# next ten\n")
		}
	}
	orig := b.String()
	writeFile(t, db, []byte(orig), 0o640)

	const procs = 20
	var wg sync.WaitGroup
	runs := make([]run, procs)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = dtLocal(t, home, "", "all:", "tag", fmt.Sprintf("+t%02d", i))
		}()
	}
	wg.Wait()
	for i, r := range runs {
		if r.code != 0 || len(lines(r.stdout)) != 30 {
			t.Errorf("process %d: exit %d, %d lines, stderr %q", i, r.code, len(lines(r.stdout)), r.stderr)
		}
	}
	inv := parseInventoryFile(t, db)
	for _, h := range inv.Hosts {
		for i := range procs {
			if !h.HasTag(fmt.Sprintf("t%02d", i)) {
				t.Errorf("%s lost t%02d (tags %q)", h.Name, i, h.Tags)
			}
		}
	}
	data, _ := os.ReadFile(db)
	// Take the tags back out: what is left is the file as it was.
	stripped := string(data)
	for i := range procs {
		stripped = strings.ReplaceAll(stripped, fmt.Sprintf(" t%02d", i), "")
	}
	if stripped != orig {
		t.Errorf("comments, blanks or order changed:\n%s", data)
	}
	if st, _ := os.Stat(db); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
}

// TestInventoryKillMidWrite: dt killed with SIGKILL while it writes the
// inventory (its temporary file exists) or at random moments leaves the
// old file or the new one, never a mix; a reader meanwhile only ever sees
// one of the two; the next edit cleans up.
func TestInventoryKillMidWrite(t *testing.T) {
	home := t.TempDir()
	db := filepath.Join(home, ".dtdb")
	var b strings.Builder
	b.WriteString("# big inventory\n")
	for i := 0; i < 40000; i++ {
		fmt.Fprintf(&b, "host%06d linux web prod-%d # padding to make the write take a while\n", i, i%7)
	}
	old := b.String()
	writeFile(t, db, []byte(old), 0o600)
	newer := strings.Replace(old, "host000001 linux web prod-1", "host000001 linux web prod-1 x", 1)

	check := func(what string) (isNew bool) {
		t.Helper()
		data, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		switch string(data) {
		case old:
			return false
		case newer:
			return true
		}
		t.Fatalf("%s: the inventory is neither the old nor the new file (%d bytes)", what, len(data))
		return false
	}
	temps := func() []string {
		m, _ := filepath.Glob(filepath.Join(home, ".dtdb.dt-edit-*"))
		return m
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(dtBin, "sys:host000001", "tag", "+x")
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	// Meanwhile a reader (as any dt run is) must only ever see one file
	// or the other, never a file being written.
	stopReading := make(chan struct{})
	readerDone := make(chan error, 1)
	reads := 0
	go func() {
		for {
			select {
			case <-stopReading:
				readerDone <- nil
				return
			default:
			}
			data, err := os.ReadFile(db)
			if err == nil && string(data) != old && string(data) != newer {
				readerDone <- fmt.Errorf("a reader saw a file of %d bytes that is neither the old nor the new one", len(data))
				return
			}
			reads++
		}
	}()
	defer func() {
		close(stopReading)
		if err := <-readerDone; err != nil {
			t.Error(err)
		}
		t.Logf("the reader read the inventory %d times", reads)
	}()

	// Killed while the temporary file is being written: the old file.
	midWrite := 0
	for try := 0; try < 20 && midWrite < 3; try++ {
		cmd := start()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
	poll:
		for len(temps()) == 0 {
			select {
			case <-done:
				break poll
			case <-time.After(50 * time.Microsecond):
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		if check("killed mid-write") {
			// It finished before the kill: put the old file back.
			putBack(t, db, old)
			continue
		}
		if len(temps()) > 0 {
			midWrite++
		}
	}
	if midWrite == 0 {
		t.Fatal("never killed dt while it wrote its temporary file")
	}
	t.Logf("%d kills mid-write left the old file", midWrite)

	// Killed at random moments: old or new, whichever.
	for i := 0; i < 8; i++ {
		cmd := start()
		time.Sleep(time.Duration(i*15) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if check(fmt.Sprintf("killed after %dms", i*15)) {
			putBack(t, db, old)
		}
	}

	// A full run: the new file, and no temporary file left.
	if r := dtLocal(t, home, "", "sys:host000001", "tag", "+x"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !check("after a full run") {
		t.Error("the full run did not write the new file")
	}
	if left := temps(); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestInventoryMalformedUntouched: a malformed inventory is reported with
// its line and never rewritten, whatever the module.
func TestInventoryMalformedUntouched(t *testing.T) {
	home := t.TempDir()
	db := filepath.Join(home, ".dtdb")
	bad := "# comment\nweb1 linux\nweb2 li$nux\n"
	writeFile(t, db, []byte(bad), 0o600)
	st0, _ := os.Stat(db)
	for _, args := range [][]string{
		{"sys:web1", "tag", "+x"},
		{"sys:web1", "del"},
		{"sys:web3", "add", "--no-keyscan", "x"},
	} {
		r := dtLocal(t, home, "", args...)
		if r.code != 2 || !strings.Contains(r.stderr, ".dtdb:3: bad tag") {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	st1, _ := os.Stat(db)
	if data, _ := os.ReadFile(db); string(data) != bad || !os.SameFile(st0, st1) || !st1.ModTime().Equal(st0.ModTime()) {
		t.Error("the malformed inventory was rewritten")
	}
}

// TestTagAndDel: tag prints and edits, del asks for --yes past one host,
// a host outside the inventory fails with a hint, a symlinked inventory
// stays a symlink.
func TestTagAndDel(t *testing.T) {
	home := t.TempDir()
	real := filepath.Join(home, "dotfiles-dtdb")
	writeFile(t, real, []byte("web1 linux web # keep me\nweb2 linux web\ndb1 linux db\n"), 0o600)
	if err := os.Symlink(real, filepath.Join(home, ".dtdb")); err != nil {
		t.Fatal(err)
	}
	r := dtLocal(t, home, "", "tag:web", "tag")
	if r.code != 0 || r.stdout != "okay::dt:tag:web1:linux web\nokay::dt:tag:web2:linux web\n" {
		t.Errorf("tag: exit %d %q", r.code, r.stdout)
	}
	r = dtLocal(t, home, "", "sys:web1,ghost", "tag", "+prod", "-linux", "canary")
	want := "okay::dt:tag:web1:web prod canary\nfail::dt:tag:ghost:not in the inventory " + filepath.Join(home, ".dtdb") + "; add it with: dt sys:ghost add\n"
	if r.code != 1 || r.stdout != want {
		t.Errorf("tag edit: exit %d\n%q\nwant\n%q", r.code, r.stdout, want)
	}
	r = dtLocal(t, home, "", "tag:web", "del")
	if r.code != 3 || !strings.Contains(r.stderr, "needs --yes") {
		t.Errorf("del of 2 hosts without --yes: exit %d %q", r.code, r.stderr)
	}
	// On a terminal dt asks; "n" deletes nothing (exit 1), "y" deletes.
	for _, answer := range []string{"n", "y"} {
		cmd := exec.Command(dtBin, "-N", "tag:web", "del")
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
		term := startOnPTY(t, cmd)
		term.waitFor("dt: delete 2 hosts from " + filepath.Join(home, ".dtdb") + " (web1, web2)? [y/N] ")
		term.typeIn(answer + "\r")
		text, err := term.wait()
		data, _ := os.ReadFile(real)
		switch answer {
		case "n":
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(text, "del: not confirmed; nothing deleted") || !strings.Contains(string(data), "web1") {
				t.Errorf("answered n: %v %q, file %q", err, text, data)
			}
		case "y":
			if err != nil || strings.Count(text, "okay::dt:del:") != 2 {
				t.Errorf("answered y: %v %q", err, text)
			}
		}
	}
	if fi, err := os.Lstat(filepath.Join(home, ".dtdb")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	if data, _ := os.ReadFile(real); string(data) != "db1 linux db\n" {
		t.Errorf("file after del: %q", data)
	}
}

// TestAddKeyscan: add fetches each host's key without logging in; strict
// refuses an unknown key and adds nothing; accept-new records the key
// exactly as ssh-keyscan prints it and adds the hosts, which strict runs
// then reach; adding again merges tags; a changed key is refused.
func TestAddKeyscan(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 4})
	home := copyHome(t, f)
	db := filepath.Join(home, ".dtdb")
	kh := filepath.Join(home, ".ssh", "known_hosts")
	os.Remove(db)
	writeFile(t, kh, nil, 0o600)
	env := []string{"HOME=" + home}
	two := f.Hosts[0].Name + "," + f.Hosts[1].Name

	r := dt(t, f, env, "", "sys:"+two, "add", "web")
	if r.code != 1 || strings.Count(r.stdout, "fail::dt:add:") != 2 || !strings.Contains(r.stdout, "is not in known_hosts") {
		t.Errorf("strict add of unknown hosts: exit %d", r.code)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a failed add created the inventory")
	}

	r = dt(t, f, env, "", "--host-keys", "accept-new", "sys:"+two, "add", "web", "new")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 2 {
		t.Fatalf("accept-new add: exit %d", r.code)
	}
	for _, h := range f.Hosts[:2] {
		msg := string(recs[h.Name].Message)
		if !strings.HasPrefix(msg, "added (tags: web new); host key ssh-ed25519 SHA256:") || !strings.HasSuffix(msg, "recorded in "+kh) {
			t.Errorf("%s: %q", h.Name, msg)
		}
	}
	if n, _ := f.TotalHandshakes(); n != 0 {
		t.Errorf("add logged in %d times; a key scan never logs in", n)
	}
	// known_hosts vouches, for each address, for the key ssh-keyscan
	// prints (hashed or not, as /etc/ssh/ssh_config's HashKnownHosts says),
	// one line per host.
	if data, _ := os.ReadFile(kh); len(lines(string(data))) != 2 {
		t.Errorf("known_hosts has %d lines, want 2:\n%s", len(lines(string(data))), data)
	}
	cb, err := knownhosts.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range f.Hosts[:2] {
		out, err := exec.Command("ssh-keyscan", "-t", "ed25519", "-p", fmt.Sprint(h.Port), h.Addr).Output()
		if err != nil {
			t.Fatalf("ssh-keyscan: %v", err)
		}
		f := strings.Fields(string(out))
		if len(f) != 3 {
			t.Fatalf("ssh-keyscan printed %q", out)
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(f[1] + " " + f[2]))
		if err != nil {
			t.Fatal(err)
		}
		if err := cb(h.HostPort(), fakeAddr(h.HostPort()), key); err != nil {
			t.Errorf("%s: ssh-keyscan's key is not the one recorded: %v", h.Name, err)
		}
	}
	if r = dt(t, f, env, "", "tag:new", "ssh", "echo in"); r.code != 0 || strings.Count(r.stdout, ":in\n") != 2 {
		t.Errorf("strict run on the added hosts: exit %d", r.code)
	}

	r = dt(t, f, env, "", "sys:"+f.Hosts[0].Name, "add", "web", "db")
	if msg := string(records(t, r.stdout)[f.Hosts[0].Name].Message); r.code != 0 || !strings.HasPrefix(msg, "present (tags: web new db; new: db); host key ssh-ed25519 SHA256:") || !strings.HasSuffix(msg, " verified") {
		t.Errorf("second add: exit %d %q", r.code, msg)
	}

	// h003's address with h004's key in known_hosts: CHANGED, not added.
	h3, h4 := f.Hosts[2], f.Hosts[3]
	writeFile(t, kh, []byte(hostKeyLine(t, f, &h4, h3.HostPort())), 0o600)
	r = dt(t, f, env, "", "--host-keys", "accept-new", "sys:"+h3.Name, "add", "x")
	if r.code != 1 || !strings.Contains(r.stdout, "fail::dt:add:"+h3.Name+":hostkey: host key for") || !strings.Contains(r.stdout, "CHANGED") {
		t.Errorf("changed key: exit %d %q", r.code, r.stdout)
	}
	if inv := parseInventoryFile(t, db); len(inv.Hosts) != 2 {
		t.Errorf("inventory has %d hosts, want 2", len(inv.Hosts))
	}
}

// appendFile appends text to the file at path.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// TestTagKeepsGroup: a group-shared inventory (mode 0664, group 4242)
// edited by a member of the group who does not own it keeps its group,
// so the others of the group can still edit it; the editor becomes the
// owner, as the new file is theirs. dt runs as nobody with 4242 among
// its groups, in a directory without setgid (where the new file would
// otherwise get nobody's group).
func TestTagKeepsGroup(t *testing.T) {
	const group = 4242
	if err := os.Chmod(filepath.Dir(dtBin), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "dt-e2e-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "dtdb")
	writeFile(t, inv, []byte("web1 linux\n"), 0o664)
	if err := os.Chown(inv, 0, group); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(inv, 0o664); err != nil { // past the umask
		t.Fatal(err)
	}
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", fmt.Sprintf("--groups=%d", group),
		dtBin, "-D", inv, "sys:web1", "tag", "+web")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "okay::dt:tag:web1:linux web\n" {
		t.Fatalf("dt as nobody: %v\n%s", err, out)
	}
	st, err := os.Stat(inv)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Gid != group || sys.Uid != 65534 || st.Mode().Perm() != 0o664 {
		t.Errorf("after the edit: uid %d gid %d mode %v, want uid 65534 gid %d mode 0664", sys.Uid, sys.Gid, st.Mode().Perm(), group)
	}
	if data, _ := os.ReadFile(inv); string(data) != "web1 linux web\n" {
		t.Errorf("inventory %q", data)
	}

	// A file nobody may write, in a directory nobody may not: the edit
	// needs the directory, and the failure says so.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(inv, 0o666); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", dtBin, "-D", inv, "sys:web1", "tag", "+db")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	out, err = cmd.CombinedOutput()
	want := "fail::dt:tag:web1:inventory not changed: inventory: cannot create a file in " + dir + "/, which an edit needs"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.HasPrefix(string(out), want) {
		t.Errorf("read-only directory: %v %q, want exit 1 and %q...", err, out, want)
	}
}

// putBack puts the inventory's old text back while a reader may read it:
// written aside and renamed into place, as dt writes it, so the reader
// never sees a file half written (os.WriteFile truncates it first).
func putBack(t *testing.T, db, text string) {
	t.Helper()
	tmp := db + ".test-put-back"
	writeFile(t, tmp, []byte(text), 0o600)
	if err := os.Rename(tmp, db); err != nil {
		t.Fatal(err)
	}
}
