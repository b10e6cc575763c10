package modules

import (
	"bytes"
	"context"
	"io"
	"strconv"
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
// It lives in the remote shell only (see sudoWrap).
const sudoPasswordVar = "dt_sudo_pw"

// sudoAskpassVar is the environment variable that hands the password to
// sudo's askpass program (printenv) when sudo asks for it again; see
// sudoWrap.
const sudoAskpassVar = "DT_SUDO_PW"

// sudoRejected is the line the wrapper prints on stderr when sudo did not
// accept the password (or the user): the host is then not asked again.
const sudoRejected = "dt: sudo validation failed"

// sudoRejectedStatus is the wrapper's exit status with sudoRejected.
const sudoRejectedStatus = 1

// sudoWrap rewrites c so that it runs as root through sudo.
//
// Without a password it is "sudo -n -- env SVDIR=... sh -c CMD": sudo
// resets the environment, and the login session's $SVDIR (runit's service
// directory) is kept on purpose.
//
// With one (-K), the remote shell reads the first line of standard input
// into a variable (read is a builtin of every POSIX shell) and the
// command's own standard input follows it:
//
//   - With a PTY (-i), the terminal is requested with echo off, so the
//     password line is never echoed back; "stty echo" turns echo on again
//     once it has been read, before the command starts.
//   - "sudo -S -v" validates the password, reading it from a pipe only when
//     it needs it, so a cached or NOPASSWD credential never leaves the
//     password where the command could read it. The pipe is written by a
//     shell builtin, never by a program that would get the password as an
//     argument: printf where the shell has it built in (bash, dash, zsh),
//     else print (mksh, ksh), else a here-document (posh; such shells keep
//     it in a private 0600 temporary file while sudo reads it, and remove
//     it at once). A wrong password stops here, after one attempt (three
//     could lock the account), with the sudoRejected line: Host does not
//     ask sudo again on that host.
//   - The command runs with "sudo -A": it uses the credential just
//     validated, and when there is none (timestamp_timeout=0 in sudoers)
//     sudo runs its askpass program, printenv, which prints the password
//     from the environment sudo was started with (an environment is not
//     an argument: only the user and root can read it). The variable is
//     named by sudo's prompt (-p), and removed from the command's
//     environment. This relies on sudo passing -p's prompt to askpass,
//     which it does unless PAM asks with a prompt of its own (a translated
//     "Password:").
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
	pw := `"$` + sudoPasswordVar + `"`
	var b strings.Builder
	b.WriteString("IFS= read -r " + sudoPasswordVar + " || exit 1\n")
	if c.PTY {
		c.NoEcho = true
		b.WriteString("stty echo 2>/dev/null\n")
	}
	b.WriteString("dt_sudo_feed() {\n" +
		"case $(command -v printf) in printf) printf '%s\\n' " + pw + "; return;; esac\n" +
		"case $(command -v print) in print) print -r -- " + pw + "; return;; esac\n" +
		"cat <<DT_SUDO_PW_END\n$" + sudoPasswordVar + "\nDT_SUDO_PW_END\n" +
		"}\n")
	b.WriteString("dt_sudo_feed | sudo -S -p '' -v || { echo '" + sudoRejected + "' >&2; exit " + strconv.Itoa(sudoRejectedStatus) + "; }\n")
	b.WriteString(sudoAskpassVar + "=$" + sudoPasswordVar + " SUDO_ASKPASS=$(command -v printenv) " +
		"sudo -A -p " + sudoAskpassVar + " -- env -u " + sudoAskpassVar + " -u SUDO_ASKPASS " + strings.TrimPrefix(env, "env ") + "\n")
	b.WriteString("dt_rc=$?; unset " + sudoPasswordVar + "; sudo -k; exit $dt_rc")
	c.Cmd = b.String()
	in := io.Reader(bytes.NewReader(append(bytes.Clone(password), '\n')))
	if c.Stdin != nil {
		in = io.MultiReader(in, c.Stdin)
	}
	c.Stdin = in
	return c
}

// sudoValidationFailed reports whether res is the wrapper's own report
// that sudo refused the password, and returns the output without the
// wrapper's line.
func sudoValidationFailed(res runner.Result) ([]byte, bool) {
	if res.ExitCode != sudoRejectedStatus {
		return res.Output, false
	}
	out := bytes.TrimRight(res.Output, "\r\n")
	rest, ok := bytes.CutSuffix(out, []byte(sudoRejected))
	if !ok {
		return res.Output, false
	}
	return rest, true
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
	line, err := commandLine(m.Name(), args)
	if err != nil {
		return nil, err
	}
	if opts.Interactive {
		return nil, usagef(m.Name(), "-i is not supported with sudo: the password goes through standard input; use -K")
	}
	return sudoJob{cmd: line}, nil
}

type sudoJob struct{ cmd string }

func (j sudoJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	emit(h.Result(h.RunSudo(ctx, runner.Command{Cmd: j.cmd})))
}
