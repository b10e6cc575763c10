package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/modules"
	"github.com/dtools/dt/runner"
)

// Exit statuses: decided here and in run, documented in README and --help.
const (
	exitOK          = 0   // every host okay
	exitFailed      = 1   // one or more hosts failed, or no host matched
	exitUsage       = 2   // bad flags, pattern or inventory
	exitModule      = 3   // the module rejected its arguments
	exitInterrupted = 130 // Ctrl-C, SIGTERM or SIGHUP
)

const helpText = `dt runs a command on many hosts at once, in parallel over native SSH
connections, and prints one parseable line per host:

   STATUS::dt:MODULE:HOST:MESSAGE

   $ dt tag:linux ssh date
   okay::dt:ssh:web1:Mon Nov 16 23:54:04 CET 2009
   fail::dt:ssh:web3:connect: dial tcp 127.0.0.3:22: connection refused

STATUS is okay, fail or skip (a host a rolling run never started: --batch,
--max-fail); MESSAGE is the output (stdout and stderr in arrival
order) with \ as \\, newline as \n, CR as \r and other control bytes (C1
too) as \xHH, so every record is one line. Split on the first five colons.

MODULES (dt --list; dt help MODULE)
   ssh CMD...          run a command line, like ssh HOST CMD
   script FILE ARGS... run a local script on every host
   list                print matched hosts and tags, connect to nothing
   sudo CMD...         run a command line as root through sudo
   systemctl VERB UNIT...  start/stop/restart/status systemd units, verified
   journal [UNIT...]   journal lines of every host, merged by time (-f follows)
   runit VERB SVC...   runit services via sv: status, start, stop, restart...
   svc VERB NAME...    one normalized view: systemd unit or runit service
   copy SRC... DEST    push files over SFTP: atomic, unchanged files untouched
   fetch REMOTE... DIR pull files over SFTP into DIR/HOST/
   deploy FILE...      install unit files: verify, reload, enable, restart, roll back
   ping                TCP connect time and SSH banner, no login
   local CMD...        run CMD here once per host ({host} is the name)
   ssh-copy-id KEY...  add public keys to authorized_keys (-i: password)
   add / tag / del     manage the inventory (add fetches host keys)
   sh                  interactive shell on the hosts: dt PATTERN sh

PATTERNS
%s
VIEWS (for people; scripts read the lines or --json)
   -b, --view gather   hosts with the same output once, under h[01-20] (20 hosts),
                       the smallest groups (the odd ones) first
   --view host         each host's output under its name, in selection order
   --view status       failures first, then the rest
   --view compact      a dot per okay host as they finish, then the failures
   dt view VIEW [FILE] the same over saved lines or --json records (or stdin)
   On a terminal, a progress line while the run goes and a summary after it,
   on stderr (--summary: also on a pipe; --quiet: neither). --stream prints
   each output line as a record as it arrives, then each host's exit status.

INVENTORY
   ~/.dtdb (or -D FILE, or $DTOOLS_DB), one host per line:
      [user@]host[:port][|[user@]jump[:port][,jump2...]] tag1 tag2 ...
   Without it, the plain host names of ~/.ssh/known_hosts are used.
   Hosts are resolved through ~/.ssh/config and /etc/ssh/ssh_config
   (or -F FILE); user, port and jump written in the inventory win.

CONNECTION KEEPER (--persist D, DT_PERSIST=D, ssh_config ControlPersist)
   After the run dt's connections stay open in a background keeper of
   yours until idle for D; the next dt on those hosts runs its sessions
   over them: no TCP connect, no key exchange, no login. A connection is
   reused only for the same user, address, port, jump chain, identity and
   known_hosts entries. dt mux status lists them, dt mux stop closes all.

EXIT STATUS
   0 every host okay; 1 a host failed or was skipped, or no host matched;
   2 usage, pattern or inventory error; 3 bad module arguments;
   130 interrupted (Ctrl-C, SIGTERM, SIGHUP)`

// options is everything the command line says.
type options struct {
	db             string
	sshConfig      string
	fanout         int
	interactive    bool
	connectTimeout time.Duration
	timeout        time.Duration
	hostKeys       runner.HostKeyPolicy
	pretend        bool
	noColor        bool
	json           bool
	list           bool
	sudo           bool
	askSudoPass    bool
	stdin          bool // -I: give dt's standard input to every host's command
	ec2Private     bool
	dtsh           bool // run as dtsh: the shell, PATTERN optional
	rollout        modules.Rollout
	view           string // --view, -b: "" or one of output.ViewNames
	sort           bool
	stream         bool
	summary        bool
	quiet          bool
	persist        time.Duration // runner.Config.Persist
	args           []string      // PATTERN MODULE ARGS...
}

