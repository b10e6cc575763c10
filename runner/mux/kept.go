package mux

import (
	"errors"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/runner"
)

// kept is one connection the keeper holds.
type kept struct {
	spec    hopSpec
	client  *ssh.Client
	hostKey ssh.PublicKey // checked again by every dt that reuses it
	parent  *kept         // the jump host connection it runs over
	gate    *runner.SessionGate
	created time.Time
	dead    chan struct{} // closed once the connection has ended

	// The rest is under server.mu.
	name     string
	persist  time.Duration
	lastUsed time.Time
	leases   int // dt runs holding it
	sessions int // channels open or being opened on it
	children int // kept connections running over it
	pins     int // dials in progress that hold it
	served   int64
	jump     bool
	retired  bool  // never handed out again; closed once idle
	lost     error // why it is known to be dead
}

func (k *kept) busy() bool { return k.leases+k.sessions+k.children+k.pins > 0 }

// usable reports whether k may be handed out (under server.mu).
func (k *kept) usable() bool {
	if k.retired || k.lost != nil {
		return false
	}
	select {
	case <-k.dead:
		return false
	default:
		return true
	}
}

// why says why k is dead, for dt's messages (under server.mu).
func (k *kept) why() error {
	if k.lost != nil {
		return k.lost
	}
	return errors.New("the connection to the host ended")
}

func (k *kept) status() Conn {
	return Conn{
		Name: k.name, Dest: k.spec.Dest, Jump: k.jump,
		Created: k.created, LastUsed: k.lastUsed, Busy: k.busy(),
		Sessions: k.sessions, Served: k.served, Persist: k.persist,
	}
}
