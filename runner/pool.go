package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
)

// Pool holds the SSH connections of a run. A connection is shared by every
// host that resolves to the same destination and trust settings (see
// connKey): one connection per host, and one per jump host for every host
// behind it. A connection is closed when its last lease is released, except
// that jump host connections stay open until Close (the next host behind
// them would only dial them again). It is safe for concurrent use.
type Pool struct {
	cfg   Config
	keys  *keyring
	hks   *hostKeys
	mu    sync.Mutex
	conns map[string]*poolEntry

	handshakes atomic.Int64
	// noKeeper is set once the Connector said it cannot be used: the
	// hosts that would persist are dialed directly for the rest of the run.
	noKeeper atomic.Bool
	keepIdle atomic.Bool
}

type poolEntry struct {
	key    string
	ready  chan struct{} // closed when the dial is over
	client *ssh.Client
	err    error
	refs   int           // leases holding it, under Pool.mu
	jump   bool          // used as a jump host: kept until Close
	gone   chan struct{} // closed when the connection has ended
}

// dead reports whether e's connection was made and has ended since.
func (e *poolEntry) dead() bool {
	select {
	case <-e.ready:
	default:
		return false
	}
	if e.gone == nil {
		return false
	}
	select {
	case <-e.gone:
		return true
	default:
		return false
	}
}

// KeepIdle makes the pool keep every connection open when its last lease
// is released, until Close, so that a later command on the same host
// needs no new login (dt sh). A kept connection that has ended (the host
// restarted, the network dropped it) is dialed again on next use.
func (p *Pool) KeepIdle() { p.keepIdle.Store(true) }

// NewPool returns an empty pool.
func NewPool(cfg Config) *Pool {
	return &Pool{cfg: cfg, keys: newKeyring(cfg), hks: newHostKeys(), conns: map[string]*poolEntry{}}
}

// Handshakes reports how many SSH handshakes the pool has completed.
func (p *Pool) Handshakes() int64 { return p.handshakes.Load() }

// HostKeyStats counts the hosts of a run whose key was not verified against
// known_hosts.
type HostKeyStats struct {
	// Unchecked is how many connections were made with host key checking
	// off (--host-keys off, StrictHostKeyChecking off).
	Unchecked int
	// Accepted is how many new host keys were accepted unverified and
	// recorded (--host-keys accept-new, StrictHostKeyChecking
	// accept-new or no).
	Accepted int
}

// HostKeyStats reports the connections made so far whose host key was not
// verified, so the CLI can warn about them once per run.
func (p *Pool) HostKeyStats() HostKeyStats {
	return HostKeyStats{Unchecked: int(p.hks.unchecked.Load()), Accepted: int(p.hks.acceptedNew.Load())}
}

// connKey is what decides whether two targets may share a connection:
// everything that says where it goes (user, address, port, ProxyCommand,
// the whole jump chain) and whom it trusts and authenticates as (identity
// files, IdentitiesOnly, the agent, the host key policy and known_hosts
// files, and what those files say about the address), for the target and
// for every hop before it. Two aliases that differ in any of these get
// connections of their own, even to the same address; a kept connection
// is not reused once any of them changed.
func (p *Pool) connKey(t *Target) string {
	var b strings.Builder
	for _, j := range t.Jump {
		p.writeHop(&b, j)
		b.WriteString("\x00>\x00")
	}
	p.writeHop(&b, t)
	return b.String()
}

func (p *Pool) writeHop(b *strings.Builder, t *Target) {
	field := func(s string) {
		b.WriteString(s)
		b.WriteByte(0)
	}
	list := func(l []string) {
		for _, s := range l {
			b.WriteString(s)
			b.WriteByte(1)
		}
		b.WriteByte(0)
	}
	field(t.User)
	field(t.HostName)
	field(t.Port)
	field(t.ProxyCommand)
	list(t.IdentityFiles)
	field(strconv.FormatBool(t.IdentitiesOnly))
	field(agentSocket(p.cfg, t))
	list(t.KnownHostsFiles)
	field(p.hks.trusted(t))
	field(string(t.HostKeys))
	field(strconv.FormatBool(t.HashKnownHosts))
}

// Lease is one holder's use of a pooled connection (and of the jump host
// connections under it). Release it when done with the connection.
type Lease struct {
	// Client is the connection to the target.
	Client  *ssh.Client
	p       *Pool
	entries []*poolEntry
	once    sync.Once
}

