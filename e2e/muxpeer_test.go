package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// fakeKeeper listens on the keeper socket of runtimeDir as a keeper of
// another dt would: an SSH server of this uid speaking version (a keeper
// of an older dt said "SSH-2.0-Go"). answer serves its connections'
// channels; nil never answers a channel open (a keeper that took the
// local connection and then hung).
func fakeKeeper(t *testing.T, runtimeDir, version string, answer func(ssh.NewChannel)) {
	t.Helper()
	dir := filepath.Join(runtimeDir, "dt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "mux.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	cfg := &ssh.ServerConfig{NoClientAuth: true, ServerVersion: version}
	cfg.AddHostKey(signer)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				_, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				if answer == nil {
					select {} // never looks at a channel open
				}
				for nc := range chans {
					go answer(nc)
				}
			}()
		}
	}()
}

// TestPersistOtherKeeper: a keeper that is not this dt's (left running by
// an older or newer dt, speaking another protocol), or one that hangs,
// never fails a host nor holds the run: dt warns once, with what to do,
// and dials the hosts itself.
func TestPersistOtherKeeper(t *testing.T) {
	f := shared(t)
	// A newer keeper asks a question this dt does not know, then gives up
	// on the dial.
	newer := func(nc ssh.NewChannel) {
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		go ssh.DiscardRequests(reqs)
		defer ch.Close()
		ch.Write([]byte(`{"op":"hostkey2","hop":0}` + "\n"))
		bufio.NewReader(ch).ReadString('\n')
		ch.Write([]byte(`{"op":"fail","hop":0,"stage":"connect","msg":"unknown answer"}` + "\n"))
	}
	for _, tt := range []struct {
		name, version string
		answer        func(ssh.NewChannel)
		warn          string
	}{
		{"other protocol", "SSH-2.0-Go", newer, `speaks "SSH-2.0-Go"`},
		{"never answers", "SSH-2.0-dt-mux-1", nil, "the keeper did not take the connection: no answer within 5s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			runtimeDir := t.TempDir()
			fakeKeeper(t, runtimeDir, tt.version, tt.answer)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, dtBin, "--persist", "1m", "sys:h001,h002", "ssh", "echo $DT_TEST_HOST")
			cmd.Env = append(f.Env(), "XDG_RUNTIME_DIR="+runtimeDir)
			var out, errb lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("dt still ran after 30s: stdout %q stderr %q", out.String(), errb.String())
			}
			recs := records(t, out.String())
			if err != nil || len(recs) != 2 || string(recs["h001"].Message) != "h001" || string(recs["h002"].Message) != "h002" {
				t.Errorf("%v: stdout %q", err, out.String())
			}
			stderr := errb.String()
			if !strings.HasPrefix(stderr, "dt: warning: connection keeper not used, connecting directly: ") ||
				!strings.Contains(stderr, tt.warn) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one warning with %q", stderr, tt.warn)
			}
		})
	}
}

// vmRSS is pid's resident memory in KiB, or -1 once it is gone.
func vmRSS(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

// TestPersistKeeperBadClient: a client of the keeper's own uid that sends
// garbage, or answers a dial's question with 200 MB, neither kills the
// keeper nor makes it hold what it sent: it is cut off, and the keeper
// keeps serving what it kept.
func TestPersistKeeperBadClient(t *testing.T) {
	f := shared(t)
	env := muxEnv(t, f)
	runtimeDir := strings.TrimPrefix(env[0], "XDG_RUNTIME_DIR=")
	sock := filepath.Join(runtimeDir, "dt", "mux.sock")
	allOkay1 := func() {
		t.Helper()
		r := dt(t, f, env, "", "--persist", "1m", "sys:h001", "ssh", "echo $DT_TEST_HOST")
		if recs := records(t, r.stdout); r.code != 0 || string(recs["h001"].Message) != "h001" {
			t.Fatalf("exit %d, stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	}
	allOkay1()
	pids := keeperPIDs(runtimeDir)
	if len(pids) != 1 {
		t.Fatalf("keepers %v, want one", pids)
	}
	keeper := vmRSS(pids[0])

	// Garbage instead of SSH.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(bytes.Repeat([]byte("\x00garbage\xff\r\n"), 100000))
	c.Close()

	// A dial whose answer never ends.
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	conn, _, _, err := ssh.NewClientConn(nc, "dt-mux", &ssh.ClientConfig{User: "dt", HostKeyCallback: ssh.InsecureIgnoreHostKey(), ClientVersion: "SSH-2.0-dt-mux-1"})
	if err != nil {
		t.Fatal(err)
	}
	h := f.Host("h002")
	req := fmt.Sprintf(`{"hops":[{"key":"bad-client","name":"h002","dest":"x","host":%q,"port":%q,"user":%q,"connect_timeout":5000000000,"persist":60000000000}]}`, h.Addr, strconv.Itoa(h.Port), f.User)
	ch, _, err := conn.OpenChannel("dial@dt.mux", []byte(req))
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := bufio.NewReader(ch).ReadString('\n'); !strings.Contains(q, `"op":"keys"`) {
		t.Fatalf("first question %q, want keys", q)
	}
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	ch.Write([]byte(`{"err":"`))
	sent := 0
	for ; sent < 200; sent++ {
		if _, err := ch.Write(chunk); err != nil {
			break
		}
	}
	conn.Close()
	if grown := vmRSS(pids[0]) - keeper; grown > 32<<10 {
		t.Errorf("the keeper grew by %d KiB after %d MiB of one answer", grown, sent)
	}
	if sent == 200 {
		t.Errorf("the keeper read 200 MiB of one answer without cutting it off")
	}
	allOkay1()
	if got := keeperPIDs(runtimeDir); len(got) != 1 || got[0] != pids[0] {
		t.Errorf("keepers %v, want %d still", got, pids[0])
	}
}

// TestPersistStaleSocket: a keeper killed outright leaves its socket; the
// next dt finds it stale by trying it (nobody answers), starts a new
// keeper in its place, and every host answers without a warning.
func TestPersistStaleSocket(t *testing.T) {
	f := shared(t)
	env := muxEnv(t, f)
	runtimeDir := strings.TrimPrefix(env[0], "XDG_RUNTIME_DIR=")
	sock := filepath.Join(runtimeDir, "dt", "mux.sock")
	run := func() {
		t.Helper()
		r := dt(t, f, env, "", "--persist", "1m", "sys:h001,h002", "ssh", "echo $DT_TEST_HOST")
		if r.code != 0 || r.stderr != "" || len(records(t, r.stdout)) != 2 {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	}
	run()
	pids := keeperPIDs(runtimeDir)
	if len(pids) != 1 {
		t.Fatalf("keepers %v, want one", pids)
	}
	syscall.Kill(pids[0], syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); len(keeperPIDs(runtimeDir)) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the killed keeper is still there")
		}
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	run()
	if got := keeperPIDs(runtimeDir); len(got) != 1 || got[0] == pids[0] {
		t.Errorf("keepers %v after the stale socket, want one new one", got)
	}
}
