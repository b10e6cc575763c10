package modules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dtools/dt/output"
)

// inputMemMax is how much of dt's standard input (-I) is kept in memory;
// the rest is spooled to a private temporary file.
const inputMemMax = 1 << 20

// Input is dt's standard input, read once and given to every host's
// command (-I/--stdin). Each host reads its own copy from the start.
type Input struct {
	mem  []byte
	file *os.File // when larger than inputMemMax: holds all of it
	size int64
}

// Load reads r to its end, before the run starts (a module's Prepare gets
// the Input empty). Up to inputMemMax bytes stay in memory; beyond that
// everything goes to a temporary file in dir (output.SpoolDir() if empty) that
// never has a name (output.AnonymousFile), so no other process can open it and
// nothing is left behind whatever happens to dt.
func (in *Input) Load(r io.Reader, dir string) error {
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, r, inputMemMax+1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading standard input: %w", err)
	}
	if n <= inputMemMax {
		in.mem, in.size = buf.Bytes(), n
		return nil
	}
	f, err := output.AnonymousFile(dir, "dt-stdin")
	if err != nil {
		return fmt.Errorf("spooling standard input: %w (set TMPDIR to a writable directory)", err)
	}
	size, err := io.Copy(f, io.MultiReader(&buf, r))
	if err != nil {
		f.Close()
		return fmt.Errorf("spooling standard input: %w", err)
	}
	in.file, in.size = f, size
	return nil
}

// Reader returns a reader of the whole input, from its start.
func (in *Input) Reader() io.Reader {
	if in.file != nil {
		return io.NewSectionReader(in.file, 0, in.size)
	}
	return bytes.NewReader(in.mem)
}

// Size is the input's length in bytes.
func (in *Input) Size() int64 { return in.size }

// Spooled reports whether the input went to a temporary file.
func (in *Input) Spooled() bool { return in.file != nil }

// Close releases the spool file, if any.
func (in *Input) Close() error {
	if in.file != nil {
		return in.file.Close()
	}
	return nil
}

// StdinModule is implemented by modules whose remote commands read the
// input given with -I (ssh, sudo).
type StdinModule interface {
	ReadsStdin() bool
}

// ReadsStdin reports whether m gives -I's input to its commands.
func ReadsStdin(m Module) bool {
	s, ok := m.(StdinModule)
	return ok && s.ReadsStdin()
}
