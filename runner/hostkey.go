package runner

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// Cert is why the host's certificate was refused (unknown CA, wrong
	// principal, expired...).
	Cert error
}

func (e *HostKeyError) Error() string {
	offered := e.Key.Type() + " " + ssh.FingerprintSHA256(e.Key)
	if c, ok := e.Key.(*ssh.Certificate); ok {
		offered = fmt.Sprintf("%s signed by %s %s", c.Type(), c.SignatureKey.Type(), ssh.FingerprintSHA256(c.SignatureKey))
	}
	switch {
	case e.Cert != nil && e.Revoked:
		return fmt.Sprintf("host certificate for %s is REVOKED in known_hosts: %s (server offered %s)",
			e.Addr, strings.TrimPrefix(e.Cert.Error(), "ssh: "), offered)
	case e.Cert != nil:
		return fmt.Sprintf("host certificate for %s refused: %s (server offered %s); known_hosts needs an @cert-authority line for the CA that signed it",
			e.Addr, strings.TrimPrefix(e.Cert.Error(), "ssh: "), offered)
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
	callbacks map[string]*knownHostsDB
	// accepted are the keys accepted this run, by known_hosts file and
	// address: aliases that record keys in different files do not vouch
	// for each other.
	accepted map[string]ssh.PublicKey
	probe    ssh.PublicKey

	unchecked   atomic.Int64 // connections made with checking off
	acceptedNew atomic.Int64 // new keys accepted under accept-new
}

func newHostKeys() *hostKeys {
	pub, _, _ := ed25519.GenerateKey(nil)
	probe, _ := ssh.NewPublicKey(pub)
	return &hostKeys{callbacks: map[string]*knownHostsDB{}, accepted: map[string]ssh.PublicKey{}, probe: probe}
}

// knownHostsDB is one set of known_hosts files: x/crypto's callback, which
// does every check, and an index of the key types listed for plain host
// names, used only to choose which host key algorithms to ask for. The
// callback scans every line for every host, so asking it which keys a host
// has (with a probe key) as well as checking the key made each host cost
// two passes over known_hosts: quadratic in the number of hosts.
type knownHostsDB struct {
	cb    ssh.HostKeyCallback
	types map[string][]string // "host port" -> key types, in file order
	probe bool                // some line is hashed, a pattern or marked: ask cb
	// caLines are the "@cert-authority" lines, as "file:line". x/crypto's
	// check compares a host's plain key with the CA keys of the lines that
	// match the host as if they were host keys: their entries in a
	// KeyError's Want are CAs, not keys the host had.
	caLines map[string]bool
	// revoked are the key blobs of the "@revoked" lines, so that a
	// certificate refused because its key or its CA is revoked is
	// reported as revoked.
	revoked map[string]bool
	// keys are the keys of the plain lines, "TYPE BASE64", by "host port";
	// trust caches what trusted computed, by address.
	keys  map[string][]string
	trust map[string]string
}

// split separates the entries of a KeyError's Want into the host's own
// keys and whether a CA vouches for the host's certificates.
func (db *knownHostsDB) split(want []knownhosts.KnownKey) (keys []knownhosts.KnownKey, ca bool) {
	for _, k := range want {
		if db.caLines[k.Filename+":"+strconv.Itoa(k.Line)] {
			ca = true
			continue
		}
		keys = append(keys, k)
	}
	return keys, ca
}

func (h *hostKeys) db(files []string) (*knownHostsDB, error) {
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	key := strings.Join(existing, "\x00")
	h.mu.Lock()
	defer h.mu.Unlock()
	if db, ok := h.callbacks[key]; ok {
		return db, nil
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	db := &knownHostsDB{cb: cb, types: map[string][]string{}, caLines: map[string]bool{}, revoked: map[string]bool{},
		keys: map[string][]string{}, trust: map[string]string{}}
	for _, f := range existing {
		if err := db.index(f); err != nil {
			db.probe = true
		}
	}
	h.callbacks[key] = db
	return db, nil
}

// index records the key types of file's plain lines ("name[,name...] TYPE
// KEY"), parsing them as knownhosts does (lines it skips are skipped).
// Anything the index cannot answer exactly (hashed names, wildcards,
// negations, @cert-authority, @revoked) sets probe.
func (db *knownHostsDB) index(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if f[0] == "@cert-authority" {
			db.caLines[file+":"+strconv.Itoa(i+1)] = true
		}
		if f[0] == "@revoked" && len(f) >= 4 {
			if blob, err := base64.StdEncoding.DecodeString(f[3]); err == nil {
				db.revoked[string(blob)] = true
			}
		}
		if line[0] == '@' || line[0] == '|' || strings.ContainsAny(f[0], "*?!|") {
			db.probe = true
			continue
		}
		if len(f) < 3 {
			continue
		}
		blob, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil {
			continue
		}
		k, err := ssh.ParsePublicKey(blob)
		if err != nil || k.Type() != f[1] {
			continue
		}
		for _, p := range strings.Split(f[0], ",") {
			if p == "" {
				continue
			}
			host, port, err := net.SplitHostPort(p)
			if err != nil {
				if p[0] == '[' {
					db.probe = true // knownhosts rejects the whole line
					continue
				}
				host, port = p, "22"
			}
			hp := host + " " + port
			db.types[hp] = append(db.types[hp], f[1])
			db.keys[hp] = append(db.keys[hp], f[1]+" "+f[2])
		}
	}
	return nil
}

// algorithms lists the host key algorithms known_hosts has keys of for
// addr, so the server is asked for a key we can verify (as OpenSSH does).
// Nil means no preference.
func (h *hostKeys) algorithms(t *Target) []string {
	if t.HostKeys == Off {
		return nil
	}
	db, err := h.db(t.KnownHostsFiles)
	if err != nil {
		return nil
	}
	var (
		types []string
		ca    bool
	)
	if db.probe {
		var ke *knownhosts.KeyError
		if err := db.cb(t.Addr(), fakeAddr(t.Addr()), h.probe); !errors.As(err, &ke) {
			return nil
		}
		var keys []knownhosts.KnownKey
		keys, ca = db.split(ke.Want)
		for _, k := range keys {
			types = append(types, k.Key.Type())
		}
	} else {
		types = db.types[t.HostName+" "+t.Port]
	}
	if ca && len(types) == 0 {
		return nil // x/crypto's default: certificates first, then plain keys
	}
	var algos []string
	seen := map[string]bool{}
	if ca {
		// A CA vouches for this host: ask for a certificate first, as
		// OpenSSH does, then for the plain keys known_hosts has.
		for _, a := range ssh.SupportedAlgorithms().HostKeys {
			if strings.Contains(a, "-cert-") {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	for _, kt := range types {
		for _, a := range algorithmsFor(kt) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// trusted says what t's known_hosts files vouch for at t's address: the
// keys listed for it and the CAs that cover it, one per line, sorted ("" when
// checking is off or nothing is listed). It is part of a connection's key,
// so that a connection kept for one set of known_hosts entries is never
// reused once they change.
func (h *hostKeys) trusted(t *Target) string {
	if t.HostKeys == Off {
		return ""
	}
	db, err := h.db(t.KnownHostsFiles)
	if err != nil {
		return ""
	}
	addr := t.Addr()
	h.mu.Lock()
	v, ok := db.trust[addr]
	h.mu.Unlock()
	if ok {
		return v
	}
	var lines []string
	if db.probe {
		var ke *knownhosts.KeyError
		if err := db.cb(addr, fakeAddr(addr), h.probe); errors.As(err, &ke) {
			for _, k := range ke.Want {
				line := k.Key.Type() + " " + base64.StdEncoding.EncodeToString(k.Key.Marshal())
				if db.caLines[k.Filename+":"+strconv.Itoa(k.Line)] {
					line = "@cert-authority " + line
				}
				lines = append(lines, line)
			}
		}
	} else {
		lines = append(lines, db.keys[t.HostName+" "+t.Port]...)
	}
	slices.Sort(lines)
	v = strings.Join(slices.Compact(lines), "\n")
	h.mu.Lock()
	db.trust[addr] = v
	h.mu.Unlock()
	return v
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

// HostKeyCheck says how a host key that was let through was vouched for.
type HostKeyCheck int

// The outcomes of a host key check that let the host through.
const (
	// KeyVerified: known_hosts has the key (or a CA that signed it).
	KeyVerified HostKeyCheck = iota
	// KeyRecorded: the key was new, accepted under accept-new and
	// recorded in known_hosts.
	KeyRecorded
	// KeyUnchecked: host key checking is off.
	KeyUnchecked
)

// callback returns the HostKeyCallback for t under its policy.
func (h *hostKeys) callback(t *Target) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		_, err := h.check(t, key)
		return err
	}
}

// check checks key, offered by t, under t's policy, and says how it was
// vouched for when it is let through.
func (h *hostKeys) check(t *Target, key ssh.PublicKey) (HostKeyCheck, error) {
	if t.HostKeys == Off {
		// Explicitly chosen (--host-keys off): counted, so the CLI warns.
		h.unchecked.Add(1)
		return KeyUnchecked, nil
	}
	addr := t.Addr()
	db, err := h.db(t.KnownHostsFiles)
	if err != nil {
		return 0, err
	}
	// Check the dialed name, not the tunnel's remote address.
	err = db.cb(addr, fakeAddr(addr), key)
	if err == nil {
		return KeyVerified, nil
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return 0, &HostKeyError{Addr: addr, Key: key, Revoked: true}
	case errors.As(err, &ke):
		// A CA line is not a key the host had: a host whose plain
		// key no line lists is unknown, not changed.
		if known, _ := db.split(ke.Want); len(known) > 0 {
			return 0, &HostKeyError{Addr: addr, Key: key, Changed: true, Known: known}
		}
		return h.unknown(t, key)
	}
	if c, ok := key.(*ssh.Certificate); ok {
		revoked := db.revoked[string(c.Key.Marshal())] || db.revoked[string(c.SignatureKey.Marshal())]
		return 0, &HostKeyError{Addr: addr, Key: key, Cert: err, Revoked: revoked}
	}
	return 0, err
}

func (h *hostKeys) unknown(t *Target, key ssh.PublicKey) (HostKeyCheck, error) {
	addr := t.Addr()
	seen := addr
	if len(t.KnownHostsFiles) > 0 {
		seen = t.KnownHostsFiles[0] + "\x00" + addr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.accepted[seen]; ok {
		if bytes.Equal(prev.Marshal(), key.Marshal()) {
			return KeyRecorded, nil
		}
		return 0, &HostKeyError{Addr: addr, Key: key, Changed: true}
	}
	if t.HostKeys != AcceptNew {
		return 0, &HostKeyError{Addr: addr, Key: key}
	}
	if len(t.KnownHostsFiles) == 0 {
		return 0, fmt.Errorf("accept-new: no known_hosts file to record the key of %s in", addr)
	}
	host := knownhosts.Normalize(addr)
	if t.HashKnownHosts {
		host = knownhosts.HashHostname(host)
	}
	if err := appendKnownHost(t.KnownHostsFiles[0], knownhosts.Line([]string{host}, key)+"\n"); err != nil {
		return 0, fmt.Errorf("accept-new: recording the key of %s: %w", addr, err)
	}
	h.accepted[seen] = key
	h.acceptedNew.Add(1)
	return KeyRecorded, nil
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
