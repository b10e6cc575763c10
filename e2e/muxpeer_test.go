package e2e

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
