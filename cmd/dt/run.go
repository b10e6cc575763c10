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

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/modules"
	"github.com/dtools/dt/output"
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

// run does one dt invocation and returns its exit status.
func run(ctx context.Context, opts options, e env) int {
	if opts.list {
		moduleList(e.stdout)
		return exitOK
	}
	args := opts.args
	if len(args) > 0 && args[0] == "help" {
		return help(args[1:], e)
	}
	if len(args) > 0 && args[0] == "mux" {
		return muxCommand(ctx, args[1:], e)
	}
	if len(args) < 2 {
		if len(args) == 0 {
			e.errorf("missing PATTERN and MODULE")
		} else {
			e.errorf("missing MODULE after pattern %q", args[0])
		}
		e.hintf("usage: dt [OPTIONS] PATTERN MODULE [ARGS...], e.g. dt tag:linux ssh date; see dt --help")
		return exitUsage
	}
	mod, err := modules.Lookup(args[1])
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	pat, err := hosts.ParsePattern(args[0])
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	home := e.getenv("HOME")
	inv, invNote, err := loadInventory(opts, home)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	selected, err := hosts.Select(pat, hosts.Env{Inv: inv, Stdin: e.stdin})
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	if len(selected) == 0 {
		e.errorf("pattern %q matched no hosts", args[0])
		if invNote != "" {
			e.hintf("%s", invNote)
		} else if tags := inv.Tags(); len(tags) > 0 {
			e.hintf("known tags: %s", strings.Join(tags, ", "))
		} else {
			e.hintf("the inventory has no tags; see dt --help for the inventory format")
		}
		return exitFailed
	}

	modOpts := modules.Options{
		Timeout:     opts.timeout,
		Interactive: opts.interactive,
		Sudo:        opts.sudo,
		Stdout:      e.stdout,
		Stderr:      e.stderr,
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
	job, err := mod.Prepare(args[2:], modOpts)
	if err != nil {
		e.errorf("%v", err)
		var ue *modules.UsageError
		if errors.As(err, &ue) {
			e.hintf("see dt help %s", mod.Name())
			return exitModule
		}
		return exitUsage
	}
	if opts.pretend {
		for _, h := range selected {
			fmt.Fprintln(e.stdout, h.Name)
		}
		return exitOK
	}

	priv := modules.Privilege{Sudo: opts.sudo}
	if opts.askSudoPass {
		pw, err := ttyPrompt(ctx, "dt: sudo password: ")
		if errors.Is(err, runner.ErrInterrupted) {
			return exitInterrupted
		}
		if err != nil {
			e.errorf("-K: %v", err)
			e.hintf("-K asks on the terminal; without one, use NOPASSWD rules in sudoers")
			return exitUsage
		}
		priv.Password = pw
		defer clear(pw)
	}

	cfg := runner.Config{
		Home:           home,
		LocalUser:      localUser(e.getenv),
		AgentSocket:    e.getenv("SSH_AUTH_SOCK"),
		Shell:          e.getenv("SHELL"),
		Getenv:         e.getenv,
		HostKeys:       opts.hostKeys,
		ConnectTimeout: opts.connectTimeout,
		Passphrase:     ttyPassphrase,
		Persist:        opts.persist,
	}
	if k := keeper(opts, e); k != nil {
		cfg.Connector = k
		defer k.Close()
	}
	if opts.sshConfig != "" {
		cfg.SSHConfigFiles = []string{opts.sshConfig}
		if _, err := os.Stat(opts.sshConfig); err != nil {
			e.errorf("-F: %v", err)
			return exitUsage
		}
	} else {
		cfg.SSHConfigFiles = []string{filepath.Join(home, ".ssh", "config"), "/etc/ssh/ssh_config"}
	}
	resolver, err := runner.NewResolver(cfg)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	for _, w := range resolver.Warnings() {
		fmt.Fprintf(e.stderr, "dt: warning: %s\n", w)
	}
	pool := runner.NewPool(cfg)
	defer pool.Close()

	var out output.Writer
	if opts.json {
		out = output.NewJSON(e.stdout)
	} else {
		f, _ := e.stdout.(*os.File)
		out = output.NewOmni(e.stdout, f != nil && output.ColorWanted(f, opts.noColor, e.getenv))
	}
	fanout := opts.fanout
	if opts.interactive {
		fanout = 1
	}
	failed := modules.Execute(ctx, modules.Run{
		Module:   mod.Name(),
		Job:      job,
		Hosts:    selected,
		Resolver: resolver,
		Pool:     pool,
		Fanout:   fanout,
		Timeout:  opts.timeout,
		Out:      out,

		Privilege: priv,
	})
	warnHostKeys(e, pool.HostKeyStats())
	switch {
	case errors.Is(context.Cause(ctx), runner.ErrInterrupted):
		return exitInterrupted
	case failed > 0:
		return exitFailed
	}
	return exitOK
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

// help is "dt help [MODULE]".
func help(args []string, e env) int {
	if len(args) == 0 {
		moduleList(e.stdout)
		return exitOK
	}
	m, err := modules.Lookup(args[0])
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	fmt.Fprintln(e.stdout, m.Usage())
	return exitOK
}
