package runner

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// fakeServer allows limit sessions at once and refuses more as OpenSSH's
// sshd does.
type fakeServer struct {
	limit    int32
	open     atomic.Int32
	max      atomic.Int32
	refusals atomic.Int32
}

func (s *fakeServer) open1() error {
	n := s.open.Add(1)
	if n > s.limit {
		s.open.Add(-1)
		s.refusals.Add(1)
		return &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "open failed"}
	}
	for {
		m := s.max.Load()
		if n <= m || s.max.CompareAndSwap(m, n) {
			return nil
		}
	}
}

func (s *fakeServer) close1() { s.open.Add(-1) }

// 20 sessions at once through a gate on a server allowing 2: every one
// runs, never more than 2 at once.
func TestSessionGateWaitsForTheServersLimit(t *testing.T) {
	srv := &fakeServer{limit: 2}
	g := NewSessionGate()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Open(context.Background(), srv.open1); err != nil {
				failed.Add(1)
				return
			}
			time.Sleep(5 * time.Millisecond)
			srv.close1()
			g.Release()
		}()
	}
	wg.Wait()
	if failed.Load() != 0 || srv.max.Load() > 2 || srv.refusals.Load() == 0 {
		t.Errorf("failed %d, most at once %d, refusals %d", failed.Load(), srv.max.Load(), srv.refusals.Load())
	}
}

// A refusal with no other session open is the server's answer, not a
// limit to wait under: Open gives up after a few tries. Other errors
// are returned at once, and a done context ends the wait.
func TestSessionGateGivesUp(t *testing.T) {
	srv := &fakeServer{limit: 0}
	g := NewSessionGate()
	if err := g.Open(context.Background(), srv.open1); !SessionRefused(err) {
		t.Errorf("err %v, want the refusal", err)
	}
	if n := srv.refusals.Load(); n != refusedRetries+1 {
		t.Errorf("%d tries, want %d", n, refusedRetries+1)
	}
	boom := errors.New("boom")
	tries := 0
	if err := g.Open(context.Background(), func() error { tries++; return boom }); err != boom || tries != 1 {
		t.Errorf("err %v after %d tries, want boom after 1", err, tries)
	}

	full := NewSessionGate()
	for i := 0; i < DefaultMaxSessions; i++ {
		if err := full.Open(context.Background(), func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := full.Open(ctx, func() error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the context's", err)
	}
}

func TestSessionRefused(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "open failed"}, true},
		{&ssh.OpenChannelError{Reason: ssh.Prohibited, Message: "no"}, true},
		{&ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "connection lost: EOF"}, false},
		{&ssh.OpenChannelError{Reason: ssh.UnknownChannelType, Message: "open failed"}, false},
		{errors.New("open failed"), false},
	} {
		if got := SessionRefused(tt.err); got != tt.want {
			t.Errorf("SessionRefused(%v) = %v", tt.err, got)
		}
	}
}