// flagHint follows every error about the command line's flags.
const flagHint = "see dt --help"

// flagErrorf is an error in a flag's value: exit status 2 and a hint.
func flagErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...), hint: flagHint}
}

// parseDuration takes a Go duration ("2s", "500ms") or a plain number of
// seconds ("10", "1.5").
func parseDuration(flag, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, flagErrorf("--%s %q: must not be negative", flag, s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, flagErrorf("--%s %q: want a duration like 10s, 500ms or a number of seconds", flag, s)
	}
	return d, nil
}

// newFlags returns dt's global options (new ones each time: urfave/cli
// keeps parse state in them).
func newFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "db", Aliases: []string{"D"}, Usage: "inventory `FILE`", EnvVars: []string{"DTOOLS_DB"}, DefaultText: "~/.dtdb"},
		&cli.StringFlag{Name: "config", Aliases: []string{"F"}, Usage: "ssh config `FILE` instead of ~/.ssh/config and /etc/ssh/ssh_config (like ssh -F)"},
		&cli.IntFlag{Name: "fanout", Aliases: []string{"C", "coproc"}, Value: runner.DefaultFanout, Usage: "run at most `N` hosts at once"},
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "one host at a time with the terminal attached (for prompts)"},
		&cli.StringFlag{Name: "connect-timeout", Aliases: []string{"T"}, Usage: "TCP connect + SSH handshake limit, e.g. 5s (default: ssh_config ConnectTimeout, else 10s)"},
		&cli.StringFlag{Name: "timeout", Usage: "per-host deadline for the module's commands, e.g. 30s, 2m (default: none)"},
		&cli.StringFlag{Name: "host-keys", Usage: "host key policy: strict, accept-new or off (default: ssh_config StrictHostKeyChecking, else strict)"},
		&cli.BoolFlag{Name: "pretend", Aliases: []string{"p"}, Usage: "print the hosts that would run, run nothing"},
		&cli.BoolFlag{Name: "no-color", Aliases: []string{"N"}, Usage: "never color the output (also: NO_COLOR=1)"},
		&cli.BoolFlag{Name: "sudo", Usage: "run every remote command through sudo (sudo -n unless -K)"},
		&cli.BoolFlag{Name: "ask-sudo-pass", Aliases: []string{"K"}, Usage: "ask the sudo password once, on the terminal; give it to sudo on each host through stdin (with --sudo or the sudo module)"},
		&cli.BoolFlag{Name: "stdin", Aliases: []string{"I"}, Usage: "read standard input once and give it to every host's command (ssh); without -I commands read EOF"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object per record instead of lines"},
		&cli.StringFlag{Name: "persist", Usage: "keep the connections open in a background keeper for `D` idle (e.g. 10m), so that the next dt on these hosts logs in nowhere; 0 or no: keep none (default: ssh_config ControlPersist)", EnvVars: []string{"DT_PERSIST"}},
		&cli.BoolFlag{Name: "ec2-private", Usage: "ec2: names instances by their private IP address (default: public DNS name, else public IP)"},
		&cli.BoolFlag{Name: "list", Usage: "list modules and patterns"},
	}, append(rolloutFlags(), viewFlags()...)...)
}

// readOptions fills options from the parsed command line and checks the
// values the flag parser cannot.
func readOptions(c *cli.Context) (options, error) {
	opts := options{
		db:          c.String("db"),
		sshConfig:   c.String("config"),
		fanout:      c.Int("fanout"),
		interactive: c.Bool("interactive"),
		pretend:     c.Bool("pretend"),
		noColor:     c.Bool("no-color"),
		json:        c.Bool("json"),
		list:        c.Bool("list"),
		sudo:        c.Bool("sudo"),
		askSudoPass: c.Bool("ask-sudo-pass"),
		stdin:       c.Bool("stdin"),
		ec2Private:  c.Bool("ec2-private"),
		args:        c.Args().Slice(),
	}
	var err error
	if opts.connectTimeout, err = parseDuration("connect-timeout", c.String("connect-timeout")); err != nil {
		return options{}, err
	}
	if opts.timeout, err = parseDuration("timeout", c.String("timeout")); err != nil {
		return options{}, err
	}
	if v := c.String("host-keys"); v != "" {
		if opts.hostKeys, err = runner.ParseHostKeyPolicy(v); err != nil {
			return options{}, flagErrorf("--host-keys: %v", err)
		}
	}
	if opts.fanout < 1 {
		return options{}, flagErrorf("--fanout %d: must be at least 1", opts.fanout)
	}
	if opts.rollout, err = readRollout(c); err != nil {
		return options{}, err
	}
	if err := readViewOptions(c, &opts); err != nil {
		return options{}, err
	}
	opts.persist = defaultPersist
	if c.IsSet("persist") {
		if opts.persist, err = parsePersist(c.String("persist")); err != nil {
			return options{}, err
		}
	}
	return opts, nil
}