// Release gives the lease back; the pool closes the connection when no
// other lease holds it.
func (l *Lease) Release() {
	l.once.Do(func() {
		for i := len(l.entries) - 1; i >= 0; i-- {
			l.p.put(l.entries[i])
		}
	})
}

// Acquire returns a lease on the connection to t, dialing it (and its jump
// hosts) on first use. Concurrent callers for the same connection share
// one dial. A host that persists (Target.Persist > 0) gets its connection
// from the Config's Connector, the connection keeper, when there is one.
func (p *Pool) Acquire(ctx context.Context, t *Target) (*Lease, error) {
	if p.cfg.Connector != nil && t.Persist > 0 && !p.noKeeper.Load() {
		key := p.connKey(t)
		e, err := p.get(ctx, keptPrefix+key, false, func() (*ssh.Client, error) {
			return p.connect(ctx, t, key)
		})
		switch {
		case err == nil:
			return &Lease{p: p, entries: []*poolEntry{e}, Client: e.client}, nil
		case errors.Is(err, ErrConnectorUnavailable):
			p.noKeeper.Store(true) // the connector said why, once; dial ourselves
		case !p.askDirect(err):
			return nil, err
		}
	}
	l, via, err := p.jumps(ctx, t)
	if err != nil {
		return nil, err
	}
	e, err := p.get(ctx, p.connKey(t), false, func() (*ssh.Client, error) {
		return p.dial(ctx, t, via)
	})
	if err != nil {
		l.Release()
		return nil, err
	}
	l.entries = append(l.entries, e)
	l.Client = e.client
	return l, nil
}

// askDirect reports whether a host the Connector could not log in to is
// dialed by the pool itself: when the keys were refused and the person may
// be asked a password (Config.Ask, -i on a terminal). The Connector only
// signs with keys; a password or keyboard-interactive answer never
// travels to it, so such a host is reached as on a cold run, and not kept.
func (p *Pool) askDirect(err error) bool {
	var se *Error
	return p.cfg.Ask != nil && errors.As(err, &se) && se.Stage == output.StageAuth
}

// keptPrefix sets the keys of connections made by the Connector apart
// from those the pool dials itself.
const keptPrefix = "kept\x00"

// jumps returns a lease on the connections to t's jump hosts (an empty
// one when it has none) and the connection to the last of them, through
// which t is reached (nil without jump hosts).
func (p *Pool) jumps(ctx context.Context, t *Target) (*Lease, *ssh.Client, error) {
	l := &Lease{p: p}
	var via *ssh.Client
	for i, j := range t.Jump {
		hop := *j
		hop.Jump = t.Jump[:i]
		e, err := p.get(ctx, p.connKey(&hop), true, func() (*ssh.Client, error) {
			return p.dial(ctx, &hop, via)
		})
		if err != nil {
			l.Release()
			var se *Error
			if errors.As(err, &se) {
				return nil, nil, &Error{Stage: se.Stage, Err: fmt.Errorf("jump host %s: %w", j.Name, se.Err)}
			}
			return nil, nil, fmt.Errorf("jump host %s: %w", j.Name, err)
		}
		l.entries = append(l.entries, e)
		via = e.client
	}
	return l, via, nil
}

// get returns the entry for key with a reference taken, calling dial when
// no connection with that key exists (or the one kept has died).
func (p *Pool) get(ctx context.Context, key string, jump bool, dial func() (*ssh.Client, error)) (*poolEntry, error) {
	p.mu.Lock()
	e, ok := p.conns[key]
	if ok && e.dead() {
		// Kept past its end: forget it and dial anew.
		delete(p.conns, key)
		closeClient(e.client)
		ok = false
	}
	if !ok {
		e = &poolEntry{key: key, ready: make(chan struct{}), refs: 1, jump: jump}
		p.conns[key] = e
		p.mu.Unlock()
		e.client, e.err = dial()
		if e.err == nil {
			e.gone = make(chan struct{})
			go func(c *ssh.Client, gone chan struct{}) {
				c.Wait()
				close(gone)
			}(e.client, e.gone)
		}
		if e.err != nil {
			// Do not cache failures: a later caller (or a host whose
			// context outlives this one) may try again.
			p.mu.Lock()
			e.refs--
			if p.conns[key] == e {
				delete(p.conns, key)
			}
			p.mu.Unlock()
		}
		close(e.ready)
		if e.err != nil {
			return nil, e.err
		}
		return e, nil
	}
	e.refs++
	e.jump = e.jump || jump
	p.mu.Unlock()
	select {
	case <-e.ready:
		if e.err != nil {
			p.put(e)
			return nil, e.err
		}
		return e, nil
	case <-ctx.Done():
		p.put(e)
		return nil, context.Cause(ctx)
	}
}

