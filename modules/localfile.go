package modules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// localFile is a source file of a copy: read and hashed once per run,
// however many hosts it goes to; each host then streams it from the page
// cache through its own small window (sftpWindow × sftpPacket bytes).
type localFile struct {
	path string
	once sync.Once
	err  error

	size  int64
	mode  fs.FileMode
	mtime time.Time
	sum   string // sha256, hex
}

// load stats and hashes the file, once.
func (l *localFile) load() error {
	l.once.Do(func() {
		f, err := os.Open(l.path)
		if err != nil {
			l.err = pathErr(l.path, err)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			l.err = pathErr(l.path, err)
			return
		}
		if !fi.Mode().IsRegular() {
			l.err = fmt.Errorf("%q is not a regular file", l.path)
			return
		}
		h := sha256.New()
		buf := make([]byte, 256<<10) // the one read buffer of a run
		n, err := io.CopyBuffer(h, f, buf)
		if err != nil {
			l.err = pathErr(l.path, err)
			return
		}
		if n != fi.Size() {
			l.err = fmt.Errorf("%q changed while it was read", l.path)
			return
		}
		l.size, l.mode, l.mtime = fi.Size(), fi.Mode(), fi.ModTime()
		l.sum = hex.EncodeToString(h.Sum(nil))
	})
	return l.err
}

// open opens the file for one host and checks that it is still what was
// hashed.
func (l *localFile) open() (*os.File, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, pathErr(l.path, err)
	}
	if err := l.unchanged(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// unchanged checks that f still has the size and mtime it had when hashed.
func (l *localFile) unchanged(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return pathErr(l.path, err)
	}
	if fi.Size() != l.size || !fi.ModTime().Equal(l.mtime) {
		return fmt.Errorf("%q changed since dt read it; not copied", l.path)
	}
	return nil
}

// fileCache holds the run's localFiles by path.
type fileCache struct {
	mu    sync.Mutex
	files map[string]*localFile
}

func (c *fileCache) get(path string) *localFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]*localFile{}
	}
	l, ok := c.files[path]
	if !ok {
		l = &localFile{path: path}
		c.files[path] = l
	}
	return l
}
