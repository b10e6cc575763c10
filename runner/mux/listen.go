package mux

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// errRunning: another keeper holds the directory's lock.
var errRunning = errors.New("another keeper is running")

// lockDir takes the keeper's lock: an exclusive flock on the directory
// itself, held for the keeper's life and dropped by the kernel however it
// ends. It makes one keeper per directory, and leaves no file behind.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errRunning
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return f, nil
}

// listen binds the keeper's socket in dir under a temporary name, makes it
// the user's alone (0600) and renames it into place. A client never finds
// a socket that does not listen yet, and a stale socket left by a keeper
// that died is replaced in one step. It returns the socket's identity, so
// that the keeper removes it on exit only if it is still its own.
func listen(dir string) (*net.UnixListener, os.FileInfo, error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.%s", socketName, os.Getpid(), hex.EncodeToString(rnd[:])))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, err
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, nil, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	st, err := os.Lstat(tmp)
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, Socket(dir)); err != nil {
		return fail(err)
	}
	return ln, st, nil
}

// unlinkOwn removes dir's socket if it is still the one described by own.
func unlinkOwn(dir string, own os.FileInfo) {
	sock := Socket(dir)
	if st, err := os.Lstat(sock); err == nil && os.SameFile(st, own) {
		os.Remove(sock)
	}
}
