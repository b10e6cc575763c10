package modules

import (
	"context"
	"strings"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Local runs a command on this machine once per host.
type Local struct{}

// Name implements Module.
func (Local) Name() string { return "local" }

// Summary implements Module.
func (Local) Summary() string {
	return "run a command on this machine once per host, the host as {host} or last argument"
}

// Usage implements Module.
func (Local) Usage() string {
	return `dt PATTERN local CMD [ARGS...]

Runs CMD on this machine once for every matched host, with the same
fanout (-C), --timeout, lines and exit codes as the remote modules. As
with ssh, the arguments are joined with spaces and /bin/sh runs the
result; the host's name, shell-quoted, replaces every {host}, or is added
as the last argument when there is none (as dtools did):

  dt tag:web local dig +short {host}
  dt tag:web local 'ping -c1 -W1 {host} | tail -1'
  dt tag:web local echo          # okay::dt:local:web1:web1

The command also finds the name in $DT_HOST. Nothing connects to the
hosts. Output is stdout and stderr in arrival order; a non-zero exit
fails the host with "exit N: OUTPUT"; on --timeout or Ctrl-C the
command's process group gets TERM, then KILL. With -i the hosts run one
at a time with the terminal attached, as from a shell: a program that
asks on the terminal (ipmitool -a, a passphrase) gets the answer typed.`
}

// Prepare implements Module.
func (m Local) Prepare(args []string, opts Options) (Job, error) {
	if len(args) == 0 || strings.TrimSpace(strings.Join(args, " ")) == "" {
		return nil, usagef(m.Name(), "missing command; usage: dt PATTERN local CMD [ARGS...]")
	}
	return localJob{cmd: strings.Join(args, " "), opts: opts}, nil
}

type localJob struct {
	cmd  string
	opts Options
}

// Local implements LocalJob: local never dials.
func (localJob) Local() bool { return true }

// GateOnHost implements HostGate: with --gate, the gate runs on the host
// (over SSH) after the command here.
func (localJob) GateOnHost() bool { return true }

// hostPlaceholder is replaced by the host's name in local's command.
const hostPlaceholder = "{host}"

// localCommand returns cmd for host: every {host} replaced by the quoted
// name, or the name added as the last argument when there is none.
func localCommand(cmd, host string) string {
	if strings.Contains(cmd, hostPlaceholder) {
		return strings.ReplaceAll(cmd, hostPlaceholder, Quote(host))
	}
	return cmd + " " + Quote(host)
}

func (j localJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	c := runner.LocalCommand{
		Cmd: localCommand(j.cmd, h.Name()),
		Env: append(append([]string(nil), j.opts.Environ...), "DT_HOST="+h.Name()),
	}
	if j.opts.Interactive {
		c.Stdout, c.Stderr, c.Terminal = j.opts.Stdout, j.opts.Stderr, true
		if f, ok := j.opts.Stdin.File(); ok && j.opts.StdinIsTerminal {
			c.Stdin = f // the terminal itself, as a shell gives it
		} else if j.opts.Stdin != nil {
			in := j.opts.Stdin.Reader()
			defer in.Close()
			c.Stdin = in
		}
	}
	res, err := runner.RunLocal(ctx, c)
	if err != nil {
		msg := err.Error()
		switch runner.Stage(err) {
		case output.StageTimeout, output.StageInterrupt:
			msg += "; command stopped"
		}
		r := h.Fail(err)
		r.Message = []byte(msg + outputSoFar(res.Output))
		emit(r)
		return
	}
	emit(h.Result(res, nil))
}

// outputSoFar is the note a stopped command's record ends with.
func outputSoFar(out []byte) string {
	if len(out) == 0 {
		return ""
	}
	return "; output so far:\n" + strings.TrimSuffix(string(out), "\n")
}
