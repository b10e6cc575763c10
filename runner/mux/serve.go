package mux

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// ServeOptions configure Serve.
type ServeOptions struct {
	// Dir is the socket directory (see Dir).
	Dir string
	// Ready, when set, is told one line once the keeper listens ("ok"),
	// when another keeper already does ("running"), or why it cannot.
	Ready io.Writer
	// Log receives the keeper's log; nil logs nothing.
	Log io.Writer
}

// janitorTick is how often idle connections are looked for, and exitGrace
// how long the keeper stays with nothing to keep and nobody connected.
const (
	janitorTick = 200 * time.Millisecond
	exitGrace   = 2 * time.Second
)

// Serve runs the keeper of o.Dir until it has been idle for exitGrace,
// "dt mux stop" asks it to stop, or ctx ends. It removes its socket when
// it returns.
func Serve(ctx context.Context, o ServeOptions) error {
	say := func(s string) {
		if o.Ready != nil {
			fmt.Fprintln(o.Ready, s)
		}
	}
	if err := prepareDir(o.Dir, true); err != nil {
		say(err.Error())
		return err
	}
	lock, err := lockDir(o.Dir)
	if errors.Is(err, errRunning) {
		say(readyRunning)
		return nil
	}
	if err != nil {
		say(err.Error())
		return err
	}
	defer lock.Close()
	ln, own, err := listen(o.Dir)
	if err != nil {
		say(err.Error())
		return err
	}
	s, err := newServer(o)
	if err != nil {
		ln.Close()
		unlinkOwn(o.Dir, own)
		say(err.Error())
		return err
	}
	s.logf("keeper %d listening on %s", os.Getpid(), Socket(o.Dir))
	say(readyOK)
	return s.run(ctx, ln, own)
}

// server is the keeper.
type server struct {
	dir     string
	uid     int
	log     *log.Logger
	sshCfg  *ssh.ServerConfig
	started time.Time
	stopped chan struct{} // closed when a stop was asked for
	stop    sync.Once

	mu         sync.Mutex
	kept       map[string]*kept // the connection handed out per key
	all        map[*kept]bool   // every open connection, retired ones too
	dialing    map[string]chan struct{}
	peers      map[*peer]bool
	leases     map[uint64]*lease
	nextLease  uint64
	emptySince time.Time
	closing    bool
}

// lease is one dt run's hold on a kept connection.
type lease struct {
	k *kept
	p *peer
	// timeout is the run's connect timeout: a channel open that gets no
	// answer for that long means the connection is dead.
	timeout time.Duration
}

func newServer(o ServeOptions) (*server, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	hostKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{Config: localAlgorithms, NoClientAuth: true, ServerVersion: protoVersion}
	cfg.AddHostKey(hostKey)
	s := &server{
		dir: o.Dir, uid: os.Getuid(), sshCfg: cfg, started: time.Now(),
		stopped: make(chan struct{}),
		kept:    map[string]*kept{}, all: map[*kept]bool{}, dialing: map[string]chan struct{}{},
		peers: map[*peer]bool{}, leases: map[uint64]*lease{}, emptySince: time.Now(),
	}
	if o.Log != nil {
		s.log = log.New(o.Log, fmt.Sprintf("dt-mux[%d] ", os.Getpid()), log.LstdFlags|log.Lmicroseconds)
	}
	return s, nil
}

func (s *server) logf(format string, args ...any) {
	if s.log != nil {
		s.log.Printf(format, args...)
	}
}

// run accepts dt processes and closes idle connections until the keeper
// is done, then closes everything.
func (s *server) run(ctx context.Context, ln *net.UnixListener, own os.FileInfo) error {
	go s.accept(ln)
	tick := time.NewTicker(janitorTick)
	defer tick.Stop()
	why := ""
	for why == "" {
		select {
		case <-ctx.Done():
			why = "signalled"
		case <-s.stopped:
			why = "asked to stop"
		case <-tick.C:
			if s.janitor() {
				why = "idle"
			}
		}
	}
	// No new client from here: the next dt starts a new keeper.
	ln.Close()
	unlinkOwn(s.dir, own)
	n := s.closeAll()
	s.logf("exiting (%s), closed %d connections", why, n)
	return nil
}

func (s *server) accept(ln *net.UnixListener) {
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		go s.servePeer(c)
	}
}

// janitor closes the connections idle for longer than their persist time
// and retired ones nobody uses, and reports whether the keeper has been
// empty (nothing kept, nobody connected) for exitGrace.
func (s *server) janitor() bool {
	now := time.Now()
	var idle []*kept
	s.mu.Lock()
	for k := range s.all {
		if k.busy() {
			continue
		}
		if k.retired || k.lost != nil || now.Sub(k.lastUsed) >= k.persist {
			idle = append(idle, k)
			s.forget(k)
		}
	}
	empty := len(s.all) == 0 && len(s.peers) == 0 && len(s.dialing) == 0
	if !empty {
		s.emptySince = now
	}
	done := empty && now.Sub(s.emptySince) >= exitGrace
	s.mu.Unlock()
	for _, k := range idle {
		s.logf("closing %s (%s): idle for %s", k.name, k.spec.Dest, now.Sub(k.lastUsed).Round(time.Millisecond))
		k.client.Close()
	}
	return done
}

// forget drops k from the tables (under mu); its parent loses a child.
func (s *server) forget(k *kept) {
	if !s.all[k] {
		return
	}
	delete(s.all, k)
	if s.kept[k.spec.Key] == k {
		delete(s.kept, k.spec.Key)
	}
	if p := k.parent; p != nil {
		p.children--
		p.lastUsed = time.Now()
	}
}

// watch forgets k once its connection has ended.
func (s *server) watch(k *kept) {
	k.client.Wait()
	s.mu.Lock()
	if k.lost == nil {
		if why := runLost(k.client); why != nil {
			k.lost = why
		} else {
			k.lost = errors.New("the connection to the host ended")
		}
	}
	s.forget(k)
	s.mu.Unlock()
	close(k.dead)
	s.logf("connection to %s (%s) ended: %v", k.name, k.spec.Dest, k.lost)
}

// lose marks k dead for why and closes it: it is handed out no more, and
// the next dt that asks for its key gets a new connection.
func (s *server) lose(k *kept, why error) {
	s.mu.Lock()
	if k.lost == nil {
		k.lost = why
	}
	if s.kept[k.spec.Key] == k {
		delete(s.kept, k.spec.Key)
	}
	s.mu.Unlock()
	k.client.Close()
}

// requestStop makes run return.
func (s *server) requestStop() { s.stop.Do(func() { close(s.stopped) }) }

// closeAll closes every connection and every dt's link, and returns how
// many connections it closed.
func (s *server) closeAll() int {
	s.mu.Lock()
	s.closing = true
	var conns []*kept
	for k := range s.all {
		conns = append(conns, k)
	}
	var peers []*peer
	for p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	for _, k := range conns {
		k.client.Close()
	}
	for _, p := range peers {
		p.conn.Close()
	}
	return len(conns)
}

// status is what the keeper keeps now.
func (s *server) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{PID: os.Getpid(), Socket: Socket(s.dir), Started: s.started, Clients: len(s.peers)}
	for k := range s.all {
		st.Conns = append(st.Conns, k.status())
	}
	return st
}
