package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
)

// A Connector makes the connections of the hosts that persist
// (Target.Persist > 0) instead of the pool dialing them itself: the
// connection keeper (package runner/mux) implements it, and keeps them
// across runs.
//
// The connector never holds a key: it asks the hops to check host keys
// and to sign, and dt keeps its keyring, agent and known_hosts.
type Connector interface {
	// Connect returns a client for the connection to t with connection
	// key key: one the connector keeps, checked again against hops'
	// known_hosts, or a new one it dials now. hops are t.Jump in order,
	// then t. A failure at one hop is a *HopError; when the connector
	// cannot be used at all the error wraps ErrConnectorUnavailable and
	// the pool dials itself.
	Connect(ctx context.Context, key string, t *Target, hops []*Hop) (*ssh.Client, error)
}

// ErrConnectorUnavailable wraps why a Connector could not be used (no
// keeper, an unsafe socket directory); the pool then dials directly.
var ErrConnectorUnavailable = errors.New("connection keeper unavailable")

// Hop is one hop of a connection made by a Connector: where it goes, and
// how dt checks its host key and logs in to it.
type Hop struct {
	// Target is the hop; its Jump holds the hops before it.
	Target *Target
	// Key is the connection key of the chain up to and including this hop.
	Key string
	// HostKeyAlgorithms are the host key types known_hosts has for it.
	HostKeyAlgorithms []string

	p *Pool

	once    sync.Once
	loaded  atomic.Bool // Signers ran
	signers []ssh.Signer
	notes   []string

	mu         sync.Mutex
	hostKeyErr error // the last host key refusal, for the failure's message
}

func (p *Pool) newHop(t *Target) *Hop {
	return &Hop{Target: t, Key: p.connKey(t), HostKeyAlgorithms: p.hks.algorithms(t), p: p}
}

// Signers returns the keys to offer the hop, agent keys first, loading
// key files on first use (an encrypted one asks its passphrase then).
func (h *Hop) Signers() []ssh.Signer {
	h.once.Do(func() {
		h.signers, h.notes = h.p.keys.signers(h.Target)
		h.loaded.Store(true)
	})
	return h.signers
}

// CheckHostKey checks key, offered by the hop, against known_hosts under
// the hop's policy, exactly as for a connection dt makes itself (accept-new
// records it; a changed key is refused).
func (h *Hop) CheckHostKey(key ssh.PublicKey) error {
	addr := h.Target.Addr()
	err := h.p.hks.callback(h.Target)(addr, fakeAddr(addr), key)
	if err != nil {
		h.mu.Lock()
		h.hostKeyErr = err
		h.mu.Unlock()
	}
	return err
}

// HopError is a Connector's failure at one hop of a connection.
type HopError struct {
	// Hop indexes the hops given to Connect.
	Hop int
	// Handshake says the SSH handshake failed (the server, the host key
	// check or authentication refused); Err is then the handshake's error
	// as x/crypto/ssh gave it. Otherwise Err is an *Error with its stage.
	Handshake bool
	Err       error
}

func (e *HopError) Error() string { return fmt.Sprintf("hop %d: %v", e.Hop, e.Err) }
func (e *HopError) Unwrap() error { return e.Err }

// connect makes t's connection through the Connector.
func (p *Pool) connect(ctx context.Context, t *Target, key string) (*ssh.Client, error) {
	hops := make([]*Hop, 0, len(t.Jump)+1)
	for i, j := range t.Jump {
		hop := *j
		hop.Jump = t.Jump[:i]
		hops = append(hops, p.newHop(&hop))
	}
	hops = append(hops, p.newHop(t))
	c, err := p.cfg.Connector.Connect(ctx, key, t, hops)
	if err != nil {
		return nil, connectError(t, hops, err)
	}
	registerGate(c)
	if t.KeepAlive > 0 {
		go keepAlive(c, t.KeepAlive, t.KeepAliveMax)
	}
	return c, nil
}

// connectError names a Connector's failure as the pool names its own: the
// stage, the host key or auth message, "jump host NAME:" for a jump hop.
func connectError(t *Target, hops []*Hop, err error) error {
	var he *HopError
	if !errors.As(err, &he) || he.Hop < 0 || he.Hop >= len(hops) {
		return err
	}
	h := hops[he.Hop]
	err = he.Err
	if he.Handshake {
		h.mu.Lock()
		hkErr := h.hostKeyErr
		h.mu.Unlock()
		var hk *HostKeyError
		if errors.As(hkErr, &hk) {
			err = &Error{Stage: output.StageHostKey, Err: hk}
		} else {
			// The keys, if the connector asked for them (never load them
			// here: that could ask a passphrase for nothing).
			var signers []ssh.Signer
			var notes []string
			if h.loaded.Load() {
				signers, notes = h.signers, h.notes
			}
			err = handshakeError(h.Target, he.Err, len(signers), notes)
		}
	}
	if he.Hop == len(hops)-1 {
		return err
	}
	var se *Error
	if errors.As(err, &se) {
		return &Error{Stage: se.Stage, Err: fmt.Errorf("jump host %s: %w", h.Target.Name, se.Err)}
	}
	return fmt.Errorf("jump host %s: %w", h.Target.Name, err)
}

// FakeAddr is a net.Addr naming a host:port that was not dialed directly
// (a hop reached through a connection keeper or a jump host).
type FakeAddr = fakeAddr

var _ net.Addr = fakeAddr("")
