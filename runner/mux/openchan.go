package mux

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// noAnswerError says that a channel open got no answer in time.
type noAnswerError struct{ within time.Duration }

func (e noAnswerError) Error() string {
	return fmt.Sprintf("no answer within %s", e.within)
}

// openWithin opens a channel of type typ on c, waiting at most timeout for
// the other side's answer, or until ctx ends (its cause is the error). On
// a timeout the error is a noAnswerError. A channel whose opening is
// answered after dt stopped waiting is closed as soon as it arrives.
func openWithin(ctx context.Context, c ssh.Conn, timeout time.Duration, typ string, data []byte) (ssh.Channel, <-chan *ssh.Request, error) {
	type opened struct {
		ch   ssh.Channel
		reqs <-chan *ssh.Request
		err  error
	}
	res := make(chan opened, 1)
	go func() {
		ch, reqs, err := c.OpenChannel(typ, data)
		res <- opened{ch, reqs, err}
	}()
	abandon := func() {
		go func() {
			if o := <-res; o.ch != nil {
				o.ch.Close()
			}
		}()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case o := <-res:
		return o.ch, o.reqs, o.err
	case <-timer.C:
		abandon()
		return nil, nil, noAnswerError{timeout}
	case <-ctx.Done():
		abandon()
		return nil, nil, context.Cause(ctx)
	}
}
