package runner

import (
	"bytes"
	"crypto/ed25519"
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
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a host key that known_hosts does not vouch for.
type HostKeyError struct {
	Addr    string
	Key     ssh.PublicKey
	Changed bool                  // known_hosts has other keys for Addr
	Known   []knownhosts.KnownKey // those keys, with file and line
	Revoked bool
}

func (e *HostKeyError) Error() string {
	offered := e.Key.Type() + " " + ssh.FingerprintSHA256(e.Key)
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key for %s is REVOKED in known_hosts (%s)", e.Addr, offered)
	case e.Changed:
		var was []string
		for _, k := range e.Known {
			was = append(was, fmt.Sprintf("%s:%d has %s %s", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
		}
		return fmt.Sprintf("host key for %s has CHANGED (server offered %s; %s); possible man-in-the-middle attack; if the change is expected, remove the old key with ssh-keygen -R",
			e.Addr, offered, strings.Join(was, "; "))
	}
	return fmt.Sprintf("host key for %s is not in known_hosts (server offered %s); add it, or use --host-keys accept-new", e.Addr, offered)
}

// hostKeys verifies host keys. Each set of known_hosts files is parsed
// once per run; keys accepted under accept-new are remembered and appended
// to the first known_hosts file under a lock.
type hostKeys struct {
	mu        sync.Mutex
	callbacks map[string]ssh.HostKeyCallback
	accepted  map[string]ssh.PublicKey // addr -> key accepted this run
	probe     ssh.PublicKey
}

func newHostKeys() *hostKeys {
	pub, _, _ := ed25519.GenerateKey(nil)
	probe, _ := ssh.NewPublicKey(pub)
	return &hostKeys{callbacks: map[string]ssh.HostKeyCallback{}, accepted: map[string]ssh.PublicKey{}, probe: probe}
}

func (h *hostKeys) db(files []string) (ssh.HostKeyCallback, error) {
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	key := strings.Join(existing, "\x00")
	h.mu.Lock()
	defer h.mu.Unlock()
	if cb, ok := h.callbacks[key]; ok {
		return cb, nil
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	h.callbacks[key] = cb
	return cb, nil
}

// algorithms lists the host key algorithms known_hosts has keys of for
// addr, so the server is asked for a key we can verify (as OpenSSH does).
// Nil means no preference.
func (h *hostKeys) algorithms(t *Target) []string {
	if t.HostKeys == Off {
		return nil
	}
	cb, err := h.db(t.KnownHostsFiles)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := cb(t.Addr(), fakeAddr(t.Addr()), h.probe); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func algorithmsFor(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	}
	return []string{keyType}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// callback returns the HostKeyCallback for t under its policy.
func (h *hostKeys) callback(t *Target) ssh.HostKeyCallback {
	if t.HostKeys == Off {
		return ssh.InsecureIgnoreHostKey() // explicitly chosen with --host-keys off
	}
	addr := t.Addr()
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		cb, err := h.db(t.KnownHostsFiles)
		if err != nil {
			return err
		}
		// Check the dialed name, not the tunnel's remote address.
		err = cb(addr, fakeAddr(addr), key)
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			return &HostKeyError{Addr: addr, Key: key, Revoked: true}
		case errors.As(err, &ke) && len(ke.Want) > 0:
			return &HostKeyError{Addr: addr, Key: key, Changed: true, Known: ke.Want}
		case errors.As(err, &ke):
			return h.unknown(t, key)
		}
		return err
	}
}

func (h *hostKeys) unknown(t *Target, key ssh.PublicKey) error {
	addr := t.Addr()
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.accepted[addr]; ok {
		if bytes.Equal(prev.Marshal(), key.Marshal()) {
			return nil
		}
		return &HostKeyError{Addr: addr, Key: key, Changed: true}
	}
	if t.HostKeys != AcceptNew {
		return &HostKeyError{Addr: addr, Key: key}
	}
	if len(t.KnownHostsFiles) == 0 {
		return fmt.Errorf("accept-new: no known_hosts file to record the key of %s in", addr)
	}
	host := knownhosts.Normalize(addr)
	if t.HashKnownHosts {
		host = knownhosts.HashHostname(host)
	}
	if err := appendKnownHost(t.KnownHostsFiles[0], knownhosts.Line([]string{host}, key)+"\n"); err != nil {
		return fmt.Errorf("accept-new: recording the key of %s: %w", addr, err)
	}
	h.accepted[addr] = key
	return nil
}

// appendKnownHost appends one line with a single write under an exclusive
// flock, so concurrent writers (this run's goroutines, other dt or ssh
// processes that lock) never lose or tear lines.
func appendKnownHost(file, line string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	// Never glue our line onto a last line that lacks its newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err != nil && err != io.EOF {
			return err
		}
		if last[0] != '\n' {
			line = "\n" + line
		}
	}
	_, err = f.WriteString(line)
	return err
}