// put drops one reference to e and closes its connection when it was the
// last one (jump host connections wait for Close).
func (p *Pool) put(e *poolEntry) {
	p.mu.Lock()
	e.refs--
	last := e.refs == 0 && !e.jump && !p.keepIdle.Load() && p.conns[e.key] == e
	if last {
		delete(p.conns, e.key)
	}
	p.mu.Unlock()
	if last {
		<-e.ready
		closeClient(e.client)
	}
}

// closeClient closes c (nil is fine) and forgets why keepalives dropped it.
func closeClient(c *ssh.Client) {
	if c != nil {
		c.Close()
		lostPeers.Delete(c)
		gates.Delete(c)
	}
}

// Close closes every connection in the pool, leased or not.
func (p *Pool) Close() error {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[string]*poolEntry{}
	p.mu.Unlock()
	for _, e := range conns {
		<-e.ready
		closeClient(e.client)
	}
	return nil
}

func (p *Pool) dial(ctx context.Context, t *Target, via *ssh.Client) (*ssh.Client, error) {
	signers, notes := p.keys.signers(t)
	auth := []ssh.AuthMethod{ssh.PublicKeys(signers...)}
	var asked *askedSecrets
	if p.cfg.Ask != nil {
		asked = &askedSecrets{ask: p.cfg.Ask, target: t}
		auth = append(auth, asked.methods()...)
		defer asked.clear()
	}
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              auth,
		HostKeyCallback:   p.hks.callback(t),
		HostKeyAlgorithms: p.hks.algorithms(t),
	}
	client, err := Dial(ctx, t, via, cfg, p.cfg.Shell, nil)
	var hf *HandshakeFailure
	if errors.As(err, &hf) {
		if asked != nil {
			notes = append(notes, asked.notes()...)
		}
		return nil, handshakeError(t, hf.Err, len(signers), notes)
	}
	if err != nil {
		return nil, err
	}
	p.handshakes.Add(1)
	registerGate(client)
	if t.KeepAlive > 0 {
		go keepAlive(client, t.KeepAlive, t.KeepAliveMax)
	}
	return client, nil
}

// HandshakeFailure is an SSH handshake that the server, the host key
// check or authentication refused: Err is x/crypto/ssh's error. Callers
// name it (host key, auth, handshake) knowing what they offered.
type HandshakeFailure struct{ Err error }

func (e *HandshakeFailure) Error() string { return e.Err.Error() }
func (e *HandshakeFailure) Unwrap() error { return e.Err }

// Dial opens a connection to t: a channel of via (a jump host's
// connection) when via is set, else t's ProxyCommand (run by shell with
// env, nil meaning this process's environment), else TCP; then it runs the
// SSH handshake with cfg (dt's algorithms; User, Auth, HostKeyCallback and
// HostKeyAlgorithms from the caller), all within t.ConnectTimeout. A
// transport failure or a timeout is an *Error (StageConnect,
// StageHandshake); a refused handshake is a *HandshakeFailure; a
// cancelled ctx gives its cause.
func Dial(ctx context.Context, t *Target, via *ssh.Client, cfg *ssh.ClientConfig, shell string, env []string) (*ssh.Client, error) {
	full := *cfg
	full.Config = algorithms
	full.Timeout = t.ConnectTimeout
	dctx, cancel := context.WithTimeout(ctx, t.ConnectTimeout)
	defer cancel()
	addr := t.Addr()
	conn, err := transport(ctx, dctx, t, via, shell, env)
	if err != nil {
		return nil, err
	}

	// x/crypto/ssh has no contexts: close the connection to abandon the
	// handshake on timeout or cancellation.
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &full)
	if !stop() {
		if err == nil {
			c.Close()
		}
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		return nil, stageErr(output.StageHandshake, "ssh handshake with %s timed out after %s", addr, t.ConnectTimeout)
	}
	if err != nil {
		if pc, ok := conn.(*proxyConn); ok {
			// The handshake failed because the command ended: say why.
			if why := pc.failure(200 * time.Millisecond); why != "" {
				conn.Close()
				return nil, &Error{Stage: output.StageConnect, Err: fmt.Errorf("ProxyCommand %s: %s", t.ProxyCommand, why)}
			}
		}
		conn.Close()
		return nil, &HandshakeFailure{Err: err}
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// transport opens the byte stream t's SSH connection runs over: a
// channel of via (its last jump host's connection) when there is one, else
// its ProxyCommand (run by shell with env; nil env: this process's), else
// TCP. dctx bounds the connect; ctx is the caller's (its cause is returned
// when it ended).
func transport(ctx, dctx context.Context, t *Target, via *ssh.Client, shell string, env []string) (net.Conn, error) {
	addr := t.Addr()
	var (
		conn net.Conn
		err  error
	)
	switch {
	case via != nil:
		conn, err = via.DialContext(dctx, "tcp", addr)
	case t.ProxyCommand != "":
		conn, err = startProxy(shell, t.ProxyCommand, env)
		if err != nil {
			return nil, &Error{Stage: output.StageConnect, Err: fmt.Errorf("ProxyCommand %s: %w", t.ProxyCommand, err)}
		}
	default:
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) && len(t.Jump) > 0 {
			// The jump host could not reach the target: say so as a
			// direct dial would ("connection refused").
			return nil, &Error{Stage: output.StageConnect, Err: fmt.Errorf("dial tcp %s via jump host %s: %s",
				addr, t.Jump[len(t.Jump)-1].Name, strings.ToLower(strings.Trim(oce.Message, `"`)))}
		}
		return nil, &Error{Stage: output.StageConnect, Err: dialError(addr, err, t.ConnectTimeout)}
	}
	return conn, nil
}

