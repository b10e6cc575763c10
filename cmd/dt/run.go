package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/dtools/dt/ec2"
	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/modules"
	"github.com/dtools/dt/runner"
)

// env is the process environment run works in; tests pass their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func (e env) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "dt: error: "+format+"\n", args...)
}

func (e env) hintf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "dt: hint: "+format+"\n", args...)
}

// report prints err for the person at the terminal, "dt: error: ..." and,
// for an *exitError with a hint, "dt: hint: ...", and returns the exit
// status it stands for: the *exitError's, else exitUsage.
func (e env) report(err error) int {
	e.errorf("%v", err)
	var ee *exitError
	if !errors.As(err, &ee) {
		return exitUsage
	}
	if ee.hint != "" {
		e.hintf("%s", ee.hint)
	}
	return ee.code
}

// exitError is an error that ends the run with exit status code, and what
// to tell the person next.
type exitError struct {
	code int
	err  error
	hint string // "" for none
}

func (e *exitError) Error() string { return e.err.Error() }

func (e *exitError) Unwrap() error { return e.err }

// usageError is an error in the command line other than its flags (exit
// status 2), with an optional hint.
func usageError(err error, hint string) error {
	return &exitError{code: exitUsage, err: err, hint: hint}
}

// run does one dt invocation and returns its exit status.
func run(ctx context.Context, opts options, e env) int {
	switch {
	case opts.list:
		moduleList(e.stdout)
		return exitOK
	case len(opts.args) > 0 && opts.args[0] == "help":
		return help(opts.args[1:], e)
	case len(opts.args) > 0 && opts.args[0] == "view":
		return viewCommand(opts.args[1:], opts, e)
	case len(opts.args) > 0 && opts.args[0] == "mux":
		return muxCommand(ctx, opts.args[1:], e)
	case opts.dtsh || len(opts.args) == 1 && opts.args[0] == "sh" || len(opts.args) >= 2 && opts.args[1] == "sh":
		pattern, rest := shellArgs(opts)
		if len(rest) > 0 {
			return e.report(usageError(fmt.Errorf("sh takes no arguments after the pattern, got %q", rest), "usage: dt [OPTIONS] [PATTERN] sh, or dtsh [OPTIONS] [PATTERN]; then type commands"))
		}
		if err := checkShellOptions(opts); err != nil {
			return e.report(err)
		}
		if opts.pretend {
			return pretendShell(ctx, opts, pattern, e)
		}
		return runShell(ctx, opts, pattern, e)
	}
	code, err := runModule(ctx, opts, e)
	if err != nil {
		return e.report(err)
	}
	return code
}

