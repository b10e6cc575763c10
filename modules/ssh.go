package modules

import (
	"context"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// SSH runs a command line on every host, like OpenSSH's "ssh HOST ARGS...".
type SSH struct{}

// Name implements Module.
func (SSH) Name() string { return "ssh" }

// Summary implements Module.
func (SSH) Summary() string { return "run a command line on every host (like ssh HOST CMD)" }

// Usage implements Module.
func (SSH) Usage() string {
	return `dt PATTERN ssh CMD [ARGS...]

Runs CMD on every host, as OpenSSH's "ssh HOST CMD ARGS..." does: the
arguments are joined with single spaces and the remote user's shell runs the
result, so quote what your local shell must not expand:

  dt tag:web ssh uptime
  dt tag:web ssh 'ls /srv | wc -l'
  dt -C 10 --timeout 30s tag:db ssh 'systemctl is-active postgresql'

One line per host: okay when the command exits 0, otherwise
fail with "exit N: OUTPUT" (or the stage that failed: connect, auth, ...).
With -i the hosts run one at a time with the terminal attached.

The command's standard input is empty (it reads EOF) unless dt runs with
-I/--stdin: then dt reads its own standard input once and gives all of it
to every host's command:

  tar czf - ./site | dt -I tag:web ssh 'tar xzf - -C /srv'`
}

// ReadsStdin implements StdinModule: -I feeds the command.
func (SSH) ReadsStdin() bool { return true }

// Prepare implements Module.
func (m SSH) Prepare(args []string, opts Options) (Job, error) {
	line, err := commandLine(m.Name(), args)
	if err != nil {
		return nil, err
	}
	return commandJob{cmd: line, opts: opts}, nil
}

// commandJob runs one shell command line per host.
type commandJob struct {
	cmd  string
	opts Options
}

func (j commandJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	c := runner.Command{Cmd: j.cmd}
	if j.opts.Interactive {
		// Log in before the terminal is read for the remote command or
		// made raw: the login may ask a password or a passphrase on it,
		// and the keystrokes must reach that question, not the command.
		if err := h.Connect(ctx); err != nil {
			emit(h.Result(runner.Result{ExitCode: -1}, err))
			return
		}
		c.Stdout, c.Stderr, c.PTY = j.opts.Stdout, j.opts.Stderr, j.opts.StdinIsTerminal
		if j.opts.Stdin != nil {
			in := j.opts.Stdin.Reader()
			defer in.Close()
			c.Stdin = in
		}
		if c.PTY && j.opts.RawTerminal != nil {
			restore := j.opts.RawTerminal()
			res, err := h.Run(ctx, c)
			restore()
			emit(h.Result(res, err))
			return
		}
	}
	if j.opts.Input != nil {
		c.Stdin = j.opts.Input.Reader()
	}
	emit(h.Result(h.Run(ctx, c)))
}
