package modules

import (
	"bytes"
	"context"
	"io"
	"strings"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Privilege says how a run elevates its remote commands: the global --sudo
// and -K/--ask-sudo-pass flags, and the sudo module.
type Privilege struct {
	// Sudo runs every remote command of every module through sudo.
	Sudo bool
	// Password, when set (-K), is given to sudo on the command's standard
	// input, never on a command line; without it sudo runs with -n and
	// fails at once when it would need a password.
	Password []byte
}

// sudoPasswordVar is the remote shell variable the password is read into.
// It lives in the remote shell only: printf is a shell builtin, so the
// password never appears in any process's arguments.
const sudoPasswordVar = "dt_sudo_pw"

// sudoAskpassVar is the environment variable that hands the password to
// sudo's askpass program (printenv) when sudo asks for it again; see
// sudoWrap.
const sudoAskpassVar = "DT_SUDO_PW"

// sudoWrap rewrites c so that it runs as root through sudo.
//
// Without a password it is "sudo -n -- env SVDIR=... sh -c CMD": sudo
// resets the environment, and the login session's $SVDIR (runit's service
// directory) is kept on purpose.
//
// With one (-K), the remote shell reads the first line of standard input
// into a variable and the command's own standard input follows it:
//
//   - "sudo -S -v" validates the password, reading it from a pipe only when
//     it needs it, so a cached or NOPASSWD credential never leaves the
//     password where the command could read it. A wrong password stops
//     here, after one attempt (three could lock the account).
//   - The command runs with "sudo -A": it uses the credential just
//     validated, and when there is none (timestamp_timeout=0 in sudoers)
//     sudo runs its askpass program, printenv, which prints the password
//     from the environment sudo was started with. The variable is named by
//     sudo's prompt (-p), and removed from the command's environment.
//     This relies on sudo passing -p's prompt to askpass, which it does
//     unless PAM asks with a prompt of its own (a translated "Password:").
//   - Without a terminal sudo keys its credential on the parent process,
//     so both sudo runs must be children of the same shell: the trailing
//     "exit" keeps the shell from exec'ing the last one, and "sudo -k" then
//     drops the credential instead of leaving it cached on the host.
func sudoWrap(c runner.Command, password []byte) runner.Command {
	env := `env SVDIR="${SVDIR-}" sh -c ` + Quote(c.Cmd)
	if password == nil {
		c.Cmd = "sudo -n -- " + env
		return c
	}
	c.Cmd = "IFS= read -r " + sudoPasswordVar + " || exit 1; " +
		"printf '%s\\n' \"$" + sudoPasswordVar + "\" | sudo -S -p '' -v || exit 1; " +
		sudoAskpassVar + "=$" + sudoPasswordVar + " SUDO_ASKPASS=$(command -v printenv) " +
		"sudo -A -p " + sudoAskpassVar + " -- env -u " + sudoAskpassVar + " -u SUDO_ASKPASS " + strings.TrimPrefix(env, "env ") +
		"; dt_rc=$?; unset " + sudoPasswordVar + "; sudo -k; exit $dt_rc"
	in := io.Reader(bytes.NewReader(append(bytes.Clone(password), '\n')))
	if c.Stdin != nil {
		in = io.MultiReader(in, c.Stdin)
	}
	c.Stdin = in
	return c
}

// sudoHint explains the usual sudo failures in a record's message.
func sudoHint(out []byte) string {
	s := string(out)
	switch {
	case strings.Contains(s, "a password is required"):
		return "sudo needs a password: use -K/--ask-sudo-pass, or a NOPASSWD rule in sudoers"
	case strings.Contains(s, "incorrect password"), strings.Contains(s, "Sorry, try again"):
		return "sudo rejected the password given with -K"
	case strings.Contains(s, "is not in the sudoers file"), strings.Contains(s, "is not allowed to"):
		return "the login user may not run this through sudo"
	case strings.Contains(s, "sudo: command not found"), strings.Contains(s, "sudo: not found"):
		return "sudo is not installed on this host"
	}
	return ""
}

// Sudo runs a command line as root through sudo on every host.
type Sudo struct{}

// Name implements Module.
func (Sudo) Name() string { return "sudo" }

// Summary implements Module.
func (Sudo) Summary() string {
	return "run a command line as root through sudo (-K asks the password once)"
}

// Usage implements Module.
func (Sudo) Usage() string {
	return `dt PATTERN sudo CMD [ARGS...]

Runs CMD as root through sudo on every host, like "ssh HOST sudo sh -c CMD":
the arguments are joined with single spaces and run by sh as root.

  dt tag:web sudo 'apt-get -qq update'
  dt -K tag:db sudo systemctl restart postgresql

sudo runs with -n (non-interactive): a host where sudo wants a password
fails at once with a hint. With -K (--ask-sudo-pass) dt asks for the
password once, on the terminal, before connecting, and gives it to sudo on
each host through standard input: never on a command line, never in a
record, never echoed.

The global --sudo flag runs every remote command of any module through sudo
the same way (e.g. dt --sudo tag:web systemctl restart app as a non-root
login).`
}

// Prepare implements Module.
func (m Sudo) Prepare(args []string, opts Options) (Job, error) {
	if len(args) == 0 || strings.TrimSpace(strings.Join(args, " ")) == "" {
		return nil, usagef(m.Name(), "missing command; usage: dt PATTERN sudo CMD [ARGS...]")
	}
	if opts.Interactive {
		return nil, usagef(m.Name(), "-i is not supported with sudo: the password goes through standard input; use -K")
	}
	return sudoJob{cmd: strings.Join(args, " ")}, nil
}

type sudoJob struct{ cmd string }

func (j sudoJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	emit(h.Result(h.RunSudo(ctx, runner.Command{Cmd: j.cmd})))
}
