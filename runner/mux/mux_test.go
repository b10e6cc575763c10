package mux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// env is one test's keeper, server and client files.
type env struct {
	t      *testing.T
	dir    string // socket directory
	home   string
	key    string // client key file
	known  string // known_hosts
	srv    *testServer
	served chan error
	cancel context.CancelFunc
	log    *syncWriter
}

func newEnv(t *testing.T, maxSessions int) *env {
	t.Helper()
	signer, priv := newSigner(t)
	e := &env{t: t, home: t.TempDir(), served: make(chan error, 1)}
	e.dir = filepath.Join(t.TempDir(), "dt")
	e.key = writeKey(t, e.home, priv)
	e.srv = startServer(t, signer.PublicKey(), maxSessions)
	e.known = filepath.Join(e.home, "known_hosts")
	if err := os.WriteFile(e.known, []byte(e.srv.knownHostsLine()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startKeeper()
	return e
}

// startKeeper runs Serve in this process and waits until it listens.
func (e *env) startKeeper() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	pr, pw := io.Pipe()
	e.log = &syncWriter{}
	go func() { e.served <- Serve(ctx, ServeOptions{Dir: e.dir, Ready: pw, Log: e.log}) }()
	line := make([]byte, 64)
	n, _ := pr.Read(line)
	if got := strings.TrimSpace(string(line[:n])); got != readyOK {
		e.t.Fatalf("keeper: %q", got)
	}
	e.t.Cleanup(func() {
		cancel()
		<-e.served
		if e.t.Failed() {
			e.t.Logf("keeper log:\n%s", e.log.String())
		}
	})
}

// syncWriter is a log the keeper's goroutines may write while the test
// reads it.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// target is the test server as a resolved host.
func (e *env) target(name string, persist time.Duration) *runner.Target {
	h, p := e.srv.addr()
	return &runner.Target{
		Name: name, HostName: h, Port: p, User: "u",
		IdentityFiles: []string{e.key}, IdentitiesOnly: true, IdentityAgent: "none",
		KnownHostsFiles: []string{e.known}, HostKeys: runner.Strict,
		ConnectTimeout: 5 * time.Second, KeepAlive: -1, Persist: persist,
	}
}

// pool is one "dt run": a pool whose persisting hosts go through the
// keeper.
func (e *env) pool() (*runner.Pool, *Client) {
	c := NewClient(Options{Dir: e.dir, Warn: func(msg string) { e.t.Errorf("warning: %s", msg) }})
	p := runner.NewPool(runner.Config{Home: e.home, LocalUser: "u", Connector: c})
	e.t.Cleanup(func() { p.Close(); c.Close() })
	return p, c
}

// run runs cmd on t over a new lease of p.
func run(ctx context.Context, p *runner.Pool, t *runner.Target, cmd runner.Command) (runner.Result, error) {
	l, err := p.Acquire(ctx, t)
	if err != nil {
		return runner.Result{}, err
	}
	defer l.Release()
	return runner.Run(ctx, l.Client, cmd)
}

// A second run reuses the first's connection: no new login, and output,
// stderr, stdin and exit statuses come through as over a connection of
// dt's own.
func TestWarmRunReusesConnection(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	for i, want := range []int32{1, 1, 1} {
		p, c := e.pool()
		tg := e.target("h1", time.Minute)
		res, err := run(ctx, p, tg, runner.Command{Cmd: "echo hello"})
		if err != nil || string(res.Output) != "hello\n" || res.ExitCode != 0 {
			t.Fatalf("run %d: %q %d %v", i, res.Output, res.ExitCode, err)
		}
		res, err = run(ctx, p, tg, runner.Command{Cmd: "fail 3"})
		if err != nil || res.ExitCode != 3 || string(res.Output) != "failing\n" {
			t.Fatalf("run %d: fail 3: %q %d %v", i, res.Output, res.ExitCode, err)
		}
		res, err = run(ctx, p, tg, runner.Command{Cmd: "cat", Stdin: strings.NewReader("in put")})
		if err != nil || string(res.Output) != "in put" {
			t.Fatalf("run %d: cat: %q %v", i, res.Output, err)
		}
		p.Close()
		c.Close()
		if got := e.srv.logins.Load(); got != want {
			t.Errorf("after run %d: %d logins, want %d", i, got, want)
		}
	}
	st, err := GetStatus(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Conns) != 1 || st.Conns[0].Served != 9 || st.Conns[0].Name != "h1" {
		t.Errorf("status: %+v", st.Conns)
	}
}

// A host whose known_hosts entries changed gets a new connection: with
// one more key for it, a new login; with its key replaced, a host key
// failure that says CHANGED, never the kept connection.
func TestKnownHostsChangeMeansNewConnection(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	p, _ := e.pool()
	if _, err := run(ctx, p, e.target("h1", time.Minute), runner.Command{Cmd: "echo x"}); err != nil {
		t.Fatal(err)
	}
	other, _ := newSigner(t)
	h, port := e.srv.addr()
	extra := e.srv.knownHostsLine() + fmt.Sprintf("[%s]:%s %s", h, port, ssh.MarshalAuthorizedKey(other.PublicKey()))
	os.WriteFile(e.known, []byte(extra), 0o600)
	p2, _ := e.pool()
	if _, err := run(ctx, p2, e.target("h1", time.Minute), runner.Command{Cmd: "echo x"}); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.logins.Load(); n != 2 {
		t.Errorf("%d logins after known_hosts gained a key, want 2", n)
	}
	os.WriteFile(e.known, []byte(fmt.Sprintf("[%s]:%s %s", h, port, ssh.MarshalAuthorizedKey(other.PublicKey()))), 0o600)
	p3, _ := e.pool()
	_, err := run(ctx, p3, e.target("h1", time.Minute), runner.Command{Cmd: "echo x"})
	if runner.Stage(err) != output.StageHostKey || !strings.Contains(err.Error(), "CHANGED") {
		t.Errorf("changed key: %v (stage %s), want a hostkey failure saying CHANGED", err, runner.Stage(err))
	}
	if n := e.srv.logins.Load(); n != 2 {
		t.Errorf("%d logins after the key changed, want 2", n)
	}
}

// With MaxSessions 2 on the server and 20 commands at once over one
// connection, from two dt runs at the same time, every command runs: the
// keeper waits for a session to end instead of failing the others.
func TestMaxSessions(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for _, p := range []*runner.Pool{e.pool1(), e.pool1()} {
			for i := 0; i < 10; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := run(ctx, p, e.target(fmt.Sprintf("a%02d", i), time.Minute), runner.Command{Cmd: "sleep 100ms"})
					if err == nil && string(res.Output) != "slept\n" {
						err = fmt.Errorf("output %q", res.Output)
					}
					errs <- err
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
	}
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	if e.srv.maxSeen > 2 {
		t.Errorf("server saw %d sessions at once", e.srv.maxSeen)
	}
	if e.srv.refusals == 0 {
		t.Errorf("the server never refused a session: the test tested nothing")
	}
	if n := e.srv.logins.Load(); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
}

func (e *env) pool1() *runner.Pool {
	p, _ := e.pool()
	return p
}

// A kept connection that died (the host rebooted) is replaced on the
// next run without an error.
func TestDeadConnectionReplaced(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	p, _ := e.pool()
	if _, err := run(ctx, p, e.target("h1", time.Minute), runner.Command{Cmd: "echo x"}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	e.srv.cut()
	p2, _ := e.pool()
	res, err := run(ctx, p2, e.target("h1", time.Minute), runner.Command{Cmd: "echo again"})
	if err != nil || string(res.Output) != "again\n" {
		t.Fatalf("after the cut: %q %v", res.Output, err)
	}
	if n := e.srv.logins.Load(); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}
}

// Cancelling a command signals it through the keeper (TERM), as over a
// direct connection.
func TestCancelSignalsThroughKeeper(t *testing.T) {
	e := newEnv(t, 10)
	p, _ := e.pool()
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		for cmd := range e.srv.started {
			if cmd == "wait" {
				cancel(runner.ErrInterrupted)
				return
			}
		}
	}()
	_, err := run(ctx, p, e.target("h1", time.Minute), runner.Command{Cmd: "wait"})
	if !errors.Is(err, runner.ErrInterrupted) {
		t.Errorf("err %v, want interrupted", err)
	}
	select {
	case sig := <-e.srv.signals:
		if sig != "TERM" {
			t.Errorf("signal %q, want TERM", sig)
		}
	case <-time.After(2 * time.Second):
		t.Error("the command got no signal")
	}
}

