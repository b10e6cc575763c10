package output

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// SpoolLimit is how many bytes of one command's output dt keeps in memory.
// Output beyond it goes to a private temporary file (see Spool), so memory
// stays bounded however much a host prints.
const SpoolLimit = 64 << 10

// Spool collects a command's output (stdout and stderr, in arrival order):
// in memory up to its limit, then all of it in a private temporary file.
//
// The file is created in SpoolDir() with mode 0600 and
// removed from the directory at once, so only this process can reach it
// (through its open descriptor) and nothing is left behind however dt
// exits, Ctrl-C and SIGKILL included. The disk space is freed when the
// last Release closes it.
//
// A Spool is safe for concurrent use. It starts with one reference, held
// by its creator; Retain and Release count the holders.
type Spool struct {
	mu     sync.Mutex
	limit  int
	mem    []byte
	f      *os.File
	n      int64 // bytes in f
	err    error // why output was dropped, if it was
	sealed bool
	refs   atomic.Int32
}

// NewSpool returns an empty Spool that keeps up to limit bytes in memory;
// limit <= 0 keeps everything in memory.
func NewSpool(limit int) *Spool {
	s := &Spool{limit: limit}
	s.refs.Store(1)
	return s
}

// Write appends p. It never fails: when the file cannot be created or
// written, the output from then on is dropped and Err says why, so that
// the command still runs to its end.
func (s *Spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sealed || s.err != nil {
		return len(p), nil
	}
	if s.f == nil {
		if s.limit <= 0 || len(s.mem)+len(p) <= s.limit {
			s.mem = append(s.mem, p...)
			return len(p), nil
		}
		if err := s.spill(); err != nil {
			s.err = err
			return len(p), nil
		}
	}
	if _, err := s.f.WriteAt(p, s.n); err != nil {
		s.err = fmt.Errorf("write spool file: %w", err)
		return len(p), nil
	}
	s.n += int64(len(p))
	return len(p), nil
}

// spill moves the output so far into a new temporary file.
func (s *Spool) spill() error {
	f, err := AnonymousFile("", "dt-spill")
	if err != nil {
		return fmt.Errorf("output over %d KiB and no file to keep it in: %w (set TMPDIR to a writable directory)", s.limit>>10, err)
	}
	if _, err := f.WriteAt(s.mem, 0); err != nil {
		f.Close()
		return fmt.Errorf("write spool file: %w", err)
	}
	s.f, s.n, s.mem = f, int64(len(s.mem)), nil
	return nil
}

// SpoolDir is where dt keeps what does not fit in memory (output past
// SpoolLimit, a large -I input): $TMPDIR when it is set, else /var/tmp
// when it is a directory, else os.TempDir(). Not /tmp first: on many
// systems /tmp is a tmpfs, whose files are memory, which would undo the
// bound spooling is for; the file system hierarchy names /var/tmp for
// large temporary files.
func SpoolDir() string {
	if d := os.Getenv("TMPDIR"); d != "" {
		return d
	}
	if st, err := os.Stat("/var/tmp"); err == nil && st.IsDir() {
		return "/var/tmp"
	}
	return os.TempDir()
}

// AnonymousFile returns a new 0600 file in dir (SpoolDir() if empty)
// that has no name: O_TMPFILE where the file system has it, else a file
// removed as soon as it is created (named label-* until then). Nothing is
// left behind however dt ends, and no other process can open it by name.
func AnonymousFile(dir, label string) (*os.File, error) {
	if dir == "" {
		dir = SpoolDir()
	}
	if fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600); err == nil {
		return os.NewFile(uintptr(fd), filepath.Join(dir, label+" (unnamed)")), nil
	}
	f, err := os.CreateTemp(dir, label+"-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Seal stops the Spool from taking more output; later writes are dropped.
// Callers seal it before reading a command's output while the command's
// copiers might still be writing (a cancelled session).
func (s *Spool) Seal() {
	s.mu.Lock()
	s.sealed = true
	s.mu.Unlock()
}

// Spilled reports whether the output went to the file.
func (s *Spool) Spilled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f != nil
}

// Len is how many bytes the Spool holds.
func (s *Spool) Len() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		return s.n
	}
	return int64(len(s.mem))
}

// Bytes returns the output held in memory: all of it unless Spilled. The
// slice is the Spool's own; it must not be modified, and must not be read
// while the Spool is still being written unless it was sealed.
func (s *Spool) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mem[:len(s.mem):len(s.mem)]
}

// Err says why output was dropped (the file could not be created or
// written), or nil.
func (s *Spool) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// ReadAt reads the output at off, from memory or from the file.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	f, n, mem := s.f, s.n, s.mem
	s.mu.Unlock()
	if f == nil {
		if off >= int64(len(mem)) {
			return 0, io.EOF
		}
		k := copy(p, mem[off:])
		if k < len(p) {
			return k, io.EOF
		}
		return k, nil
	}
	if off >= n {
		return 0, io.EOF
	}
	if rest := n - off; int64(len(p)) > rest {
		k, err := f.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return k, err
	}
	return f.ReadAt(p, off)
}

// Retain adds a holder: a view that keeps the record after Write returns.
func (s *Spool) Retain() { s.refs.Add(1) }

// Release drops a holder; the last one closes the file, freeing its space.
func (s *Spool) Release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		s.f.Close()
		s.f = nil
		s.err = errReleased
	}
	s.mem = nil
	s.sealed = true
}

var errReleased = errors.New("spool released")
