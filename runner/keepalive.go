package runner

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// lostPeers holds, per client that keepAlive gave up on, the
// *KeepAliveError saying so: Run reports it instead of a bare "connection
// lost". Closing the client through the pool drops it.
var lostPeers sync.Map

// KeepAliveError is why a connection was closed: the server stopped
// answering keepalives (ServerAliveInterval, ServerAliveCountMax).
type KeepAliveError struct {
	Missed   int
	Interval time.Duration
}

func (e *KeepAliveError) Error() string {
	return fmt.Sprintf("connection lost: no answer to %d keepalives sent %s apart (ServerAliveInterval, ServerAliveCountMax)", e.Missed, e.Interval)
}

// KeepAlive probes the server of c every interval and closes c after max
// unanswered probes, so that a dead peer fails the host instead of hanging
// it; Lost(c) then says why. It returns when c is closed.
func KeepAlive(c *ssh.Client, interval time.Duration, max int) { keepAlive(c, interval, max) }

// Lost returns why KeepAlive closed c, or nil.
func Lost(c *ssh.Client) error { return lost(c) }

// keepAlive is KeepAlive. An error of a probe ends it, and when that error
// is a *KeepAliveError (a connection keeper saw the peer die) c is marked
// lost with it.
func keepAlive(c *ssh.Client, interval time.Duration, max int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	missed := 0
	reply := make(chan error, 1)
	closed := make(chan struct{})
	go func() { c.Wait(); close(closed) }()
	for {
		select {
		case <-closed:
			return
		case <-t.C:
		}
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			select {
			case reply <- err:
			default:
			}
		}()
		select {
		case err := <-reply:
			var ke *KeepAliveError
			if errors.As(err, &ke) {
				lostPeers.Store(c, ke)
				c.Close()
				return
			}
			if err != nil {
				return
			}
			missed = 0
		case <-time.After(interval):
			missed++
			if missed >= max {
				lostPeers.Store(c, &KeepAliveError{Missed: missed, Interval: interval})
				c.Close()
				return
			}
		case <-closed:
			return
		}
	}
}
