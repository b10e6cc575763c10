package runner

import (
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// StdinMux shares one input (the terminal) among sessions that run one
// after another (interactive mode). x/crypto/ssh keeps reading a session's
// Stdin after the session ends; each session therefore gets its own Reader,
// which stops taking input once closed, so the next host gets the next
// keystrokes.
//
// A terminal is read only while a session's Reader is open: between
// sessions the next host's login may ask a password or a passphrase on the
// same terminal, and those keystrokes must reach the question, never the
// next remote command (nor its echo on the screen).
type StdinMux struct {
	src    io.Reader
	once   sync.Once
	chunks chan []byte

	mu      sync.Mutex
	open    int           // Readers not closed
	opened  chan struct{} // signalled when a Reader opens
	started atomic.Bool   // a Reader was handed out: the pump reads src
}

// File returns the mux's source when it is a file that no Reader has
// read from: a local command (local -i) is given the terminal itself, so
// that what it reads from its standard input and from /dev/tty comes
// from the keyboard, not from a pump in dt that would take keystrokes
// first.
func (m *StdinMux) File() (*os.File, bool) {
	if m == nil {
		return nil, false
	}
	f, ok := m.src.(*os.File)
	return f, ok && !m.started.Load()
}

// NewStdinMux returns a mux reading from src on demand.
func NewStdinMux(src io.Reader) *StdinMux {
	return &StdinMux{src: src, chunks: make(chan []byte), opened: make(chan struct{}, 1)}
}

// pollWait is how long the pump waits for input on a terminal before it
// looks again whether a session still wants it.
const pollWait = 100 // milliseconds

func (m *StdinMux) pump() {
	fd := -1
	if f, ok := m.src.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			fd = int(f.Fd())
		}
	}
	for {
		if fd >= 0 && !m.ready(fd) {
			continue
		}
		buf := make([]byte, 4096)
		n, err := m.src.Read(buf)
		if n > 0 {
			m.chunks <- buf[:n]
		}
		if err != nil {
			close(m.chunks)
			return
		}
	}
}

// ready waits until a Reader is open and the terminal fd has input; it
// reports false when it should be asked again.
func (m *StdinMux) ready(fd int) bool {
	m.mu.Lock()
	open := m.open
	m.mu.Unlock()
	if open == 0 {
		<-m.opened
		return false
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, pollWait)
	if err != nil || n == 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open > 0
}

// Reader returns a reader for one session. Close it when the session ends.
func (m *StdinMux) Reader() io.ReadCloser {
	m.started.Store(true)
	m.mu.Lock()
	m.open++
	m.mu.Unlock()
	select {
	case m.opened <- struct{}{}:
	default:
	}
	m.once.Do(func() { go m.pump() })
	return &muxReader{m: m, done: make(chan struct{})}
}

type muxReader struct {
	m       *StdinMux
	done    chan struct{}
	close   sync.Once
	pending []byte
}

func (r *muxReader) Read(p []byte) (int, error) {
	select {
	case <-r.done:
		return 0, io.EOF
	default:
	}
	if len(r.pending) == 0 {
		select {
		case <-r.done:
			return 0, io.EOF
		case c, ok := <-r.m.chunks:
			if !ok {
				return 0, io.EOF
			}
			r.pending = c
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *muxReader) Close() error {
	r.close.Do(func() {
		close(r.done)
		r.m.mu.Lock()
		r.m.open--
		r.m.mu.Unlock()
	})
	return nil
}
