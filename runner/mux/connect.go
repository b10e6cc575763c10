package mux

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// VersionError is a keeper that speaks another protocol: one started by an
// older or newer dt. dt does not use it.
type VersionError struct {
	Socket  string
	Version string // the keeper's SSH version string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("the keeper at %s is another dt's (it speaks %q, this dt %q)", e.Socket, e.Version, protoVersion)
}

// checkVersion returns a *VersionError unless conn's keeper speaks this
// dt's protocol.
func checkVersion(conn ssh.Conn, sock string) error {
	if v := string(conn.ServerVersion()); v != protoVersion {
		return &VersionError{Socket: sock, Version: v}
	}
	return nil
}

// ErrNotRunning is returned when no keeper listens on the socket: there is
// no socket, or a stale one nobody answers on.
var ErrNotRunning = errors.New("no connection keeper is running")

// dialTimeout bounds connecting to the keeper and the local handshake.
const dialTimeout = 5 * time.Second

// dialKeeper connects to the keeper of dir. It checks the directory first,
// then that the process listening is this user's (SO_PEERCRED), then runs
// the local SSH handshake. A missing or stale socket is ErrNotRunning: a
// socket is judged by trying it, never by stat.
func dialKeeper(dir string) (ssh.Conn, error) {
	if err := prepareDir(dir, false); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotRunning
		}
		return nil, err
	}
	sock := Socket(dir)
	nc, err := net.DialTimeout("unix", sock, dialTimeout)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, ErrNotRunning
		}
		return nil, fmt.Errorf("connecting to %s: %w", sock, err)
	}
	uc := nc.(*net.UnixConn)
	uid, err := peerUID(uc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", sock, err)
	}
	if uid != os.Getuid() {
		nc.Close()
		return nil, fmt.Errorf("%s is served by uid %d, not by you (uid %d): not used", sock, uid, os.Getuid())
	}
	cfg := &ssh.ClientConfig{
		Config: localAlgorithms,
		User:   localUser,
		// The keeper is vouched for by the kernel: it runs as this user
		// (SO_PEERCRED, checked above) and listens in a directory only
		// this user can use. Its host key, made afresh at each start,
		// adds nothing to that.
		HostKeyCallback: func(string, net.Addr, ssh.PublicKey) error { return nil },
		Timeout:         dialTimeout,
		ClientVersion:   protoVersion,
	}
	nc.SetDeadline(time.Now().Add(dialTimeout))
	conn, chans, reqs, err := ssh.NewClientConn(nc, "dt-mux", cfg)
	if err != nil {
		nc.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, ErrNotRunning // a keeper on its way out
		}
		return nil, fmt.Errorf("connecting to the keeper at %s: %w", sock, err)
	}
	nc.SetDeadline(time.Time{})
	go ssh.DiscardRequests(reqs)
	go func() {
		for nc := range chans {
			nc.Reject(ssh.UnknownChannelType, "dt takes no channels from its keeper")
		}
	}()
	return conn, nil
}
