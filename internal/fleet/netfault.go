package fleet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// splitAddr parses "A.B.C.D" (port 22) or "A.B.C.D:PORT".
func splitAddr(addr string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		if !ap.Addr().Is4() {
			return netip.AddrPort{}, fmt.Errorf("fleet: %s is not an IPv4 address", addr)
		}
		return ap, nil
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return netip.AddrPort{}, fmt.Errorf("fleet: %q is neither A.B.C.D nor A.B.C.D:PORT", addr)
	}
	return netip.AddrPortFrom(a, 22), nil
}

// StartBlackhole makes addr ("A.B.C.D", port 22, or "A.B.C.D:PORT") a host
// whose connections time out: a socket listens there with a backlog of 0
// and never accepts, and its accept queue is filled by a connection of our
// own, so that the kernel drops further SYNs. It checks that a dial does time
// out before returning. stop closes everything.
func StartBlackhole(addr string) (stop func(), err error) {
	ap, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fleet: blackhole %s: %w", ap, err)
	}
	var fillers []net.Conn
	stop = func() {
		for _, c := range fillers {
			c.Close()
		}
		syscall.Close(fd)
	}
	fail := func(err error) (func(), error) {
		stop()
		return nil, fmt.Errorf("fleet: blackhole %s: %w", ap, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return fail(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		return fail(err)
	}
	// With backlog 0 the queue holds one connection; then SYNs are
	// dropped. Dial until a dial times out.
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", ap.String(), 300*time.Millisecond)
		if err == nil {
			fillers = append(fillers, c)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return stop, nil
		}
		return fail(err)
	}
	return fail(errors.New("accept queue does not fill up: connections do not time out"))
}

// StartSilent makes addr ("A.B.C.D", port 22, or "A.B.C.D:PORT") a host that
// accepts TCP connections and never says a word, so that an SSH handshake
// times out. stop closes the listener and every connection.
func StartSilent(addr string) (stop func(), err error) {
	ap, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return nil, fmt.Errorf("fleet: silent %s: %w", ap, err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				c.Close()
			} else {
				conns = append(conns, c)
			}
			mu.Unlock()
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			ln.Close()
			<-done
			mu.Lock()
			closed = true
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
	}, nil
}
