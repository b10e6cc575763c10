package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
)

// Pool holds one SSH connection per host for the length of a run, and one
// shared connection per jump host for every host behind it. It is safe for
// concurrent use.
type Pool struct {
	cfg   Config
	keys  *keyring
	hks   *hostKeys
	mu    sync.Mutex
	conns map[string]*poolEntry

	handshakes atomic.Int64
}

type poolEntry struct {
	ready  chan struct{}
	client *ssh.Client
	err    error
	jump   bool // used as a jump host: kept until Close
}

// NewPool returns an empty pool.
func NewPool(cfg Config) *Pool {
	return &Pool{cfg: cfg, keys: newKeyring(cfg), hks: newHostKeys(), conns: map[string]*poolEntry{}}
}

// Handshakes reports how many SSH handshakes the pool has completed.
func (p *Pool) Handshakes() int64 { return p.handshakes.Load() }

func chainKey(t *Target) string {
	var b strings.Builder
	for _, j := range t.Jump {
		b.WriteString(j.User + "@" + j.Addr() + ">")
	}
	b.WriteString(t.User + "@" + t.Addr())
	return b.String()
}

// Client returns the connection to t, dialing it (and its jump hosts) on
// first use. Concurrent callers for the same target share one dial.
func (p *Pool) Client(ctx context.Context, t *Target) (*ssh.Client, error) {
	var via *ssh.Client
	for i, j := range t.Jump {
		hop := *j
		hop.Jump = t.Jump[:i]
		c, err := p.get(ctx, &hop, via, true)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return nil, &Error{Stage: e.Stage, Err: fmt.Errorf("jump host %s: %w", j.Name, e.Err)}
			}
			return nil, fmt.Errorf("jump host %s: %w", j.Name, err)
		}
		via = c
	}
	return p.get(ctx, t, via, false)
}

func (p *Pool) get(ctx context.Context, t *Target, via *ssh.Client, jump bool) (*ssh.Client, error) {
	key := chainKey(t)
	p.mu.Lock()
	e, ok := p.conns[key]
	if ok && jump {
		e.jump = true
	}
	if !ok {
		e = &poolEntry{ready: make(chan struct{}), jump: jump}
		p.conns[key] = e
		p.mu.Unlock()
		e.client, e.err = p.dial(ctx, t, via)
		if e.err != nil {
			// Do not cache failures: a later caller (or a host whose
			// context outlives this one) may try again.
			p.mu.Lock()
			delete(p.conns, key)
			p.mu.Unlock()
		}
		close(e.ready)
		return e.client, e.err
	}
	p.mu.Unlock()
	select {
	case <-e.ready:
		return e.client, e.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// Release closes the connection to t, unless it also serves as a jump host
// (jump connections are shared and live until Close). Execute calls it when
// a host is done, so a large run does not keep every connection open.
func (p *Pool) Release(t *Target) {
	key := chainKey(t)
	p.mu.Lock()
	e, ok := p.conns[key]
	if ok && e.jump {
		ok = false
	}
	if ok {
		delete(p.conns, key)
	}
	p.mu.Unlock()
	if ok {
		<-e.ready
		if e.client != nil {
			e.client.Close()
			lostPeers.Delete(e.client)
		}
	}
}

// Close closes every connection in the pool.
func (p *Pool) Close() error {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[string]*poolEntry{}
	p.mu.Unlock()
	for _, e := range conns {
		<-e.ready
		if e.client != nil {
			e.client.Close()
		}
	}
	return nil
}

func (p *Pool) dial(ctx context.Context, t *Target, via *ssh.Client) (*ssh.Client, error) {
	signers, notes := p.keys.signers(t)
	cfg := &ssh.ClientConfig{
		Config:            algorithms,
		User:              t.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback:   p.hks.callback(t),
		HostKeyAlgorithms: p.hks.algorithms(t),
		Timeout:           t.ConnectTimeout,
	}
	dctx, cancel := context.WithTimeout(ctx, t.ConnectTimeout)
	defer cancel()
	addr := t.Addr()
	var (
		conn net.Conn
		err  error
	)
	switch {
	case via != nil:
		conn, err = via.DialContext(dctx, "tcp", addr)
	case t.ProxyCommand != "":
		conn, err = startProxy(p.cfg.Shell, t.ProxyCommand)
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
		return nil, &Error{Stage: output.StageConnect, Err: dialError(addr, err, t.ConnectTimeout)}
	}

	// x/crypto/ssh has no contexts: close the connection to abandon the
	// handshake on timeout or cancellation.
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
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
		return nil, handshakeError(t, err, len(signers), notes)
	}
	p.handshakes.Add(1)
	client := ssh.NewClient(c, chans, reqs)
	if t.KeepAlive > 0 {
		go keepAlive(client, t.KeepAlive, t.KeepAliveMax)
	}
	return client, nil
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

// lostPeers holds, per client that keepAlive gave up on, the
// *KeepAliveError saying so: Run reports it instead of a bare "connection
// lost". Release drops it.
var lostPeers sync.Map

// KeepAliveError is why a connection was closed: the server stopped
// answering keepalives (ServerAliveInterval, ServerAliveCountMax).
type KeepAliveError struct {
	Missed   int
	Interval time.Duration
}

func (e *KeepAliveError) Error() string {
	return fmt.Sprintf("connection lost: no answer to %d keepalives sent %s apart (ServerAliveInterval, ServerAliveCountMax)", e.Missed, e.Interval)
}

// keepAlive probes the server every interval and closes the connection
// after max unanswered probes, so a dead peer fails the host instead of
// hanging it.
func keepAlive(c *ssh.Client, interval time.Duration, max int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	missed := 0
	reply := make(chan error, 1)
	closed := make(chan struct{})
	go func() { c.Wait(); close(closed) }()
	for {
		select {
		case <-closed:
			return
		case <-t.C:
		}
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			select {
			case reply <- err:
			default:
			}
		}()
		select {
		case err := <-reply:
			if err != nil {
				return
			}
			missed = 0
		case <-time.After(interval):
			missed++
			if missed >= max {
				lostPeers.Store(c, &KeepAliveError{Missed: missed, Interval: interval})
				c.Close()
				return
			}
		case <-closed:
			return
		}
	}
}