// runCLI parses args and runs dt, returning the exit status. Help asked
// for (--help, -h) goes to stdout; any error about the command line is
// one "dt: error:" line and a hint on stderr, nothing on stdout, exit 2.
func runCLI(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	flags := newFlags()
	code := exitOK
	app := &cli.App{
		Name:            "dt",
		Usage:           "run commands on many hosts at once",
		UsageText:       "dt [OPTIONS] PATTERN MODULE [ARGS...]\ndt view VIEW [FILE]\ndt mux status|stop\ndt --list\ndt help MODULE",
		Description:     fmt.Sprintf(helpText, indent(hosts.Grammar, "   ")),
		HideHelpCommand: true,
		Writer:          stdout,
		ErrWriter:       stderr,
		Reader:          stdin,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return flagError(err, args, flags)
		},
		Flags: flags,
		Action: func(c *cli.Context) error {
			opts, err := readOptions(c)
			if err != nil {
				return err
			}
			opts.dtsh = len(args) > 0 && filepath.Base(args[0]) == "dtsh"
			code = run(ctx, opts, e)
			return nil
		},
	}
	if err := app.RunContext(ctx, args); err != nil {
		var ee *exitError
		if !errors.As(err, &ee) {
			err = &exitError{code: exitUsage, err: err, hint: flagHint}
		}
		return e.report(err)
	}
	return code
}

// Go's flag package, which urfave/cli parses with, words its errors for
// a programmer: "flag provided but not defined: -bogus". flagError
// rewrites them for the person at the terminal.
var (
	reUndefined = regexp.MustCompile(`^flag provided but not defined: -(.*)$`)
	reBadValue  = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-(\S+): `)
	reNoValue   = regexp.MustCompile(`^flag needs an argument: -(\S+)$`)
	reSyntax    = regexp.MustCompile(`^bad flag syntax: (.*)$`)
)

// flagError turns a flag parsing error into an *exitError (exit status 2,
// hint dt --help). args is the command line, to quote an unknown flag as
// it was typed; flags are the flags it was parsed with.
func flagError(err error, args []string, flags []cli.Flag) error {
	msg := err.Error()
	switch {
	case reUndefined.MatchString(msg):
		name := reUndefined.FindStringSubmatch(msg)[1]
		return flagErrorf("unknown flag %q", typed(name, args))
	case reBadValue.MatchString(msg):
		m := reBadValue.FindStringSubmatch(msg)
		val, qerr := strconv.Unquote(m[1])
		if qerr != nil {
			val = m[1]
		}
		return flagErrorf("%s %q: %s", dashed(m[2]), val, wantFor(m[2], flags))
	case reNoValue.MatchString(msg):
		return flagErrorf("%s needs a value", dashed(reNoValue.FindStringSubmatch(msg)[1]))
	case reSyntax.MatchString(msg):
		return flagErrorf("bad flag syntax %q", reSyntax.FindStringSubmatch(msg)[1])
	}
	return flagErrorf("%v", err)
}

// dashed writes a flag name as it is typed: -D, --db.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// typed returns the argument that named the unknown flag name ("--bogus",
// "-bogus=1" gives "-bogus"), or the name dashed.
func typed(name string, args []string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		flag, _, _ := strings.Cut(a, "=")
		if strings.HasPrefix(flag, "-") && strings.TrimLeft(flag, "-") == name {
			return flag
		}
	}
	return dashed(name)
}

// wantFor says what the value of the flag called name must look like.
func wantFor(name string, flags []cli.Flag) string {
	for _, f := range flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.IntFlag:
			return "want a whole number"
		case *cli.BoolFlag:
			return "want true or false, or no value"
		}
	}
	return "bad value"
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// moduleList prints the modules and the pattern grammar: "dt --list" and
// "dt help".
func moduleList(w io.Writer) {
	fmt.Fprintln(w, "MODULES")
	for _, name := range modules.Names() {
		m, _ := modules.Lookup(name)
		fmt.Fprintf(w, "   %-12s %s\n", m.Name(), m.Summary())
	}
	fmt.Fprintf(w, "   %-12s %s\n", "sh", "interactive shell on the hosts: dt PATTERN sh (dt help sh)")
	fmt.Fprintln(w, "\nPATTERNS")
	fmt.Fprint(w, indent(hosts.Grammar, "   "))
}