// Hosts that do not persist never reach the keeper.
func TestNoPersistNoKeeper(t *testing.T) {
	e := newEnv(t, 10)
	p, _ := e.pool()
	if _, err := run(context.Background(), p, e.target("h1", 0), runner.Command{Cmd: "echo x"}); err != nil {
		t.Fatal(err)
	}
	st, err := GetStatus(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Conns) != 0 {
		t.Errorf("the keeper keeps %v", st.Conns)
	}
}

// The keeper closes a connection idle for its persist time, then exits
// and removes its socket.
func TestIdleExit(t *testing.T) {
	e := newEnv(t, 10)
	p, c := e.pool()
	if _, err := run(context.Background(), p, e.target("h1", 300*time.Millisecond), runner.Command{Cmd: "echo x"}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	c.Close()
	select {
	case err := <-e.served:
		e.served <- err
	case <-time.After(10 * time.Second):
		t.Fatal("the keeper did not exit")
	}
	if _, err := os.Lstat(Socket(e.dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if !strings.Contains(e.log.String(), "idle for") {
		t.Errorf("log: %s", e.log.String())
	}
}

// Stop closes everything and the keeper exits.
func TestStop(t *testing.T) {
	e := newEnv(t, 10)
	p, _ := e.pool()
	if _, err := run(context.Background(), p, e.target("h1", time.Hour), runner.Command{Cmd: "echo x"}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	n, err := Stop(e.dir)
	if err != nil || n != 1 {
		t.Fatalf("Stop: %d %v", n, err)
	}
	select {
	case <-e.served:
		e.served <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("the keeper did not exit")
	}
	if _, err := GetStatus(e.dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("status after stop: %v", err)
	}
}

// A login the server refuses through the keeper fails the host as on a
// direct connection: stage auth, the keys offered.
func TestAuthFailureThroughKeeper(t *testing.T) {
	e := newEnv(t, 10)
	_, wrong := newSigner(t)
	dir := t.TempDir()
	tg := e.target("h1", time.Minute)
	tg.IdentityFiles = []string{writeKey(t, dir, wrong)}
	p, _ := e.pool()
	_, err := run(context.Background(), p, tg, runner.Command{Cmd: "echo x"})
	h, port := e.srv.addr()
	want := fmt.Sprintf("u@%s: permission denied (publickey; offered 1 key(s))", net.JoinHostPort(h, port))
	if runner.Stage(err) != output.StageAuth || err == nil || err.Error() != want {
		t.Errorf("err %v (stage %s), want auth: %s", err, runner.Stage(err), want)
	}
	if n := e.srv.logins.Load(); n != 0 {
		t.Errorf("%d logins", n)
	}
}
