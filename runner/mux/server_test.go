package mux

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testServer is a tiny in-process SSH server for the keeper's unit tests
// (the end-to-end tests run real sshd): it logs a client key in, counts
// logins, refuses sessions beyond maxSessions as sshd does, and runs a
// few fake commands.
type testServer struct {
	t           *testing.T
	ln          net.Listener
	hostKey     ssh.Signer
	clientKey   ssh.PublicKey
	maxSessions int

	logins   atomic.Int32
	signals  chan string
	started  chan string // every command, once it runs
	mu       sync.Mutex
	conns    []net.Conn
	open     map[*ssh.ServerConn]int
	maxSeen  int
	refusals int
}

func newSigner(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

func startServer(t *testing.T, clientKey ssh.PublicKey, maxSessions int) *testServer {
	t.Helper()
	hk, _ := newSigner(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ln: ln, hostKey: hk, clientKey: clientKey, maxSessions: maxSessions,
		signals: make(chan string, 16), started: make(chan string, 64), open: map[*ssh.ServerConn]int{}}
	t.Cleanup(func() { s.ln.Close(); s.cut() })
	go s.serve()
	return s
}

func (s *testServer) addr() (host, port string) {
	h, p, _ := net.SplitHostPort(s.ln.Addr().String())
	return h, p
}

// cut closes every connection, as a host reboot would.
func (s *testServer) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *testServer) serve() {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(s.clientKey.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown key")
		},
	}
	cfg.AddHostKey(s.hostKey)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		go func() {
			sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
			if err != nil {
				c.Close()
				return
			}
			s.logins.Add(1)
			go ssh.DiscardRequests(reqs)
			for nc := range chans {
				if nc.ChannelType() != "session" {
					nc.Reject(ssh.UnknownChannelType, "no")
					continue
				}
				s.mu.Lock()
				if s.open[sc] >= s.maxSessions {
					s.refusals++
					s.mu.Unlock()
					nc.Reject(ssh.ConnectionFailed, "open failed") // as OpenSSH's sshd says it
					continue
				}
				s.open[sc]++
				s.maxSeen = max(s.maxSeen, s.open[sc])
				s.mu.Unlock()
				go s.session(sc, nc)
			}
		}()
	}
}

func (s *testServer) session(sc *ssh.ServerConn, nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer func() {
		// sshd frees the session before it closes the channel.
		s.mu.Lock()
		s.open[sc]--
		s.mu.Unlock()
		ch.Close()
	}()
	signal := make(chan string, 1)
	var cmd string
	for r := range reqs {
		switch r.Type {
		case "exec":
			var m struct{ Command string }
			ssh.Unmarshal(r.Payload, &m)
			cmd = m.Command
			r.Reply(true, nil)
		case "signal":
			var m struct{ Signal string }
			ssh.Unmarshal(r.Payload, &m)
			s.signals <- m.Signal
			signal <- m.Signal
			continue
		default:
			r.Reply(false, nil)
			continue
		}
		break
	}
	go func() {
		for r := range reqs {
			if r.Type == "signal" {
				var m struct{ Signal string }
				ssh.Unmarshal(r.Payload, &m)
				s.signals <- m.Signal
				select {
				case signal <- m.Signal:
				default:
				}
			} else if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}()
	select {
	case s.started <- cmd:
	default:
	}
	status := 0
	word, arg, _ := strings.Cut(cmd, " ")
	switch word {
	case "echo":
		io.WriteString(ch, arg+"\n")
	case "fail":
		io.WriteString(ch.Stderr(), "failing\n")
		status, _ = strconv.Atoi(arg)
	case "cat":
		io.Copy(ch, ch)
	case "sleep":
		d, _ := time.ParseDuration(arg)
		time.Sleep(d)
		io.WriteString(ch, "slept\n")
	case "wait":
		sig := <-signal
		ch.CloseWrite()
		ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{Signal: sig}))
		return
	}
	ch.CloseWrite()
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
}

// writeKey writes priv as an unencrypted OpenSSH key file.
func writeKey(t *testing.T, dir string, priv ed25519.PrivateKey) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// knownHostsLine is the known_hosts line for s.
func (s *testServer) knownHostsLine() string {
	h, p := s.addr()
	return knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(h, p))}, s.hostKey.PublicKey()) + "\n"
}
