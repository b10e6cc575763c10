package output

import (
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// maxKeptBuf is the largest line buffer a writer keeps between records; a
// larger one (a huge message) is dropped after use rather than held.
const maxKeptBuf = 64 << 10

// Omni is a Writer that prints each record as one OMNI line (see
// AppendLine). It is safe for concurrent use: each line is written with a
// single Write call under a mutex, so lines from different goroutines never
// interleave.
type Omni struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
	buf   []byte
}

// NewOmni returns an Omni writing to w. When color is true the status
// (green for okay, red for fail), module (cyan) and host (yellow) are
// wrapped in ANSI colour sequences; separators and the message stay plain.
// Without colour the bytes written are exactly AppendLine's. Use
// ColorWanted to decide color.
func NewOmni(w io.Writer, color bool) *Omni {
	return &Omni{w: w, color: color}
}

// Write writes r as one line. It returns the underlying writer's error, or
// io.ErrShortWrite if it wrote less than the whole line without one.
func (o *Omni) Write(r Record) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = appendLine(o.buf[:0], r, o.color)
	err := writeAll(o.w, o.buf)
	if cap(o.buf) > maxKeptBuf {
		o.buf = nil
	}
	return err
}

// writeAll writes b with one Write call and reports a short write.
func writeAll(w io.Writer, b []byte) error {
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// ColorWanted reports whether output to f should be coloured: only when
// noColor (the --no-color flag) is false, the NO_COLOR environment variable
// is unset or empty, TERM is not "dumb", and f is a terminal (not merely a
// character device such as /dev/null). getenv looks up environment
// variables; nil means os.Getenv.
func ColorWanted(f *os.File, noColor bool, getenv func(string) string) bool {
	if noColor || f == nil {
		return false
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}
