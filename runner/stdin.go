package runner

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// StdinMux shares one input (the terminal) among sessions that run one
// after another (interactive mode). x/crypto/ssh keeps reading a session's
// Stdin after the session ends; each session therefore gets its own Reader,
// which stops taking input once closed, so the next host gets the next
// keystrokes.
type StdinMux struct {
	src     io.Reader
	once    sync.Once
	started atomic.Bool // a Reader was handed out: the pump reads src
	chunks  chan []byte
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
	return &StdinMux{src: src, chunks: make(chan []byte)}
}

func (m *StdinMux) pump() {
	for {
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

// Reader returns a reader for one session. Close it when the session ends.
func (m *StdinMux) Reader() io.ReadCloser {
	m.started.Store(true)
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
	r.close.Do(func() { close(r.done) })
	return nil
}
