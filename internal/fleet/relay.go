package fleet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// innerPort picks the port sshd listens on behind a relay: the first of
// a few after port that no wildcard listener holds (the fleet's addresses
// are its own, so nothing else listens on them).
func innerPort(port int) (int, error) {
	for _, p := range []int{port + 1, 2223, 22223, 40022} {
		if p == port || p > 65535 {
			continue
		}
		if _, err := listeners(p); err == nil {
			return p, nil
		}
	}
	return 0, errors.New("fleet: no free port for sshd behind the relays")
}

// SetLatency sets the one-way delay of the relays (Options.Latency), for
// data read from now on. It needs a fleet started with Latency or Relay.
func (f *Fleet) SetLatency(d time.Duration) error {
	if !(f.opts.Latency > 0 || f.opts.Relay) {
		return errors.New("fleet: no relays (start the fleet with Options.Latency or Options.Relay)")
	}
	f.latency.Store(int64(d))
	return nil
}

// RelayEvent is a chunk of data a relay read from one end of a connection.
type RelayEvent struct {
	Host     string
	Conn     int  // the relay's number for the connection, per host
	ToServer bool // read from the client, for sshd
	Bytes    int
	At       time.Time // when it was read (it is written Latency later)
}

// TraceRelays makes the relays call fn for every chunk they read (nil:
// stop). fn must be quick and safe for concurrent use.
func (f *Fleet) TraceRelays(fn func(RelayEvent)) {
	if fn == nil {
		f.trace.Store(nil)
		return
	}
	f.trace.Store(&fn)
}

// Latency returns the relays' one-way delay.
func (f *Fleet) Latency() time.Duration { return time.Duration(f.latency.Load()) }

// relay listens on a host's address and port and forwards every
// connection to its sshd, delaying each chunk of data by the fleet's
// latency in each direction. The TCP handshake itself is not delayed (it
// completes against the relay's socket): a connect costs no round trip.
type relay struct {
	ln    net.Listener
	delay *atomic.Int64
	host  string
	trace *atomic.Pointer[func(RelayEvent)]
	conns atomic.Int64 // numbers the connections

	mu     sync.Mutex
	open   map[net.Conn]*atomic.Bool // each side of a connection: cut
	closed bool
	wg     sync.WaitGroup
}

// startRelay starts host i's relay (once).
func (f *Fleet) startRelay(i int) error {
	h := &f.Hosts[i]
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.relays[i] != nil {
		return nil
	}
	ln, err := net.Listen("tcp", h.HostPort())
	if err != nil {
		return fmt.Errorf("fleet: relay of %s: %w", h.Name, err)
	}
	r := &relay{ln: ln, delay: &f.latency, host: h.Name, trace: &f.trace, open: map[net.Conn]*atomic.Bool{}}
	upstream := net.JoinHostPort(h.Addr, strconv.Itoa(h.SSHDPort))
	r.wg.Add(1)
	go r.serve(upstream)
	f.relays[i] = r
	return nil
}

// stopRelay stops host i's relay and cuts its connections.
func (f *Fleet) stopRelay(i int) {
	f.mu.Lock()
	r := f.relays[i]
	f.relays[i] = nil
	f.mu.Unlock()
	if r != nil {
		r.stop()
	}
}

func (r *relay) serve(upstream string) {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.handle(c, upstream)
		}()
	}
}

func (r *relay) track(c net.Conn, cut *atomic.Bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.open[c] = cut
	return true
}

// CutConnections cuts the connections that host name's relay carries now,
// as a network failure would: from now on they carry nothing either way,
// and neither end is told (no FIN, no reset). New connections work. It
// needs a fleet started with Latency or Relay.
func (f *Fleet) CutConnections(name string) error {
	for i := range f.Hosts {
		if f.Hosts[i].Name != name {
			continue
		}
		f.mu.Lock()
		r := f.relays[i]
		f.mu.Unlock()
		if r == nil {
			return fmt.Errorf("fleet: host %s has no relay (start the fleet with Options.Latency or Options.Relay)", name)
		}
		r.mu.Lock()
		for _, cut := range r.open {
			cut.Store(true)
		}
		r.mu.Unlock()
		return nil
	}
	return fmt.Errorf("fleet: no host %q", name)
}

func (r *relay) handle(c net.Conn, upstream string) {
	defer c.Close()
	cut := new(atomic.Bool)
	if !r.track(c, cut) {
		return
	}
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer up.Close()
	if !r.track(up, cut) {
		return
	}
	n := int(r.conns.Add(1))
	tracer := func(toServer bool) func(int, time.Time) {
		return func(bytes int, at time.Time) {
			if fn := r.trace.Load(); fn != nil {
				(*fn)(RelayEvent{Host: r.host, Conn: n, ToServer: toServer, Bytes: bytes, At: at})
			}
		}
	}
	done := make(chan struct{})
	go func() {
		delayed(up, c, r.delay, cut, tracer(true))
		close(done)
	}()
	delayed(c, up, r.delay, cut, tracer(false))
	<-done
	r.mu.Lock()
	delete(r.open, c)
	delete(r.open, up)
	r.mu.Unlock()
}

func (r *relay) stop() {
	r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// delayed copies src to dst, writing each chunk read *delay after it was
// read, in order, then half-closes dst. A read error other than EOF (a
// reset) closes both ends. Once cut, what it reads is dropped and it
// closes nothing until the relay stops. trace is told of every chunk.
func delayed(dst, src net.Conn, delay *atomic.Int64, cut *atomic.Bool, trace func(int, time.Time)) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	q := make(chan chunk, 256)
	var readErr error
	go func() {
		defer close(q)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				now := time.Now()
				trace(n, now)
				q <- chunk{append([]byte(nil), buf[:n]...), now.Add(time.Duration(delay.Load()))}
			}
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	for c := range q {
		if w := time.Until(c.due); w > 0 {
			time.Sleep(w)
		}
		if cut.Load() {
			continue
		}
		if _, err := dst.Write(c.b); err != nil {
			src.Close()
			for range q {
			}
			return
		}
	}
	if cut.Load() {
		return // the relay's stop closes them
	}
	if tc, ok := dst.(*net.TCPConn); ok && errors.Is(readErr, io.EOF) {
		tc.CloseWrite()
		return
	}
	dst.Close()
	src.Close()
}
