package runner

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proxyConn is a connection over the standard input and output of an
// ssh_config ProxyCommand. Like OpenSSH, dt runs the command with the
// user's shell as "exec COMMAND", in its own process group, and hangs it
// up when the connection closes.
type proxyConn struct {
	command string
	cmd     *exec.Cmd
	r, w    *os.File // our ends of the command's stdout and stdin
	stderr  *tailBuffer

	done    chan struct{} // closed when the command has exited
	waitErr error
	close   sync.Once
}

// startProxy starts command, already %-expanded, with shell and the
// environment env (nil: this process's).
func startProxy(shell, command string, env []string) (*proxyConn, error) {
	if shell == "" {
		shell = "/bin/sh"
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	c := &proxyConn{command: command, r: outR, w: inW, stderr: &tailBuffer{max: 4096}, done: make(chan struct{})}
	c.cmd = exec.Command(shell, "-c", "exec "+command)
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = inR, outW, c.stderr
	c.cmd.Env = env
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = c.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		outR.Close()
		inW.Close()
		return nil, err
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *proxyConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *proxyConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// Close hangs up the command (its whole process group), and kills it if
// it is still there a second later.
func (c *proxyConn) Close() error {
	c.close.Do(func() {
		c.w.Close()
		c.r.Close()
		pgid := c.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGHUP)
		go func() {
			select {
			case <-c.done:
			case <-time.After(time.Second):
				syscall.Kill(-pgid, syscall.SIGKILL)
			}
		}()
	})
	return nil
}

// failure says why the command ended the connection, when it exited on its
// own within wait: its exit status and the end of what it wrote on stderr.
// It returns "" when the command is still running.
func (c *proxyConn) failure(wait time.Duration) string {
	select {
	case <-c.done:
	case <-time.After(wait):
		return ""
	}
	why := "exited"
	var ee *exec.ExitError
	if errors.As(c.waitErr, &ee) {
		why = ee.String() // "exit status 1", "signal: killed"
	} else if c.waitErr != nil {
		why = c.waitErr.Error()
	} else {
		why = "exited with status 0"
	}
	if msg := c.stderr.lastLine(); msg != "" {
		why += ": " + msg
	}
	return why
}

func (c *proxyConn) LocalAddr() net.Addr                { return proxyAddr("dt") }
func (c *proxyConn) RemoteAddr() net.Addr               { return proxyAddr(c.command) }
func (c *proxyConn) SetDeadline(t time.Time) error      { return c.r.SetDeadline(t) }
func (c *proxyConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *proxyConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// proxyAddr names a ProxyCommand's end of the connection.
type proxyAddr string

func (a proxyAddr) Network() string { return "proxy" }
func (a proxyAddr) String() string  { return string(a) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

// lastLine returns the last non-empty line written.
func (b *tailBuffer) lastLine() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(string(bytes.TrimSpace(b.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// proxyToken reports a value that must not be substituted into a
// ProxyCommand: the shell runs it, so host and user names may hold no
// shell syntax (as OpenSSH has refused since 9.6).
func proxyToken(what, v string) error {
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("._-:@[]", r):
		default:
			return fmt.Errorf("%s %q holds %q, which a ProxyCommand would hand to the shell", what, v, r)
		}
	}
	return nil
}