// algorithms are the key exchanges, ciphers and MACs dt offers, in order of
// preference. They are x/crypto's defaults without the two it lists as
// insecure (diffie-hellman-group14-sha1, hmac-sha1-96), which OpenSSH's
// client does not offer by default either. Measured against OpenSSH 9.2's
// sshd (see BENCHMARKS.md), what they negotiate there, curve25519-sha256 and
// aes128-gcm@openssh.com, costs the server no more per connection than
// OpenSSH's client with curve25519-sha256 does, and ~20% less than its
// default sntrup761x25519-sha512. A server that offers mlkem768x25519-sha256
// (OpenSSH 9.9 and later) gets that: post-quantum, and cheap.
var algorithms = ssh.Config{
	KeyExchanges: []string{
		ssh.KeyExchangeMLKEM768X25519,
		ssh.KeyExchangeCurve25519,
		ssh.KeyExchangeECDHP256,
		ssh.KeyExchangeECDHP384,
		ssh.KeyExchangeECDHP521,
		ssh.KeyExchangeDH14SHA256,
	},
	Ciphers: []string{
		ssh.CipherAES128GCM,
		ssh.CipherAES256GCM,
		ssh.CipherChaCha20Poly1305,
		ssh.CipherAES128CTR,
		ssh.CipherAES192CTR,
		ssh.CipherAES256CTR,
	},
	MACs: []string{
		ssh.HMACSHA256ETM,
		ssh.HMACSHA512ETM,
		ssh.HMACSHA256,
		ssh.HMACSHA512,
		ssh.HMACSHA1,
	},
}

func dialError(addr string, err error, timeout time.Duration) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("dial tcp %s: %v", addr, errno)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("dial tcp %s: timed out after %s", addr, timeout)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("resolve %s: %v", dnsErr.Name, dnsErr.Err)
	}
	return err
}

func handshakeError(t *Target, err error, nkeys int, notes []string) error {
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return &Error{Stage: output.StageHostKey, Err: hk}
	}
	msg := strings.TrimPrefix(err.Error(), "ssh: handshake failed: ")
	if isAskError(err) {
		return &Error{Stage: output.StageAuth, Err: fmt.Errorf("%s@%s: publickey refused (offered %d key(s)), and %s", t.User, t.Addr(), nkeys, msg)}
	}
	if strings.Contains(msg, "unable to authenticate") {
		s := fmt.Sprintf("%s@%s: permission denied (publickey; offered %d key(s))", t.User, t.Addr(), nkeys)
		if len(notes) > 0 {
			s += "; " + strings.Join(notes, "; ")
		}
		return &Error{Stage: output.StageAuth, Err: errors.New(s)}
	}
	if strings.Contains(msg, "knownhosts") || strings.Contains(msg, "known_hosts") {
		return &Error{Stage: output.StageHostKey, Err: errors.New(msg)}
	}
	return &Error{Stage: output.StageHandshake, Err: fmt.Errorf("ssh handshake with %s: %s", t.Addr(), msg)}
}
