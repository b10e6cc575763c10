package mux

import (
	"context"
	"time"

	"golang.org/x/crypto/ssh"
)

// spare is a session channel the keeper opened on a kept connection before
// anyone asked for it: the next session dt opens there takes it, and costs
// no round trip to open (a warm session then costs one round trip, its
// command, instead of two). It holds one slot of the connection's gate.
//
// A spare is taken only while fresh (spareFresh): its open proved the
// connection alive that recently. An older one is dropped and the session
// opens a channel of its own, whose open is then the proof (a network cut
// since is found by the open's timeout, and dt asks for a new connection
// without a failure line). Back-to-back runs, such as a deploy hook's
// commands or a loop, get the spare.
type spare struct {
	ch     ssh.Channel
	reqs   <-chan *ssh.Request // the channel's requests, for the taker
	taken  chan struct{}       // closed by the session that takes it (under server.mu)
	opened time.Time
}

// spareFresh is how long a spare stays usable after its open.
const spareFresh = 2 * time.Second

// openSpare opens a spare session on k when k has none, no session open
// and a free slot in its gate (a spare never makes a session wait).
func (s *server) openSpare(k *kept, timeout time.Duration) {
	s.mu.Lock()
	ok := k.usable() && k.spare == nil && !k.sparing && k.sessions == 0
	if ok {
		k.sparing = true
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	if !k.gate.TryAcquire() {
		s.mu.Lock()
		k.sparing = false
		s.mu.Unlock()
		return
	}
	go func() {
		ch, reqs, err := s.openUpstream(context.Background(), k, timeout, "session", nil)
		s.mu.Lock()
		k.sparing = false
		if err != nil || !k.usable() || k.spare != nil {
			s.mu.Unlock()
			if ch != nil {
				ch.Close()
			}
			k.gate.Release()
			return
		}
		out := make(chan *ssh.Request)
		sp := &spare{ch: ch, reqs: out, taken: make(chan struct{}), opened: time.Now()}
		k.spare = sp
		s.mu.Unlock()
		go s.pumpSpare(k, sp, reqs, out)
	}()
}

// pumpSpare hands the requests of sp's channel, in order, to the session
// that takes it (as sp.reqs). A spare that the server closes, or on which
// anything arrives, before a session takes it is no spare: it is dropped.
func (s *server) pumpSpare(k *kept, sp *spare, reqs <-chan *ssh.Request, out chan<- *ssh.Request) {
	defer close(out)
	drop := func() { s.dropSpare(k, sp) }
	for {
		select {
		case <-sp.taken:
			for r := range reqs {
				out <- r
			}
			return
		case r, ok := <-reqs:
			select {
			case <-sp.taken:
				if ok {
					out <- r
					continue
				}
				return
			default:
			}
			s.logf("%s: spare session dropped (closed: %v, request: %v)", k.name, !ok, r)
			drop()
			if !ok {
				return
			}
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}
}

// dropSpare closes sp unless a session took it.
func (s *server) dropSpare(k *kept, sp *spare) {
	s.mu.Lock()
	mine := k.spare == sp
	if mine {
		k.spare = nil
	}
	s.mu.Unlock()
	if mine {
		sp.ch.Close()
		k.gate.Release()
	}
}
