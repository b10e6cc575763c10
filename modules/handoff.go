package modules

import (
	"errors"
	"io"
	"sync"
)

// errSessionEnded is what a handoff's client sees once the remote side is
// gone.
var errSessionEnded = errors.New("the session ended")

// stdinHandoff is a remote command's standard input that an in-process
// client (the SFTP client) writes to. When the session's copier calls
// WriteTo, as io.Copy does, the client writes straight into the SSH channel:
// no copy buffer in between (io.Copy's own would be 32 KiB per host). A
// copier that calls Read instead gets the bytes through a pipe.
type stdinHandoff struct {
	once   sync.Once
	ready  chan struct{} // closed once WriteTo or Read decided the mode
	direct io.Writer     // set by WriteTo before ready is closed
	pr     *io.PipeReader
	pw     *io.PipeWriter

	closeOnce sync.Once
	closed    chan struct{} // the client closed its end, or the session ended
	ended     chan struct{} // the session ended
	endOnce   sync.Once
}

func newStdinHandoff() *stdinHandoff {
	pr, pw := io.Pipe()
	return &stdinHandoff{ready: make(chan struct{}), pr: pr, pw: pw, closed: make(chan struct{}), ended: make(chan struct{})}
}

// WriteTo hands w to the client and returns when the client closes its
// end: the session then sends EOF.
func (s *stdinHandoff) WriteTo(w io.Writer) (int64, error) {
	direct := false
	s.once.Do(func() {
		s.direct, direct = w, true
		close(s.ready)
	})
	if !direct {
		return 0, errors.New("stdin handoff: WriteTo after Read")
	}
	<-s.closed
	return 0, nil
}

// Read serves a copier that does not use WriteTo.
func (s *stdinHandoff) Read(p []byte) (int, error) {
	s.once.Do(func() { close(s.ready) })
	if s.direct != nil {
		return 0, errors.New("stdin handoff: Read after WriteTo")
	}
	return s.pr.Read(p)
}

// Write is the client's side.
func (s *stdinHandoff) Write(b []byte) (int, error) {
	select {
	case <-s.ready:
	case <-s.ended:
		return 0, errSessionEnded
	}
	select {
	case <-s.closed:
		return 0, io.ErrClosedPipe
	default:
	}
	if s.direct != nil {
		return s.direct.Write(b)
	}
	return s.pw.Write(b)
}

// Close is the client's side: no more input.
func (s *stdinHandoff) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return s.pw.Close()
}

// end is called once the session is over.
func (s *stdinHandoff) end() {
	s.endOnce.Do(func() { close(s.ended) })
	s.closeOnce.Do(func() { close(s.closed) })
	s.pr.CloseWithError(errSessionEnded)
}

// stdoutHandoff is a remote command's standard output that an in-process
// client reads. When the session's copier calls ReadFrom, as io.Copy does,
// the client reads straight from the SSH channel; a copier that calls
// Write instead hands the bytes over through a pipe.
type stdoutHandoff struct {
	once   sync.Once
	ready  chan struct{}
	direct io.Reader // set by ReadFrom before ready is closed
	pr     *io.PipeReader
	pw     *io.PipeWriter

	eofOnce sync.Once
	eof     chan struct{} // the client's reads of direct hit an error or EOF
	endOnce sync.Once
	ended   chan struct{}
}

func newStdoutHandoff() *stdoutHandoff {
	pr, pw := io.Pipe()
	return &stdoutHandoff{ready: make(chan struct{}), pr: pr, pw: pw, eof: make(chan struct{}), ended: make(chan struct{})}
}

// ReadFrom hands r to the client and returns once the client has read it
// to its end (or the session is over).
func (s *stdoutHandoff) ReadFrom(r io.Reader) (int64, error) {
	direct := false
	s.once.Do(func() {
		s.direct, direct = r, true
		close(s.ready)
	})
	if !direct {
		return 0, errors.New("stdout handoff: ReadFrom after Write")
	}
	select {
	case <-s.eof:
	case <-s.ended:
	}
	return 0, nil
}

// Write serves a copier that does not use ReadFrom.
func (s *stdoutHandoff) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.ready) })
	if s.direct != nil {
		return 0, errors.New("stdout handoff: Write after ReadFrom")
	}
	return s.pw.Write(p)
}

// Read is the client's side.
func (s *stdoutHandoff) Read(p []byte) (int, error) {
	select {
	case <-s.ready:
	case <-s.ended:
		return 0, io.EOF
	}
	if s.direct == nil {
		return s.pr.Read(p)
	}
	n, err := s.direct.Read(p)
	if err != nil {
		s.eofOnce.Do(func() { close(s.eof) })
	}
	return n, err
}

// end is called once the session is over.
func (s *stdoutHandoff) end() {
	s.endOnce.Do(func() { close(s.ended) })
	s.pw.CloseWithError(io.EOF)
}

// tailBuffer keeps the last max bytes written to it (a remote stderr), and
// reads with a small buffer of its own instead of io.Copy's 32 KiB.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) ReadFrom(r io.Reader) (int64, error) {
	var buf [512]byte
	var n int64
	for {
		k, err := r.Read(buf[:])
		if k > 0 {
			t.Write(buf[:k])
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
