package modules

import (
	"context"
	"fmt"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Ping checks that every host answers as an SSH server, without a shell.
type Ping struct{}

// Name implements Module.
func (Ping) Name() string { return "ping" }

// Summary implements Module.
func (Ping) Summary() string {
	return "TCP connect time and SSH banner of every host, no login, no shell"
}

// Usage implements Module.
func (Ping) Usage() string {
	return `dt PATTERN ping

Reachability without a login: for every host, connect (through its jump
hosts or ProxyCommand, as any connection would), time the TCP connect and
the server's SSH version line, and hang up. No shell, no ICMP, no root.

  $ dt tag:web ping
  okay::dt:ping:web1:tcp 0.31ms banner 1.20ms SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3
  fail::dt:ping:web3:connect: dial tcp 10.0.0.3:22: connection refused
  fail::dt:ping:web4:connect: dial tcp 10.0.0.4:22: timed out after 10s
  fail::dt:ping:web5:connect: dial tcp 10.0.0.5:22: no route to host

"tcp" is the TCP connect (for a host behind a jump host, the jump host's
channel to it; "proxy" for a ProxyCommand), "banner" the wait for the
version line after it. -T (or ssh_config ConnectTimeout) bounds both.
Jump hosts are logged in to as usual; the host itself is not.`
}

// Prepare implements Module.
func (m Ping) Prepare(args []string, _ Options) (Job, error) {
	if len(args) > 0 {
		return nil, usagef(m.Name(), "takes no arguments, got %q", args)
	}
	return pingJob{}, nil
}

type pingJob struct{}

func (pingJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	p, err := h.Ping(ctx)
	if err != nil {
		emit(h.Fail(err))
		return
	}
	emit(h.Okay([]byte(fmt.Sprintf("%s %s banner %s %s", p.Via, runner.FormatMillis(p.Connect), runner.FormatMillis(p.Banner), p.Version))))
}
