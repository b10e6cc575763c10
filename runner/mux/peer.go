package mux

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/runner"
)

// runLost says why runner.KeepAlive closed c, or nil.
var runLost = runner.Lost

// peer is one dt process connected to the keeper.
type peer struct {
	conn   *ssh.ServerConn
	ctx    context.Context // ends when the dt process goes
	cancel context.CancelFunc
}

// servePeer checks who is calling, then serves its requests and channels
// until it goes; its leases are then given back.
func (s *server) servePeer(c *net.UnixConn) {
	uid, err := peerUID(c)
	if err != nil || uid != s.uid {
		// Only this user's processes: not another user, and not root
		// either, even when it could reach the socket.
		s.logf("refused a connection from uid %d (%v): not uid %d", uid, err, s.uid)
		c.Close()
		return
	}
	c.SetDeadline(time.Now().Add(dialTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(c, s.sshCfg)
	if err != nil {
		s.logf("local handshake: %v", err)
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	p := &peer{conn: conn}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.peers[p] = true
	s.mu.Unlock()

	go s.requests(p, reqs)
	for nc := range chans {
		switch nc.ChannelType() {
		case chanDial:
			go s.dial(p, nc)
		case chanOpen:
			go s.open(p, nc)
		default:
			nc.Reject(ssh.UnknownChannelType, "unknown channel type")
		}
	}
	p.cancel()
	s.mu.Lock()
	delete(s.peers, p)
	for id, l := range s.leases {
		if l.p == p {
			s.dropLease(id, l)
		}
	}
	s.mu.Unlock()
}

// dropLease forgets lease id (under mu).
func (s *server) dropLease(id uint64, l *lease) {
	delete(s.leases, id)
	l.k.leases--
	l.k.lastUsed = time.Now()
}

// leased returns p's lease id, or nil.
func (s *server) leased(p *peer, id uint64) *lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.leases[id]; l != nil && l.p == p {
		return l
	}
	return nil
}

func (s *server) requests(p *peer, reqs <-chan *ssh.Request) {
	for r := range reqs {
		switch r.Type {
		case reqAlive:
			var m leaseMsg
			ssh.Unmarshal(r.Payload, &m)
			r.Reply(true, ssh.Marshal(s.alive(p, m.Lease)))
		case reqRelease:
			var m leaseMsg
			if ssh.Unmarshal(r.Payload, &m) == nil {
				s.mu.Lock()
				if l := s.leases[m.Lease]; l != nil && l.p == p {
					s.dropLease(m.Lease, l)
				}
				s.mu.Unlock()
			}
			if r.WantReply {
				r.Reply(true, nil)
			}
		case reqStatus:
			data, _ := json.Marshal(s.status())
			r.Reply(true, data)
		case reqStop:
			n := s.closeConns()
			r.Reply(true, ssh.Marshal(stopMsg{Closed: uint32(n)}))
			s.requestStop()
		default:
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}
}

// alive says whether the connection of p's lease is alive.
func (s *server) alive(p *peer, id uint64) aliveMsg {
	l := s.leased(p, id)
	if l == nil {
		return aliveMsg{Why: "connection keeper: no such lease"}
	}
	k := l.k
	s.mu.Lock()
	defer s.mu.Unlock()
	if k.lost == nil {
		select {
		case <-k.dead:
		default:
			return aliveMsg{Alive: true}
		}
	}
	why := k.why()
	m := aliveMsg{Why: why.Error()}
	var ke *runner.KeepAliveError
	if errors.As(why, &ke) {
		m.Missed, m.Interval = uint32(ke.Missed), uint64(ke.Interval)
	}
	return m
}

// closeConns closes every kept connection, for "dt mux stop".
func (s *server) closeConns() int {
	s.mu.Lock()
	var conns []*kept
	for k := range s.all {
		conns = append(conns, k)
		k.retired = true
	}
	s.mu.Unlock()
	for _, k := range conns {
		k.client.Close()
	}
	return len(conns)
}

// dial serves a dial channel: the connection asked for, kept or new, and
// a lease on it.
func (s *server) dial(p *peer, nc ssh.NewChannel) {
	var req dialRequest
	if err := json.Unmarshal(nc.ExtraData(), &req); err != nil || len(req.Hops) == 0 {
		nc.Reject(ssh.ConnectionFailed, "malformed dial request")
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	go func() {
		for range reqs {
		}
		cancel() // dt closed the channel: it gave up
	}()
	cv := newConv(ch)
	k, reused, err := s.connect(ctx, cv, req)
	if err != nil {
		var he *hopErr
		hop := len(req.Hops) - 1
		if errors.As(err, &he) {
			hop, err = he.hop, he.err
		}
		s.logf("dial %s: %v", req.Hops[len(req.Hops)-1].Dest, err)
		cv.tell(failQuery(hop, err))
		return
	}
	s.mu.Lock()
	s.nextLease++
	id := s.nextLease
	last := req.Hops[len(req.Hops)-1]
	s.leases[id] = &lease{k: k, p: p, timeout: last.ConnectTimeout}
	k.leases++
	k.pins--
	k.name, k.persist = last.Name, last.Persist
	s.mu.Unlock()
	cv.tell(query{
		Op: opDone, Lease: id, Reused: reused,
		SessionID:     k.client.SessionID(),
		ServerVersion: string(k.client.ServerVersion()),
		ClientVersion: string(k.client.ClientVersion()),
	})
}

// open serves an open channel: a channel of the kept connection, spliced
// onto it.
func (s *server) open(p *peer, nc ssh.NewChannel) {
	var m openMsg
	if err := ssh.Unmarshal(nc.ExtraData(), &m); err != nil {
		nc.Reject(ssh.ConnectionFailed, "malformed open request")
		return
	}
	l := s.leased(p, m.Lease)
	if l == nil {
		nc.Reject(ssh.ConnectionFailed, "connection keeper: no such lease")
		return
	}
	k := l.k
	s.mu.Lock()
	if !k.usable() && (k.lost != nil || isClosed(k.dead)) {
		why := k.why()
		s.mu.Unlock()
		nc.Reject(ssh.ConnectionFailed, lostPrefix+why.Error())
		return
	}
	k.sessions++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		k.sessions--
		k.lastUsed = time.Now()
		s.mu.Unlock()
	}()

	var (
		up     ssh.Channel
		upReqs <-chan *ssh.Request
		err    error
	)
	open := func() (err error) {
		up, upReqs, err = s.openUpstream(p.ctx, k, l.timeout, m.Type, m.Data)
		return err
	}
	gated := m.Type == "session"
	if gated {
		err = k.gate.Open(p.ctx, open)
	} else {
		err = open()
	}
	if err != nil {
		var oe *ssh.OpenChannelError
		s.mu.Lock()
		lost := k.lost
		s.mu.Unlock()
		switch {
		case errors.As(err, &oe):
			nc.Reject(oe.Reason, oe.Message)
		case lost != nil:
			nc.Reject(ssh.ConnectionFailed, lostPrefix+lost.Error())
		default:
			nc.Reject(ssh.ConnectionFailed, err.Error())
		}
		return
	}
	if gated {
		defer k.gate.Release()
	}
	down, downReqs, err := nc.Accept()
	if err != nil {
		up.Close()
		return
	}
	s.mu.Lock()
	k.served++
	s.mu.Unlock()
	splice(down, downReqs, up, upReqs)
}

// openUpstream opens a channel on k. A connection that does not answer
// within timeout (the run's connect timeout) is taken for dead (a network
// cut while it was kept): it is closed, and the opener told so.
func (s *server) openUpstream(ctx context.Context, k *kept, timeout time.Duration, typ string, data []byte) (ssh.Channel, <-chan *ssh.Request, error) {
	ch, reqs, err := openWithin(ctx, k.client, timeout, typ, data)
	var oe *ssh.OpenChannelError
	var na noAnswerError
	switch {
	case errors.As(err, &na):
		s.lose(k, err)
	case err != nil && ctx.Err() == nil && !errors.As(err, &oe):
		s.lose(k, err)
	}
	return ch, reqs, err
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
