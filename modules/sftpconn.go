package modules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/pkg/sftp"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// SFTP transfer tuning: every file moves in requests of sftpPacket bytes
// (the most every SFTP server must take) with at most sftpWindow requests
// in flight per host, so a host in flight holds about (sftpWindow + 2) ×
// sftpPacket bytes of file data: its read buffers, the SSH channel's
// packet and the cipher's buffer. Halving the packet costs the server
// about 1.5× the CPU per byte (twice the requests); a wider window buys
// little on one box. BENCHMARKS.md has the measurements.
const (
	sftpPacket = 32 << 10
	sftpWindow = 2
)

// transferGCPercent is the garbage collector's GOGC for copy: its live
// heap is mostly long-lived per-host buffers and it makes little garbage,
// so a tight target costs little CPU and keeps the default's 100%
// headroom off every host's window. fetch keeps Go's default: every
// packet it receives is a fresh allocation (x/crypto/ssh, pkg/sftp), and
// GOGC 25 cost it 1.5x the client CPU (measured on 100 hosts: 7.0 s
// against 4.6 s for 1 GiB).
const transferGCPercent = 25

// sftpServerScript starts the host's sftp-server program as a command (for
// --sudo, where the "sftp" subsystem cannot be run through sudo): the path
// in sshd_config's "Subsystem sftp" line if it is a program, else the usual
// places.
const sftpServerScript = `for p in $(sed -n 's/^[[:space:]]*[Ss][Uu][Bb][Ss][Yy][Ss][Tt][Ee][Mm][[:space:]][[:space:]]*sftp[[:space:]][[:space:]]*\([^[:space:]][^[:space:]]*\).*/\1/p' /etc/ssh/sshd_config 2>/dev/null) ` +
	`/usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server /usr/libexec/sftp-server; do ` +
	`case $p in /*) [ -x "$p" ] && exec "$p";; esac; done; ` +
	`echo "no sftp-server program found (looked at sshd_config's Subsystem sftp line and the usual places)" >&2; exit 127`

// sftpConn is an SFTP client on one session of a host's pooled connection.
type sftpConn struct {
	*sftp.Client
	h      *Host
	stderr *tailBuffer
	in     *stdinHandoff
	done   chan struct{} // closed when the session is over
	err    error         // the session's error, after done
}

// openSFTP starts an SFTP session on h: the server's "sftp" subsystem, or
// with sudo its sftp-server program run as root through sudo.
func openSFTP(ctx context.Context, h *Host, sudo bool) (*sftpConn, error) {
	if err := h.Connect(ctx); err != nil {
		return nil, err
	}
	c := &sftpConn{h: h, stderr: &tailBuffer{max: 2048}, in: newStdinHandoff(), done: make(chan struct{})}
	out := newStdoutHandoff()
	cmd := runner.Command{Stdin: c.in, Stdout: out, Stderr: c.stderr}
	go func() {
		defer close(c.done)
		var res runner.Result
		if sudo {
			cmd.Cmd = sftpServerScript
			res, c.err = h.RunSudo(ctx, cmd)
		} else {
			cmd.Subsystem = "sftp"
			res, c.err = h.Run(ctx, cmd)
		}
		if c.err == nil && res.ExitCode != 0 {
			c.err = fmt.Errorf("sftp server exited with status %d", res.ExitCode)
		}
		c.in.end()
		out.end()
	}()
	client, err := sftp.NewClientPipe(out, c.in, sftp.MaxPacket(sftpPacket), sftp.MaxConcurrentRequestsPerFile(sftpWindow))
	if err != nil {
		c.in.Close()
		<-c.done
		return nil, c.startError(err)
	}
	c.Client = client
	return c, nil
}

// startError explains why the SFTP session did not start.
func (c *sftpConn) startError(err error) error {
	if c.err != nil && runner.Stage(c.err) != output.StageSession {
		return c.err // connect, auth, timeout, interrupt...
	}
	msg := "sftp: " + err.Error()
	if c.err != nil {
		msg = "sftp: " + c.err.Error()
	}
	if tail := strings.TrimSpace(c.stderr.String()); tail != "" {
		msg = "sftp: " + tail
		if hint := c.h.SudoHint([]byte(tail)); hint != "" {
			msg += " (hint: " + hint + ")"
		}
	}
	return &runner.Error{Stage: output.StageSession, Err: errors.New(msg)}
}

// Close ends the session: the server gets EOF and exits.
func (c *sftpConn) Close() error {
	err := c.Client.Close()
	<-c.done
	return err
}

// lost returns the session's error if the session is over, else nil.
func (c *sftpConn) lost() error {
	select {
	case <-c.done:
		if c.err != nil {
			return c.err
		}
		return &runner.Error{Stage: output.StageSession, Err: errors.New("the sftp session ended")}
	default:
		return nil
	}
}

// has reports whether the server offers the extension name.
func (c *sftpConn) has(name string) bool {
	_, ok := c.HasExtension(name)
	return ok
}

// errText says what an SFTP error means, in the words of errno, for a
// record: "no such file or directory", "permission denied"...
func errText(err error) string {
	var se *sftp.StatusError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, fs.ErrExist):
		return "file exists"
	case errors.Is(err, sftp.ErrSSHFxConnectionLost), errors.Is(err, sftp.ErrSSHFxNoConnection):
		return "connection lost"
	case errors.As(err, &se):
		switch se.FxCode() {
		case sftp.ErrSSHFxFailure:
			return "failure (the server gave no reason)"
		case sftp.ErrSSHFxOpUnsupported:
			return "operation not supported by the server"
		case sftp.ErrSSHFxConnectionLost, sftp.ErrSSHFxNoConnection:
			return "connection lost"
		}
		return strings.TrimPrefix(se.Error(), "sftp: ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errSessionEnded):
		return "the sftp session ended"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return errText(pe.Err)
	}
	return err.Error()
}