// runModule runs "PATTERN MODULE ARGS...": the hosts, the module's job,
// the runner and the writer, each from its own step. Errors end the run
// before any host is touched; once the job runs, failures are records and
// the exit status says whether any host failed.
func runModule(ctx context.Context, opts options, e env) (int, error) {
	mod, pat, err := parseCommand(opts.args)
	if err != nil {
		return 0, err
	}
	if opts.askSudoPass && !opts.sudo && mod.Name() != (modules.Sudo{}).Name() {
		return 0, usageError(fmt.Errorf("-K asks the password for sudo, which only --sudo and the sudo module run; module %s would never use it", mod.Name()),
			"add --sudo (dt --sudo -K PATTERN "+mod.Name()+" ...), or use dt -K PATTERN sudo CMD")
	}
	if err := checkStdin(opts, pat, mod); err != nil {
		return 0, usageError(err, "-I gives dt's standard input to every host's command; see dt --help")
	}
	home := e.getenv("HOME")
	selected, err := selectHosts(ctx, opts, pat, home, e)
	if err != nil {
		return 0, err
	}
	var input *modules.Input
	if opts.stdin {
		input = &modules.Input{}
		defer input.Close()
	}
	job, err := prepareJob(mod, opts, e, input)
	if err != nil {
		return 0, err
	}
	if err := checkStream(opts, mod, job); err != nil {
		return 0, err
	}
	if opts.pretend {
		for _, h := range selected {
			fmt.Fprintln(e.stdout, h.Name)
		}
		return exitOK, nil
	}
	if input != nil {
		if err := input.Load(e.stdin, ""); err != nil {
			return 0, usageError(fmt.Errorf("-I: %w", err), "")
		}
	}
	if hc, ok := job.(modules.HostsChecker); ok {
		if err := hc.CheckHosts(selected); err != nil {
			return 0, moduleError(mod, err)
		}
	}
	priv, err := privilege(ctx, opts)
	if errors.Is(err, runner.ErrInterrupted) {
		return exitInterrupted, nil
	}
	if err != nil {
		return 0, err
	}
	defer clear(priv.Password)
	cfg, resolver, err := runnerConfig(opts, home, e.getenv)
	if err != nil {
		return 0, err
	}
	for _, w := range resolver.Warnings() {
		fmt.Fprintf(e.stderr, "dt: warning: %s\n", w)
	}
	if k := keeper(opts, e); k != nil {
		cfg.Connector = k
		defer k.Close()
	}
	pool := runner.NewPool(cfg)
	defer pool.Close()

	fanout := opts.fanout
	if opts.interactive {
		fanout = 1
	}
	pr, err := newPrinter(opts, e, len(selected))
	if err != nil {
		return 0, err
	}
	failed := modules.Execute(ctx, modules.Run{
		Module:   mod.Name(),
		Job:      job,
		Hosts:    selected,
		Resolver: resolver,
		Pool:     pool,
		Fanout:   fanout,
		Timeout:  opts.timeout,
		Out:      pr.out,
		Sort:     pr.sort,
		Track:    pr.track(),
		Stream:   opts.stream,

		Privilege: priv,
		Rollout:   opts.rollout,
	})
	pr.stop()
	warnHostKeys(e, pool.HostKeyStats())
	pr.finish()
	switch {
	case errors.Is(context.Cause(ctx), runner.ErrInterrupted):
		return exitInterrupted, nil
	case failed > 0:
		return exitFailed, nil
	}
	return exitOK, nil
}

// parseCommand looks up "PATTERN MODULE" of args.
func parseCommand(args []string) (modules.Module, hosts.Pattern, error) {
	const usage = "usage: dt [OPTIONS] PATTERN MODULE [ARGS...], e.g. dt tag:linux ssh date; see dt --help"
	switch len(args) {
	case 0:
		return nil, nil, usageError(errors.New("missing PATTERN and MODULE"), usage)
	case 1:
		return nil, nil, usageError(fmt.Errorf("missing MODULE after pattern %q", args[0]), usage)
	}
	mod, err := modules.Lookup(args[1])
	if err != nil {
		return nil, nil, usageError(err, moduleHint(args[1]))
	}
	pat, err := hosts.ParsePattern(args[0])
	if err != nil {
		return nil, nil, err
	}
	return mod, pat, nil
}

// selectHosts loads the inventory and selects the pattern's hosts (reading
// stdin for out:, asking AWS for ec2:). No host matched is an error with
// exit status 1.
func selectHosts(ctx context.Context, opts options, pat hosts.Pattern, home string, e env) ([]hosts.Host, error) {
	inv, invNote, err := loadInventory(opts, home)
	if err != nil && errors.Is(err, os.ErrNotExist) && len(opts.args) > 1 && opts.args[1] == (modules.Add{}).Name() {
		// add creates the file -D names.
		inv, err = hosts.ParseInventory(strings.NewReader(""), opts.db)
	}
	if err != nil {
		return nil, err
	}
	selected, err := hosts.Select(pat, hosts.Env{Inv: inv, Stdin: e.stdin, EC2: ec2Lookup(ctx, opts, e)})
	var ee *ec2.Error
	if errors.As(err, &ee) {
		return nil, usageError(err, ee.Hint)
	}
	if err != nil {
		return nil, err
	}
	if len(selected) > 0 {
		return selected, nil
	}
	hint := invNote
	if hint == "" {
		if tags := inv.Tags(); len(tags) > 0 {
			hint = "known tags: " + strings.Join(tags, ", ")
		} else {
			hint = "the inventory has no tags; see dt --help for the inventory format"
		}
	}
	return nil, &exitError{code: exitFailed, err: fmt.Errorf("pattern %q matched no hosts", opts.args[0]), hint: hint}
}

// ec2Lookup is how ec2: terms find their instances: through the AWS SDK,
// its configuration loaded once per run, warnings on stderr.
func ec2Lookup(ctx context.Context, opts options, e env) func(hosts.EC2) ([]hosts.Host, error) {
	c := ec2.New(ec2.Options{
		Private: opts.ec2Private,
		Warn:    func(msg string) { fmt.Fprintf(e.stderr, "dt: warning: %s\n", msg) },
	})
	return func(q hosts.EC2) ([]hosts.Host, error) { return c.Hosts(ctx, q) }
}

