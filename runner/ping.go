package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/dtools/dt/output"
)

// Ping is what Pool.Ping measured of one host.
type Ping struct {
	// Via is how the connection was made: "tcp" (directly, or by the
	// last jump host), or "proxy" (t's ProxyCommand).
	Via string
	// Connect is how long the connection took to open: the TCP
	// handshake, or for a jump host the channel it opened to the host.
	Connect time.Duration
	// Banner is how long the server then took to send its version line.
	Banner time.Duration
	// Version is the server's version line, "SSH-2.0-OpenSSH_9.2p1 ...".
	Version string
}

// Maximum sizes of what Ping reads before the version line: RFC 4253
// allows other lines first, each at most 255 bytes with its CR LF.
const (
	maxBannerLine  = 255
	maxBannerLines = 32
)

// Ping checks that t answers as an SSH server, without logging in: it
// connects (through t's jump hosts, which are logged in to as usual, or
// its ProxyCommand), times the connection, reads the server's version
// line and hangs up. Both steps share t's connect timeout. Errors name
// what went wrong: a refused, timed out or unroutable connection
// (StageConnect), or a server that sent no version line in time or is
// not an SSH server (StageHandshake).
func (p *Pool) Ping(ctx context.Context, t *Target) (Ping, error) {
	l, via, err := p.jumps(ctx, t)
	if err != nil {
		return Ping{}, err
	}
	defer l.Release()
	res := Ping{Via: "tcp"}
	if via == nil && t.ProxyCommand != "" {
		res.Via = "proxy"
	}
	dctx, cancel := context.WithTimeout(ctx, t.ConnectTimeout)
	defer cancel()
	start := time.Now()
	conn, err := transport(ctx, dctx, t, via, p.cfg.Shell, nil)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	connected := time.Now()
	res.Connect = connected.Sub(start)

	// Channels of a jump host's connection have no deadlines: close the
	// connection to stop the read when time is up.
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	version, err := readVersion(conn)
	timedOut := !stop()
	res.Banner = time.Since(connected)
	switch {
	case timedOut:
		if cause := context.Cause(ctx); cause != nil {
			return res, cause
		}
		return res, stageErr(output.StageHandshake, "%s accepted the connection (%s %s) but sent no SSH version line within %s",
			t.Addr(), res.Via, FormatMillis(res.Connect), t.ConnectTimeout)
	case err != nil:
		return res, &Error{Stage: output.StageHandshake, Err: fmt.Errorf("%s: %w", t.Addr(), err)}
	}
	res.Version = version
	return res, nil
}

// readVersion reads the server's identification line (RFC 4253 4.2),
// skipping the lines a server may send before it.
func readVersion(r io.Reader) (string, error) {
	var line []byte
	one := make([]byte, 1)
	for n := 0; n < maxBannerLines; {
		_, err := r.Read(one)
		if err != nil {
			if len(line) > 0 || n > 0 {
				return "", fmt.Errorf("not an SSH server: the connection ended after %q", clip(line))
			}
			return "", fmt.Errorf("the connection ended before the SSH version line (%v)", err)
		}
		if one[0] != '\n' {
			if len(line) >= maxBannerLine {
				return "", fmt.Errorf("not an SSH server: it sent %q...", clip(line))
			}
			line = append(line, one[0])
			continue
		}
		l := bytes.TrimSuffix(line, []byte("\r"))
		if bytes.HasPrefix(l, []byte("SSH-")) {
			return output.Escape(l), nil
		}
		if n == 0 && !printable(l) {
			return "", fmt.Errorf("not an SSH server: it sent %q", clip(l))
		}
		line = line[:0]
		n++
	}
	return "", fmt.Errorf("not an SSH server: %d lines without an SSH version line", maxBannerLines)
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func clip(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// FormatMillis writes d in milliseconds with two decimals: "0.31ms".
func FormatMillis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}
