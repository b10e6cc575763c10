package runner

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// testKey is an ed25519 key pair for the keyring tests.
type testKey struct {
	priv ed25519.PrivateKey
	pub  ssh.PublicKey
}

func newTestKey(t *testing.T) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv: priv, pub: pub}
}

// write stores the key at dir/name in OpenSSH's format, encrypted when pass
// is not empty.
func (k testKey) write(t *testing.T, dir, name, pass string) string {
	t.Helper()
	var (
		block *pem.Block
		err   error
	)
	if pass == "" {
		block, err = ssh.MarshalPrivateKey(k.priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(k.priv, "", []byte(pass))
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startAgent serves an in-memory ssh-agent holding keys on a unix socket
// and returns the socket's path.
func startAgent(t *testing.T, keys ...testKey) string {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k.priv}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); agent.ServeAgent(kr, c) }()
		}
	}()
	return sock
}

// TestKeyringSigners: which keys are offered, in which order, and when a
// passphrase is asked. A key the agent holds is used through the agent, so
// its file's passphrase is never asked; IdentitiesOnly keeps other agent
// keys out.
func TestKeyringSigners(t *testing.T) {
	const pass = "hunter2"
	inAgent, other, plain, broken := newTestKey(t), newTestKey(t), newTestKey(t), newTestKey(t)
	dir := t.TempDir()
	encFile := inAgent.write(t, dir, "enc", pass)
	plainFile := plain.write(t, dir, "plain", "")
	otherEnc := other.write(t, dir, "other-enc", pass)
	// A key file x/crypto cannot read, whose .pub names a key the agent
	// holds: OpenSSH would use the agent, and so does dt.
	brokenFile := filepath.Join(dir, "broken")
	os.WriteFile(brokenFile, []byte("not a key\n"), 0o600)
	os.WriteFile(brokenFile+".pub", ssh.MarshalAuthorizedKey(broken.pub), 0o644)

	agentSock := startAgent(t, other, inAgent, broken)

	for _, tt := range []struct {
		name      string
		agent     bool
		only      bool
		files     []string
		want      []ssh.PublicKey
		wantAsked int
	}{
		{"encrypted file held by the agent, IdentitiesOnly", true, true, []string{encFile}, []ssh.PublicKey{inAgent.pub}, 0},
		{"encrypted file held by the agent", true, false, []string{encFile}, []ssh.PublicKey{other.pub, inAgent.pub, broken.pub}, 0},
		{"IdentitiesOnly keeps other agent keys out", true, true, []string{plainFile}, []ssh.PublicKey{plain.pub}, 0},
		{"IdentitiesOnly, files in order, agent where it holds them", true, true, []string{plainFile, otherEnc}, []ssh.PublicKey{plain.pub, other.pub}, 0},
		{"public key from .pub", true, true, []string{brokenFile}, []ssh.PublicKey{broken.pub}, 0},
		{"no agent: the passphrase is asked", false, false, []string{encFile}, []ssh.PublicKey{inAgent.pub}, 1},
		{"no agent, IdentitiesOnly: asked once per file", false, true, []string{encFile, otherEnc}, []ssh.PublicKey{inAgent.pub, other.pub}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			asked := 0
			cfg := Config{Home: t.TempDir(), Passphrase: func(string) ([]byte, error) {
				asked++
				return []byte(pass), nil
			}}
			if tt.agent {
				cfg.AgentSocket = agentSock
			}
			k := newKeyring(cfg)
			target := &Target{IdentityFiles: tt.files, IdentitiesOnly: tt.only}
			got, notes := k.signers(target)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d signers, want %d (notes %q)", len(got), len(tt.want), notes)
			}
			for i := range got {
				if !bytes.Equal(got[i].PublicKey().Marshal(), tt.want[i].Marshal()) {
					t.Errorf("signer %d is %s, want %s", i, ssh.FingerprintSHA256(got[i].PublicKey()), ssh.FingerprintSHA256(tt.want[i]))
				}
			}
			if asked != tt.wantAsked {
				t.Errorf("passphrase asked %d times, want %d", asked, tt.wantAsked)
			}
			// Asking again for another host uses what was loaded.
			k.signers(target)
			if asked != tt.wantAsked {
				t.Errorf("passphrase asked again for a second host")
			}
		})
	}
}

// TestKeyringIdentityAgent: ssh_config IdentityAgent picks the agent per
// host, over $SSH_AUTH_SOCK; "none" uses no agent.
func TestKeyringIdentityAgent(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	sockA, sockB := startAgent(t, a), startAgent(t, b)
	k := newKeyring(Config{Home: t.TempDir(), AgentSocket: sockA})
	for _, tt := range []struct {
		agent string
		want  []ssh.PublicKey
	}{
		{"", []ssh.PublicKey{a.pub}},
		{sockB, []ssh.PublicKey{b.pub}},
		{"none", nil},
	} {
		got, notes := k.signers(&Target{IdentityAgent: tt.agent})
		if len(got) != len(tt.want) {
			t.Errorf("IdentityAgent %q: %d signers, want %d (notes %q)", tt.agent, len(got), len(tt.want), notes)
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i].PublicKey().Marshal(), tt.want[i].Marshal()) {
				t.Errorf("IdentityAgent %q: signer %d is not the agent's key", tt.agent, i)
			}
		}
	}
}

// A key file that group or others can read is refused, as OpenSSH refuses
// it, with the fix in the note; the same key at 0600 is used.
func TestUnprotectedKeyFileRefused(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t)
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o640, false}, {0o604, false}, {0o660, false}} {
		path := k.write(t, dir, "id_test", "")
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		kr := newKeyring(Config{Home: dir})
		signers, notes := kr.signers(&Target{IdentityFiles: []string{path}})
		if got := len(signers) == 1; got != tt.ok {
			t.Errorf("mode %#o: used = %v, want %v (notes %q)", tt.mode, got, tt.ok, notes)
		}
		if !tt.ok && (len(notes) != 1 || !bytes.Contains([]byte(notes[0]), []byte("UNPROTECTED PRIVATE KEY FILE")) || !bytes.Contains([]byte(notes[0]), []byte("chmod 600 "+path))) {
			t.Errorf("mode %#o: notes %q", tt.mode, notes)
		}
		os.Remove(path)
	}
}