// prepareJob gives the module its options and arguments, and input, the
// standard input -I will read once the run starts (nil without -I).
// Arguments it rejects are exit status 3.
func prepareJob(mod modules.Module, opts options, e env, input *modules.Input) (modules.Job, error) {
	modOpts := modules.Options{
		Input:       input,
		Timeout:     opts.timeout,
		Interactive: opts.interactive,
		Sudo:        opts.sudo,
		Stdout:      e.stdout,
		Stderr:      e.stderr,
		Inventory:   inventoryFile(opts, e.getenv("HOME")),
		Environ:     os.Environ(),
	}
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		modOpts.Confirm = ttyConfirm
	}
	if opts.interactive {
		modOpts.Stdin = runner.NewStdinMux(e.stdin)
		if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			modOpts.StdinIsTerminal = true
			modOpts.RawTerminal = func() func() {
				old, err := term.MakeRaw(int(f.Fd()))
				if err != nil {
					return func() {}
				}
				return onExit(func() { term.Restore(int(f.Fd()), old) })
			}
		}
	}
	job, err := mod.Prepare(opts.args[2:], modOpts)
	if err != nil {
		return nil, moduleError(mod, err)
	}
	if opts.rollout.Gate.Cmd != "" && !modules.GateApplies(job) {
		return nil, usageError(fmt.Errorf("--gate: module %s touches no host, so a gate after it would check nothing it did", mod.Name()),
			"--gate works with the modules that act on hosts (ssh, script, sudo, systemctl, deploy, ..., and local)")
	}
	return job, nil
}

// moduleError gives a module's error its exit status: 3 for arguments it
// rejects, 1 when the person declined its question.
func moduleError(mod modules.Module, err error) error {
	var ue *modules.UsageError
	switch {
	case errors.As(err, &ue):
		return &exitError{code: exitModule, err: err, hint: "see dt help " + mod.Name()}
	case errors.Is(err, modules.ErrDeclined):
		return &exitError{code: exitFailed, err: err}
	}
	return err
}

// inventoryFile is the inventory add, tag and del edit: -D/$DTOOLS_DB,
// else ~/.dtdb (never the known_hosts fallback).
func inventoryFile(opts options, home string) string {
	if opts.db != "" {
		return opts.db
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".dtdb")
}

// privilege is what --sudo and -K ask for; with -K it asks the password
// on the terminal. The caller clears the password when done. Ctrl-C at
// the prompt gives an error that is runner.ErrInterrupted.
func privilege(ctx context.Context, opts options) (modules.Privilege, error) {
	priv := modules.Privilege{Sudo: opts.sudo}
	if !opts.askSudoPass {
		return priv, nil
	}
	pw, err := ttyPrompt(ctx, "dt: sudo password: ")
	if errors.Is(err, runner.ErrInterrupted) {
		return priv, err
	}
	if err != nil {
		return priv, usageError(fmt.Errorf("-K: %w", err), "-K asks on the terminal; without one, use NOPASSWD rules in sudoers")
	}
	priv.Password = pw
	return priv, nil
}

// runnerConfig builds the runner's view of the user's environment and the
// ssh_config resolver.
func runnerConfig(opts options, home string, getenv func(string) string) (runner.Config, *runner.Resolver, error) {
	cfg := runner.Config{
		Home:           home,
		LocalUser:      localUser(getenv),
		AgentSocket:    getenv("SSH_AUTH_SOCK"),
		Shell:          getenv("SHELL"),
		Getenv:         getenv,
		HostKeys:       opts.hostKeys,
		ConnectTimeout: opts.connectTimeout,
		Passphrase:     ttyPassphrase,
		Persist:        opts.persist,
	}
	if opts.interactive {
		// -i: a login that keys do not get through may ask for a
		// password on the terminal (none: nothing is asked).
		cfg.Ask = ttyAsk
	}
	if opts.sshConfig != "" {
		cfg.SSHConfigFiles = []string{opts.sshConfig}
		if _, err := os.Stat(opts.sshConfig); err != nil {
			return cfg, nil, fmt.Errorf("-F: %w", err)
		}
	} else {
		cfg.SSHConfigFiles = []string{filepath.Join(home, ".ssh", "config"), "/etc/ssh/ssh_config"}
	}
	resolver, err := runner.NewResolver(cfg)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, resolver, nil
}

