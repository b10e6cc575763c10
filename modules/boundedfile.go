package modules

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// boundedFile says what a module reads from a file named on its command
// line, and how much of it.
type boundedFile struct {
	what  string // "a script", "a public key file": for the errors
	max   int64  // the most bytes it may have
	limit string // max as people write it: "16 MiB"
	hint  string // what to do instead, after a file that is not regular
	large string // what to do instead, after a file too large; may be empty
}

// read reads name: a regular file of at most f.max bytes. A FIFO (opened
// without waiting for a writer), a device such as /dev/zero, a directory
// or a huge file named by mistake is refused instead of read without end,
// and a file that grows past the limit while it is read is caught.
func (f boundedFile) read(name string) ([]byte, error) {
	file, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); %s", name, fileKind(st.Mode()), f.hint)
	}
	if st.Size() > f.max {
		err := fmt.Errorf("%s is %d bytes; %s may have at most %d (%s)", name, st.Size(), f.what, f.max, f.limit)
		if f.large != "" {
			err = fmt.Errorf("%w; %s", err, f.large)
		}
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(file, f.max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > f.max {
		return nil, fmt.Errorf("%s grew past %d bytes (%s) while it was read", name, f.max, f.limit)
	}
	return data, nil
}
