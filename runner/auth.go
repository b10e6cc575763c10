package runner

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultIdentityFiles are tried, like OpenSSH, when ssh_config names none.
var defaultIdentityFiles = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// keyring loads each key file once per run and asks for a passphrase at
// most once per file, however many hosts use it.
type keyring struct {
	cfg Config

	mu    sync.Mutex
	files map[string]*keyFile

	agents map[string]*agentKeys // by socket path
}

// agentKeys are the keys of one ssh-agent, asked for once per run.
type agentKeys struct {
	once    sync.Once
	signers []ssh.Signer
	err     error
}

type keyFile struct {
	once   sync.Once
	signer ssh.Signer
	note   string // why the file gave no signer, for auth error messages

	pubOnce sync.Once
	pub     ssh.PublicKey // the file's public key, read without decrypting
}

func newKeyring(cfg Config) *keyring {
	return &keyring{cfg: cfg, files: map[string]*keyFile{}, agents: map[string]*agentKeys{}}
}

// signers returns the signers to offer to t, agent keys first, and notes
// about key files that could not be used.
//
// Like OpenSSH, an identity file whose key the agent holds is used through
// the agent: its passphrase is not asked. With IdentitiesOnly, agent keys
// are offered only when they belong to one of t's identity files.
func (k *keyring) signers(t *Target) ([]ssh.Signer, []string) {
	var (
		out   []ssh.Signer
		notes []string
		seen  = map[string]bool{}
	)
	add := func(s ssh.Signer) {
		blob := string(s.PublicKey().Marshal())
		if !seen[blob] {
			seen[blob] = true
			out = append(out, s)
		}
	}
	files := t.IdentityFiles
	if len(files) == 0 {
		for _, f := range defaultIdentityFiles {
			files = append(files, filepath.Join(k.cfg.Home, ".ssh", f))
		}
	}
	fromAgent, err := k.agent(agentSocket(k.cfg, t))
	if err != nil && !t.IdentitiesOnly {
		notes = append(notes, err.Error())
	}
	inAgent := make(map[string]ssh.Signer, len(fromAgent))
	for _, s := range fromAgent {
		inAgent[string(s.PublicKey().Marshal())] = s
		if !t.IdentitiesOnly {
			add(s)
		}
	}
	for _, f := range files {
		if len(inAgent) > 0 {
			if pub := k.publicKey(f); pub != nil {
				if s, ok := inAgent[string(pub.Marshal())]; ok {
					add(s)
					continue
				}
			}
		}
		s, note := k.file(f, len(t.IdentityFiles) > 0)
		if s != nil {
			add(s)
		} else if note != "" {
			notes = append(notes, note)
		}
	}
	return out, notes
}

// readPrivateKey reads a private key file, refusing one that the user
// owns and that group or others may read or write, as OpenSSH does
// ("UNPROTECTED PRIVATE KEY FILE"): whoever could read it has the key.
func readPrivateKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == os.Getuid() && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("UNPROTECTED PRIVATE KEY FILE: permissions %#o are too open, so it is not used; hint: chmod 600 %s", st.Mode().Perm(), path)
	}
	return io.ReadAll(f)
}

// agentSocket is the ssh-agent socket t authenticates through: its
// IdentityAgent, else the run's $SSH_AUTH_SOCK ("" or "none": no agent).
func agentSocket(cfg Config, t *Target) string {
	if t.IdentityAgent != "" {
		return t.IdentityAgent
	}
	return cfg.AgentSocket
}

// publicKey returns the public key of the identity file at path without
// decrypting it: from the file itself (OpenSSH's format stores it in the
// clear), else from path.pub. It returns nil when neither has it.
func (k *keyring) publicKey(path string) ssh.PublicKey {
	kf := entry(&k.mu, k.files, path)
	kf.pubOnce.Do(func() { kf.pub = readPublicKey(path) })
	return kf.pub
}

func readPublicKey(path string) ssh.PublicKey {
	if pem, err := os.ReadFile(path); err == nil {
		s, err := ssh.ParsePrivateKey(pem)
		if err == nil {
			return s.PublicKey()
		}
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) && missing.PublicKey != nil {
			return missing.PublicKey
		}
	}
	data, err := os.ReadFile(path + ".pub")
	if err != nil {
		return nil
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil
	}
	return pub
}

// entry returns m[key] under mu, adding a zero value when there is none,
// so that concurrent hosts share one load of a key file or agent.
func entry[V any](mu *sync.Mutex, m map[string]*V, key string) *V {
	mu.Lock()
	defer mu.Unlock()
	v := m[key]
	if v == nil {
		v = new(V)
		m[key] = v
	}
	return v
}

// agent returns the keys of the ssh-agent listening on sock (none when
// sock is empty or "none").
func (k *keyring) agent(sock string) ([]ssh.Signer, error) {
	if sock == "" || strings.EqualFold(sock, "none") {
		return nil, nil
	}
	a := entry(&k.mu, k.agents, sock)
	a.once.Do(func() {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			a.err = fmt.Errorf("ssh-agent: %w", err)
			return
		}
		// The connection stays open for the run: agent signers sign
		// through it.
		a.signers, a.err = agent.NewClient(conn).Signers()
		if a.err != nil {
			a.err = fmt.Errorf("ssh-agent %s: %w", sock, a.err)
		}
	})
	return a.signers, a.err
}

// file loads one key file. Missing default files are silently skipped;
// a missing explicit IdentityFile gives a note.
func (k *keyring) file(path string, explicit bool) (ssh.Signer, string) {
	kf := entry(&k.mu, k.files, path)
	kf.once.Do(func() { kf.signer, kf.note = k.load(path, explicit) })
	return kf.signer, kf.note
}

func (k *keyring) load(path string, explicit bool) (ssh.Signer, string) {
	pem, err := readPrivateKey(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !explicit {
			return nil, ""
		}
		return nil, fmt.Sprintf("identity %s: %v", path, err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if k.cfg.Passphrase == nil {
			return nil, fmt.Sprintf("identity %s is encrypted and there is no terminal to ask its passphrase (load it into ssh-agent)", path)
		}
		// Prompts are serialised: one question on the terminal at a time.
		k.mu.Lock()
		pass, perr := k.cfg.Passphrase(path)
		k.mu.Unlock()
		if perr != nil {
			return nil, fmt.Sprintf("identity %s is encrypted and its passphrase could not be read (%v); load it into ssh-agent", path, perr)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
		clear(pass)
		if err != nil {
			return nil, fmt.Sprintf("identity %s: %v", path, err)
		}
		return s, ""
	}
	if err != nil {
		return nil, fmt.Sprintf("identity %s: %v", path, err)
	}
	return s, ""
}