// warnHostKeys says, once per run, how many hosts answered with a key
// that was not verified against known_hosts.
func warnHostKeys(e env, s runner.HostKeyStats) {
	if s.Unchecked > 0 {
		fmt.Fprintf(e.stderr, "dt: warning: host keys not checked for %d host(s) (--host-keys off or StrictHostKeyChecking off): any machine on the path could have answered\n", s.Unchecked)
	}
	if s.Accepted > 0 {
		fmt.Fprintf(e.stderr, "dt: warning: %d new host key(s) accepted unverified and recorded in known_hosts (--host-keys accept-new, or StrictHostKeyChecking accept-new or no)\n", s.Accepted)
	}
}

// checkStdin refuses -I where standard input is already taken, or where
// the module would not use it.
func checkStdin(opts options, pat hosts.Pattern, mod modules.Module) error {
	switch {
	case !opts.stdin:
		return nil
	case opts.interactive:
		return errors.New("-I and -i both want standard input: -i attaches it to each host in turn, -I gives all of it to every host")
	case hosts.ReadsStdin(pat):
		return errors.New("-I and the pattern's out: both want standard input; save the host list to a file and select with -D FILE or sys:, or the data to a file and use copy")
	case !modules.ReadsStdin(mod):
		return fmt.Errorf("module %s does not read standard input; -I works with ssh (and --sudo ssh)", mod.Name())
	}
	return nil
}

// loadInventory reads -D/--db, $DTOOLS_DB or ~/.dtdb; without any, the
// plain host names in ~/.ssh/known_hosts, as dtools did. With neither the
// inventory is empty (sys: hosts still work) and note says why.
func loadInventory(opts options, home string) (inv *hosts.Inventory, note string, err error) {
	if opts.db != "" {
		inv, err = hosts.LoadInventory(opts.db)
		return inv, "", err
	}
	db := filepath.Join(home, ".dtdb")
	inv, err = hosts.LoadInventory(db)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return inv, "", err
	}
	kh := filepath.Join(home, ".ssh", "known_hosts")
	f, err := os.Open(kh)
	if errors.Is(err, os.ErrNotExist) {
		inv, err = hosts.ParseInventory(strings.NewReader(""), db)
		return inv, fmt.Sprintf("no inventory: %s does not exist and there is no %s to fall back on; create one (see hosts.example) or use -D FILE", db, kh), err
	}
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	inv, err = hosts.ParseKnownHosts(f, kh)
	return inv, "", err
}

func localUser(getenv func(string) string) string {
	if u := getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// shellArgs splits the command line of dt sh: "PATTERN sh", "sh" or,
// as dtsh, "[PATTERN]". rest is what follows and should not be there.
func shellArgs(opts options) (pattern string, rest []string) {
	args := opts.args
	switch {
	case opts.dtsh && len(args) > 0:
		return args[0], args[1:]
	case opts.dtsh:
		return "", nil
	case len(args) == 1:
		return "", nil
	}
	return args[0], args[2:]
}

// help is "dt help [MODULE]".
func help(args []string, e env) int {
	if len(args) == 0 {
		moduleList(e.stdout)
		return exitOK
	}
	if args[0] == "sh" || args[0] == "dtsh" {
		fmt.Fprintf(e.stdout, "dt [OPTIONS] [PATTERN] sh    (or: dtsh [OPTIONS] [PATTERN])\n\nAn interactive shell on the hosts of PATTERN. "+shellHelp+"\n\n"+shellPiped+"\n",
			strings.Join(shellViews, ", "), "$DT_HISTFILE, else ~/.dt_history")
		return exitOK
	}
	switch args[0] {
	case "mux":
		fmt.Fprint(e.stdout, muxHelp)
		return exitOK
	case "view":
		fmt.Fprint(e.stdout, viewHelp)
		return exitOK
	}
	m, err := modules.Lookup(args[0])
	if err != nil {
		e.errorf("%v", err)
		e.hintf("dt help sh, dt help view and dt help mux tell the commands that are not modules")
		return exitUsage
	}
	fmt.Fprintln(e.stdout, m.Usage())
	return exitOK
}
