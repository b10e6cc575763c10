package runner

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testServer is an in-process SSH server on 127.0.0.1 that accepts the
// password pw (by password or keyboard-interactive, as methods says) and
// counts the attempts of each method.
type testServer struct {
	addr     string
	key      ssh.PublicKey
	attempts map[string]int
	drain    func() // collects the attempts made so far into attempts
}

func startTestServer(t *testing.T, pw string, methods ...string) *testServer {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	s := &testServer{key: signer.PublicKey(), attempts: map[string]int{}}
	attempts := make(chan string, 100)
	cfg := &ssh.ServerConfig{}
	for _, m := range methods {
		switch m {
		case "password":
			cfg.PasswordCallback = func(_ ssh.ConnMetadata, got []byte) (*ssh.Permissions, error) {
				attempts <- "password"
				if string(got) == pw {
					return nil, nil
				}
				return nil, errors.New("wrong")
			}
		case "keyboard-interactive":
			cfg.KeyboardInteractiveCallback = func(_ ssh.ConnMetadata, ch ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
				attempts <- "keyboard-interactive"
				ans, err := ch("", "", []string{"Password: "}, []bool{false})
				if err == nil && len(ans) == 1 && ans[0] == pw {
					return nil, nil
				}
				return nil, errors.New("wrong")
			}
		}
	}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.addr = ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					c.Close()
					return
				}
				go ssh.DiscardRequests(reqs)
				for ch := range chans {
					ch.Reject(ssh.Prohibited, "no sessions here")
				}
				conn.Close()
			}()
		}
	}()
	s.drain = func() {
		for {
			select {
			case m := <-attempts:
				s.attempts[m]++
			case <-time.After(50 * time.Millisecond):
				return
			}
		}
	}
	return s
}

func (s *testServer) target(t *testing.T) *Target {
	host, port, _ := net.SplitHostPort(s.addr)
	return &Target{Name: "pwhost", HostName: host, Port: port, User: "u", HostKeys: Off, ConnectTimeout: 5 * time.Second, KeepAlive: -1}
}

// TestPasswordAskedOncePerHost: whatever methods the server offers and
// however the answer fares, the person is asked once per login; without
// an Asker nothing but keys is tried.
func TestPasswordAskedOncePerHost(t *testing.T) {
	const pw = "s3cret"
	tests := []struct {
		name    string
		methods []string
		answer  string
		ok      bool
	}{
		{"password", []string{"password"}, pw, true},
		{"keyboard-interactive", []string{"keyboard-interactive"}, pw, true},
		{"both, right", []string{"password", "keyboard-interactive"}, pw, true},
		{"both, wrong", []string{"password", "keyboard-interactive"}, "nope", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startTestServer(t, pw, tt.methods...)
			asked := 0
			var prompts []string
			p := NewPool(Config{Home: t.TempDir(), Ask: func(prompt string, echo bool) ([]byte, error) {
				asked++
				prompts = append(prompts, prompt)
				if echo {
					t.Errorf("a password asked with echo on: %q", prompt)
				}
				return []byte(tt.answer), nil
			}})
			defer p.Close()
			l, err := p.Acquire(context.Background(), srv.target(t))
			if tt.ok != (err == nil) {
				t.Fatalf("Acquire: %v", err)
			}
			if l != nil {
				l.Release()
			}
			if asked != 1 {
				t.Errorf("asked %d times (%q), want once", asked, prompts)
			}
			if !tt.ok && (Stage(err) != "auth" || !strings.Contains(err.Error(), "the password typed was refused")) {
				t.Errorf("err = %v (stage %s)", err, Stage(err))
			}
			srv.drain()
			if n := srv.attempts["password"] + srv.attempts["keyboard-interactive"]; n < 1 || n > len(tt.methods) {
				t.Errorf("server saw %v", srv.attempts)
			}
		})
	}

	t.Run("no asker", func(t *testing.T) {
		srv := startTestServer(t, pw, "password")
		p := NewPool(Config{Home: t.TempDir()})
		defer p.Close()
		_, err := p.Acquire(context.Background(), srv.target(t))
		srv.drain()
		if err == nil || Stage(err) != "auth" || srv.attempts["password"] != 0 {
			t.Errorf("err = %v, attempts %v", err, srv.attempts)
		}
	})
	t.Run("no terminal", func(t *testing.T) {
		srv := startTestServer(t, pw, "password")
		p := NewPool(Config{Home: t.TempDir(), Ask: func(string, bool) ([]byte, error) {
			return nil, errors.New("no terminal: open /dev/tty: no such device or address")
		}})
		defer p.Close()
		_, err := p.Acquire(context.Background(), srv.target(t))
		if err == nil || Stage(err) != "auth" || !strings.Contains(err.Error(), "could not ask for a password: no terminal") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestReadVersion(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", ""},
		{"hello there\r\nSSH-2.0-x\r\n", "SSH-2.0-x", ""},
		{"SSH-2.0-\x1b[31mred\r\n", `SSH-2.0-\x1b[31mred`, ""},
		{"HTTP/1.1 400 Bad Request\r\n\r\n", "", "not an SSH server: the connection ended"},
		{"\x00\x01\x02\n", "", "not an SSH server: it sent"},
		{"", "", "the connection ended before the SSH version line"},
		{strings.Repeat("x", 300), "", "not an SSH server: it sent"},
	}
	for _, tt := range tests {
		got, err := readVersion(strings.NewReader(tt.in))
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("readVersion(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestDialErrorNamesWhy(t *testing.T) {
	for errno, want := range map[syscall.Errno]string{
		syscall.ECONNREFUSED: "connection refused",
		syscall.EHOSTUNREACH: "no route to host",
		syscall.ENETUNREACH:  "network is unreachable",
	} {
		err := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", errno)}
		if got := dialError("10.0.0.1:22", err, time.Second).Error(); got != "dial tcp 10.0.0.1:22: "+want {
			t.Errorf("%v: %q", errno, got)
		}
	}
}

// TestKeepIdle: a pool that keeps idle connections serves the next lease
// on the same connection (no new login), and dials again once the kept
// connection has ended.
func TestKeepIdle(t *testing.T) {
	srv := startTestServer(t, "pw", "password")
	p := NewPool(Config{Home: t.TempDir(), Ask: func(string, bool) ([]byte, error) { return []byte("pw"), nil }})
	defer p.Close()
	p.KeepIdle()
	tgt := srv.target(t)
	l1, err := p.Acquire(context.Background(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	c1 := l1.Client
	l1.Release()
	l2, err := p.Acquire(context.Background(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	if l2.Client != c1 || p.Handshakes() != 1 {
		t.Errorf("a second lease made a new connection (%d handshakes)", p.Handshakes())
	}
	l2.Release()
	c1.Close() // the connection ends while kept
	c1.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l3, err := p.Acquire(context.Background(), tgt)
		if err != nil {
			t.Fatal(err)
		}
		l3.Release()
		if l3.Client != c1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ended connection is still handed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Handshakes() != 2 {
		t.Errorf("%d handshakes, want 2", p.Handshakes())
	}
}
