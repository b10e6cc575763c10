package mux

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/runner"
)

// vconn is an ssh.Conn over the keeper: a kept connection as dt sees it.
// Channels opened on it are channels to the keeper that it splices onto
// the kept connection; runner's keepalives become questions to the keeper
// about it. ssh.NewClient makes an *ssh.Client of it, so sessions, signals
// and exit statuses work as over a connection of dt's own.
type vconn struct {
	c    *Client
	kc   ssh.Conn // to the keeper
	t    *runner.Target
	hops []*runner.Hop

	newChans chan ssh.NewChannel // never sent on; closed by Close
	reqs     chan *ssh.Request   // never sent on; closed by Close

	dialMu sync.Mutex // one redial at a time

	mu            sync.Mutex
	lease         uint64
	sessionID     []byte
	serverVersion []byte
	clientVersion []byte
	used          bool // a channel opened on this lease
	chans         map[*vchannel]struct{}
	closed        chan struct{}
	closeOnce     sync.Once
}

var _ ssh.Conn = (*vconn)(nil)

func newVConn(c *Client, kc ssh.Conn, t *runner.Target, hops []*runner.Hop) *vconn {
	return &vconn{
		c: c, kc: kc, t: t, hops: hops,
		newChans: make(chan ssh.NewChannel),
		reqs:     make(chan *ssh.Request),
		chans:    map[*vchannel]struct{}{},
		closed:   make(chan struct{}),
	}
}

// dial asks the keeper for the connection and takes its lease.
func (v *vconn) dial(ctx context.Context) error {
	q, err := dialConversation(ctx, v.c, v.kc, v.t, v.hops)
	if err != nil {
		return err
	}
	v.mu.Lock()
	old := v.lease
	v.lease, v.used = q.Lease, false
	v.sessionID = q.SessionID
	v.serverVersion, v.clientVersion = []byte(q.ServerVersion), []byte(q.ClientVersion)
	v.mu.Unlock()
	if old != 0 {
		v.release(old)
	}
	return nil
}

func (v *vconn) release(lease uint64) {
	v.kc.SendRequest(reqRelease, false, ssh.Marshal(leaseMsg{Lease: lease}))
}

func (v *vconn) User() string          { return v.t.User }
func (v *vconn) SessionID() []byte     { v.mu.Lock(); defer v.mu.Unlock(); return v.sessionID }
func (v *vconn) ClientVersion() []byte { v.mu.Lock(); defer v.mu.Unlock(); return v.clientVersion }
func (v *vconn) ServerVersion() []byte { v.mu.Lock(); defer v.mu.Unlock(); return v.serverVersion }
func (v *vconn) RemoteAddr() net.Addr  { return runner.FakeAddr(v.t.Addr()) }
func (v *vconn) LocalAddr() net.Addr   { return v.kc.LocalAddr() }

// redialWait bounds a new dial after the kept connection turned out dead.
const redialWait = time.Minute

// OpenChannel opens a channel on the kept connection. When the keeper
// says the connection died while it was kept and nothing has used this
// lease yet, dt asks for a new connection (the keeper dials one) and tries
// again, so the host gets no failure line for it.
func (v *vconn) OpenChannel(name string, data []byte) (ssh.Channel, <-chan *ssh.Request, error) {
	for attempt := 0; ; attempt++ {
		select {
		case <-v.closed:
			return nil, nil, net.ErrClosed
		default:
		}
		v.mu.Lock()
		lease, used := v.lease, v.used
		v.mu.Unlock()
		ch, reqs, err := v.kc.OpenChannel(chanOpen, ssh.Marshal(openMsg{Lease: lease, Type: name, Data: data}))
		var oe *ssh.OpenChannelError
		if errors.As(err, &oe) && oe.Reason == ssh.ConnectionFailed && strings.HasPrefix(oe.Message, lostPrefix) && !used && attempt == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), redialWait)
			derr := v.redial(ctx, lease)
			cancel()
			if derr != nil {
				return nil, nil, derr
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		vc := &vchannel{Channel: ch, v: v}
		v.mu.Lock()
		v.used = true
		v.chans[vc] = struct{}{}
		v.mu.Unlock()
		return vc, reqs, nil
	}
}

// redial replaces the lease lease, whose connection died, with a new one;
// concurrent callers share one redial.
func (v *vconn) redial(ctx context.Context, lease uint64) error {
	v.dialMu.Lock()
	defer v.dialMu.Unlock()
	v.mu.Lock()
	current := v.lease
	v.mu.Unlock()
	if current != lease {
		return nil // another opener redialed already
	}
	return v.dial(ctx)
}

// SendRequest answers the keepalives of runner: the keeper keeps the
// connection alive and says whether it still is. Other global requests are
// not forwarded.
func (v *vconn) SendRequest(name string, wantReply bool, payload []byte) (bool, []byte, error) {
	if name != "keepalive@openssh.com" {
		return false, nil, errors.New("global requests are not forwarded by the connection keeper")
	}
	v.mu.Lock()
	lease := v.lease
	v.mu.Unlock()
	ok, reply, err := v.kc.SendRequest(reqAlive, true, ssh.Marshal(leaseMsg{Lease: lease}))
	if err != nil {
		return false, nil, err
	}
	var m aliveMsg
	if !ok || ssh.Unmarshal(reply, &m) != nil {
		return false, nil, errors.New("connection keeper: no answer about the connection")
	}
	if !m.Alive {
		if m.Missed > 0 {
			return false, nil, &runner.KeepAliveError{Missed: int(m.Missed), Interval: time.Duration(m.Interval)}
		}
		return false, nil, errors.New(m.Why)
	}
	return false, nil, nil
}

// Close gives the lease back and closes the channels opened on it.
func (v *vconn) Close() error {
	v.closeOnce.Do(func() {
		close(v.closed)
		close(v.newChans)
		close(v.reqs)
		v.mu.Lock()
		lease := v.lease
		chans := v.chans
		v.chans = map[*vchannel]struct{}{}
		v.mu.Unlock()
		for ch := range chans {
			ch.Channel.Close()
		}
		v.release(lease)
	})
	return nil
}

// Wait waits until Close.
func (v *vconn) Wait() error {
	<-v.closed
	return nil
}

// vchannel is a channel of a vconn, forgotten by it once closed.
type vchannel struct {
	ssh.Channel
	v *vconn
}

func (c *vchannel) Close() error {
	c.v.mu.Lock()
	delete(c.v.chans, c)
	c.v.mu.Unlock()
	return c.Channel.Close()
}
