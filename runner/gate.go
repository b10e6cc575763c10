package runner

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultMaxSessions is OpenSSH's MaxSessions default: the sessions a
// connection may have open at once until its server says it allows fewer.
const DefaultMaxSessions = 10

// SessionGate bounds the sessions open at once on one connection to what
// its server allows. sshd refuses a session beyond its MaxSessions (see
// SessionRefused): the gate then learns the limit (the sessions open when
// it was refused) and the opener waits for one of them to end, instead of
// failing its host.
type SessionGate struct {
	mu    sync.Mutex
	limit int
	open  int
	freed chan struct{} // closed and replaced whenever a slot frees
}

// NewSessionGate returns a gate allowing DefaultMaxSessions at once.
func NewSessionGate() *SessionGate {
	return &SessionGate{limit: DefaultMaxSessions, freed: make(chan struct{})}
}

// refusedRetries bounds how often a session refused while no other
// session of ours was open is tried again (the server may still be closing
// one we let go of), and refusedBackoff is the first wait between tries.
const (
	refusedRetries = 4
	refusedBackoff = 50 * time.Millisecond
)

// Open calls open, which opens one session, once a slot is free. When the
// server refuses the session as administratively prohibited it waits for
// another session to end and tries again. After a nil return the slot is
// held until Release; after an error it is not.
func (g *SessionGate) Open(ctx context.Context, open func() error) error {
	retries := 0
	for {
		if err := g.acquire(ctx); err != nil {
			return err
		}
		err := open()
		if err == nil {
			return nil
		}
		if !SessionRefused(err) {
			g.Release()
			return err
		}
		if g.refused() {
			continue
		}
		if retries == refusedRetries {
			return err
		}
		select {
		case <-time.After(refusedBackoff << retries):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		retries++
	}
}

// SessionRefused reports whether err is a server's refusal of one more
// session on a connection: OpenSSH's sshd answers a session beyond
// MaxSessions with "open failed" and the reason "connect failed" (its
// default reason for any channel it cannot open); other servers say
// "administratively prohibited".
func SessionRefused(err error) bool {
	var oe *ssh.OpenChannelError
	if !errors.As(err, &oe) {
		return false
	}
	return oe.Reason == ssh.Prohibited || oe.Reason == ssh.ConnectionFailed && oe.Message == "open failed"
}

func (g *SessionGate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.open < g.limit {
			g.open++
			g.mu.Unlock()
			return nil
		}
		freed := g.freed
		g.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Release frees the slot of a session that has ended.
func (g *SessionGate) Release() {
	g.mu.Lock()
	g.open--
	close(g.freed)
	g.freed = make(chan struct{})
	g.mu.Unlock()
}

// refused frees the slot of a session the server refused and lowers the
// limit to the sessions still open. It reports whether any are: when none
// is, waiting for one to end cannot help.
func (g *SessionGate) refused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open--
	if g.open == 0 {
		return false
	}
	g.limit = min(g.limit, g.open)
	return true
}

// gates holds the SessionGate of every connection the pool made.
var gates sync.Map

func registerGate(c *ssh.Client) { gates.Store(c, NewSessionGate()) }

// gateOf returns c's gate (a new one for a client the pool did not make).
func gateOf(c *ssh.Client) *SessionGate {
	if g, ok := gates.Load(c); ok {
		return g.(*SessionGate)
	}
	g, _ := gates.LoadOrStore(c, NewSessionGate())
	return g.(*SessionGate)
}
