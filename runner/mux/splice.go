package mux

import (
	"io"
	"sync"

	"golang.org/x/crypto/ssh"
)

// splice joins down, a channel from dt, to up, the same channel on the
// kept connection, until both are closed: data and stderr both ways, EOF,
// every request in order (exec, subsystem, pty-req, env, signal,
// window-change from dt; exit-status, exit-signal from the host) with
// its reply. dt learns the end of a command as over a direct connection:
// its output, then EOF, then its exit status, then the close.
func splice(down ssh.Channel, downReqs <-chan *ssh.Request, up ssh.Channel, upReqs <-chan *ssh.Request) {
	go func() {
		io.Copy(up, down)
		up.CloseWrite()
	}()
	go io.Copy(up.Stderr(), down.Stderr())
	var out sync.WaitGroup
	out.Add(2)
	go func() {
		defer out.Done()
		io.Copy(down, up)
	}()
	go func() {
		defer out.Done()
		io.Copy(down.Stderr(), up.Stderr())
	}()
	eof := make(chan struct{})
	go func() {
		out.Wait()
		down.CloseWrite()
		close(eof)
	}()
	// inflight is held while a request of dt's is on its way and its
	// reply on its way back: a command that ends at once (the host sends
	// its exit status and closes right after saying yes to exec) must not
	// have its channel closed to dt before dt has that yes.
	var inflight sync.Mutex
	go func() {
		forward(up, downReqs, &inflight)
		// dt closed its end. As over a direct connection, that alone
		// does not stop the remote command (dt signals it first).
		up.Close()
	}()
	forward(down, upReqs, nil)
	// The host closed its end: everything it sent is on its way to dt.
	<-eof
	inflight.Lock()
	down.Close()
	inflight.Unlock()
}

// forward sends every request of reqs on to, replying with to's answer,
// each under mu when it is set. A request whose channel died gets no
// reply: its channel is closed instead, as over a direct connection.
func forward(to ssh.Channel, reqs <-chan *ssh.Request, mu *sync.Mutex) {
	for r := range reqs {
		if mu != nil {
			mu.Lock()
		}
		ok, err := to.SendRequest(r.Type, r.WantReply, r.Payload)
		if r.WantReply && err == nil {
			r.Reply(ok, nil)
		}
		if mu != nil {
			mu.Unlock()
		}
	}
}
