package mux

import (
	"context"
	"errors"
	"net"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// hopErr is a dial's failure at hop.
type hopErr struct {
	hop int
	err error
}

func (e *hopErr) Error() string { return e.err.Error() }
func (e *hopErr) Unwrap() error { return e.err }

// dialWaitDefault bounds the wait for another dial of the same key when
// the hop has no connect timeout.
const dialWaitDefault = 10 * time.Second

// errClosing: the keeper is stopping.
var errClosing = errors.New("the connection keeper is stopping")

// connect returns the connection through req's hops, pinned: each hop
// kept and trusted again, or dialed. reused says the last hop was kept.
func (s *server) connect(ctx context.Context, cv *conv, req dialRequest) (k *kept, reused bool, err error) {
	var via *kept
	for i, h := range req.Hops {
		env := req.Environ
		if i > 0 {
			env = nil
		}
		k, reused, err = s.hop(ctx, cv, i, h, via, env)
		if via != nil {
			s.unpin(via)
		}
		if err != nil {
			return nil, false, &hopErr{hop: i, err: err}
		}
		if i < len(req.Hops)-1 {
			s.mu.Lock()
			k.jump = true
			s.mu.Unlock()
		}
		via = k
	}
	return k, reused, nil
}

func (s *server) unpin(k *kept) {
	s.mu.Lock()
	k.pins--
	k.lastUsed = time.Now()
	s.mu.Unlock()
}

// hop returns the connection for h, pinned: the one kept for its key once
// dt has checked its host key again (a kept connection dt no longer trusts
// is retired and replaced), else a new one. Dials of one key are not run
// twice at once: a second caller waits for the first, then takes its
// connection (checking it too) or, when that dial failed, dials itself.
// It waits at most its connect timeout: the first dial may be waiting on
// its dt's terminal (a passphrase nobody types), and another dt's run
// must not wait with it.
func (s *server) hop(ctx context.Context, cv *conv, i int, h hopSpec, via *kept, env []string) (*kept, bool, error) {
	waited := false
	for {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return nil, false, errClosing
		}
		if k := s.kept[h.Key]; k != nil && k.usable() {
			k.pins++
			s.mu.Unlock()
			err := cv.checkHostKey(i, k.hostKey)
			if err == nil {
				return k, true, nil
			}
			var no *refusal
			s.mu.Lock()
			k.pins--
			if errors.As(err, &no) {
				k.retired = true
				if s.kept[h.Key] == k {
					delete(s.kept, h.Key)
				}
			}
			s.mu.Unlock()
			if !errors.As(err, &no) {
				return nil, false, err
			}
			s.logf("%s (%s): kept host key no longer trusted, dialing anew: %v", h.Name, h.Dest, err)
			continue
		}
		if wait, ok := s.dialing[h.Key]; ok && !waited {
			s.mu.Unlock()
			limit := h.ConnectTimeout
			if limit <= 0 {
				limit = dialWaitDefault
			}
			timer := time.NewTimer(limit)
			select {
			case <-wait:
				timer.Stop()
			case <-timer.C:
				waited = true
				s.logf("%s (%s): another dial still runs after %s, dialing alongside", h.Name, h.Dest, limit)
			case <-ctx.Done():
				timer.Stop()
				return nil, false, ctx.Err()
			}
			continue
		}
		done := make(chan struct{})
		if _, ok := s.dialing[h.Key]; !ok {
			s.dialing[h.Key] = done
		}
		s.mu.Unlock()

		k, err := s.dialHop(ctx, cv, i, h, via, env)

		s.mu.Lock()
		if s.dialing[h.Key] == done {
			delete(s.dialing, h.Key)
		}
		close(done)
		if err == nil {
			if old := s.kept[h.Key]; old != nil {
				old.retired = true
			}
			s.kept[h.Key] = k
			s.all[k] = true
			k.pins = 1
			if via != nil {
				k.parent = via
				via.children++
			}
		}
		s.mu.Unlock()
		if err != nil {
			return nil, false, err
		}
		go s.watch(k)
		s.logf("dialed %s (%s)", h.Name, h.Dest)
		return k, false, nil
	}
}

// dialHop dials h, through via when set, with dt checking the host key and
// signing the login.
func (s *server) dialHop(ctx context.Context, cv *conv, i int, h hopSpec, via *kept, env []string) (*kept, error) {
	// The keys first: dt may ask a passphrase, which must not count
	// against the connect timeout.
	signers, err := cv.signers(i)
	if err != nil {
		return nil, err
	}
	var hostKey ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              h.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyAlgorithms: h.HostKeyAlgorithms,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if err := cv.checkHostKey(i, key); err != nil {
				return err
			}
			hostKey = key
			return nil
		},
	}
	t := &runner.Target{Name: h.Name, HostName: h.HostName, Port: h.Port, User: h.User, ProxyCommand: h.ProxyCommand, ConnectTimeout: h.ConnectTimeout}
	var vc *ssh.Client
	if via != nil {
		vc = via.client
	}
	c, err := runner.Dial(ctx, t, vc, cfg, h.Shell, env)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	k := &kept{
		spec: h, client: c, hostKey: hostKey, gate: runner.NewSessionGate(),
		created: now, lastUsed: now, dead: make(chan struct{}),
		name: h.Name, persist: h.Persist,
	}
	if h.KeepAlive > 0 {
		go runner.KeepAlive(c, h.KeepAlive, h.KeepAliveMax)
	}
	return k, nil
}

// failQuery tells dt why its dial failed at hop, in the terms of runner's
// errors.
func failQuery(hop int, err error) query {
	var hf *runner.HandshakeFailure
	var se *runner.Error
	switch {
	case errors.As(err, &hf):
		return query{Op: opFail, Hop: hop, Handshake: true, Msg: hf.Err.Error()}
	case errors.As(err, &se):
		return query{Op: opFail, Hop: hop, Stage: se.Stage, Msg: se.Err.Error()}
	}
	return query{Op: opFail, Hop: hop, Stage: output.StageConnect, Msg: "connection keeper: " + err.Error()}
}
