package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peterh/liner"
	"golang.org/x/term"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/modules"
	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// shellHelp is what :help prints.
const shellHelp = `Each line runs on the current hosts as "dt PATTERN ssh LINE" would.
Built-ins start with ':':
  :use PATTERN     select other hosts (any dt pattern; :use alone shows it)
  :hosts           list the current hosts and their tags
  :fail            narrow to the hosts that failed the last command
  :view NAME       how results print: %s
  :fanout N        hosts at once (-C)
  :timeout D       per-host deadline, e.g. 30s (0: none)
  :dt MODULE ARGS  run another module (:dt systemctl status nginx)
  :help            this text
  :quit            leave (also Ctrl-D)
Ctrl-C stops the running command on every host and comes back here.
Connections stay open between commands: one login per host per session.
History is kept in %s.`

// shellPiped is dt help sh's note on lines from a pipe or a file.
const shellPiped = `Fed from a pipe or a file, dt sh runs the lines without prompts or history
and exits with the last command's status (0, or 1 when a host failed). A
line that cannot run (a :use that matches nothing or does not parse, an
unknown built-in, no hosts) ends it at once with that error's status (1,
2 or 3), so the lines after it never run on hosts they were not meant for:

  printf '%%s\n' ':use tag:web,-canary' 'systemctl is-active app' | dt sh

dt -p PATTERN sh prints the hosts and runs nothing; --batch, --canary,
--max-fail, --batch-wait, --stagger, --gate, --stream, -i and -I are
refused (exit 2): each line runs on every current host at once.`

// shellViews are the views :view accepts: every view of --view, and json.
var shellViews = append(append([]string{}, output.ViewNames...), "json")

// shell is dt sh, the interactive shell: a prompt, lines run as the ssh
// module on the current hosts, and built-ins. One pool serves the whole
// session and keeps its connections, so a host is logged in to once.
type shell struct {
	ctx  context.Context
	opts options
	e    env
	home string

	pattern  string
	selected []hosts.Host
	failed   []string // hosts that failed the last command, in selection order

	view    string
	fanout  int
	timeout time.Duration

	pool     *runner.Pool
	resolver *runner.Resolver
	priv     modules.Privilege
	history  string
	last     int // exit status of the last command: 0, or 1 if a host failed
	// piped is true when the lines come from a pipe or a file: a line
	// that cannot run then ends the shell (see lineFailed).
	piped  bool
	broken bool // a line could not run, in a piped shell: stop
}

// runShell runs dt sh with pattern ("" for none) as the first hosts. Its
// exit status is the last command's, as a shell's: 0 when every host was
// okay, 1 when one failed.
func runShell(ctx context.Context, opts options, pattern string, e env) int {
	home := e.getenv("HOME")
	cfg, resolver, err := runnerConfig(opts, home, e.getenv)
	if err != nil {
		return e.report(err)
	}
	for _, w := range resolver.Warnings() {
		fmt.Fprintf(e.stderr, "dt: warning: %s\n", w)
	}
	priv, err := privilege(ctx, opts)
	if errors.Is(err, runner.ErrInterrupted) {
		return exitInterrupted
	}
	if err != nil {
		return e.report(err)
	}
	defer clear(priv.Password)
	pool := runner.NewPool(cfg)
	pool.KeepIdle()
	defer pool.Close()

	s := &shell{ctx: ctx, opts: opts, e: e, home: home, view: "gather", fanout: opts.fanout, timeout: opts.timeout,
		pool: pool, resolver: resolver, priv: priv, history: historyFile(e.getenv, home)}
	switch {
	case opts.json:
		s.view = "json"
	case opts.view != "":
		s.view = opts.view
	}
	f, isFile := e.stdin.(*os.File)
	s.piped = !isFile || !term.IsTerminal(int(f.Fd()))
	if pattern != "" {
		if err := s.use(pattern); err != nil {
			s.report(err)
			if s.broken {
				return s.last
			}
		}
	}

	var ln lineEditor
	if !s.piped {
		// Lines edited on the terminal, with history; see newLiner.
		l := newLiner(s)
		restore := onExit(func() { l.Close() })
		defer restore()
		ln = l
		fmt.Fprintf(e.stderr, "dt sh: lines run on the hosts with ssh; :help for the built-ins, :quit or Ctrl-D to leave\n")
	} else {
		// Commands from a pipe or a file: no prompt, no history.
		ln = &plainLines{r: bufio.NewReader(e.stdin)}
	}
	// SIGTERM (Ctrl-C is the running command's) ends the shell: at once
	// at the prompt, or once the running command has stopped.
	var atPrompt atomic.Bool
	go func() {
		<-ctx.Done()
		if atPrompt.Load() {
			restoreTerminals()
			fmt.Fprintln(e.stderr, "\ndt: terminated")
			os.Exit(exitInterrupted)
		}
	}()
	for {
		if context.Cause(ctx) != nil {
			return exitInterrupted
		}
		atPrompt.Store(true)
		line, err := ln.Prompt(s.prompt())
		atPrompt.Store(false)
		switch {
		case errors.Is(err, liner.ErrPromptAborted):
			continue // Ctrl-C at the prompt: a fresh line
		case errors.Is(err, io.EOF):
			if _, ok := ln.(*shellLiner); ok {
				fmt.Fprintln(e.stderr)
			}
			return s.last
		case err != nil:
			e.errorf("reading the terminal: %v", err)
			return exitUsage
		}
		if context.Cause(ctx) != nil {
			return exitInterrupted
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ln.AppendHistory(line)
		if strings.HasPrefix(line, ":") {
			if quit := s.builtin(line); quit || s.broken {
				return s.last
			}
			continue
		}
		if s.run(modules.SSH{}, []string{line}); s.broken {
			return s.last
		}
	}
}

// historyFile is where the shell keeps its history: $DT_HISTFILE, else
// ~/.dt_history.
func historyFile(getenv func(string) string, home string) string {
	if f := getenv("DT_HISTFILE"); f != "" {
		return f
	}
	return filepath.Join(home, ".dt_history")
}

// lineEditor reads the shell's lines.
type lineEditor interface {
	Prompt(prompt string) (string, error)
	AppendHistory(line string)
}

// shellLiner is the shell's line editor on a terminal: peterh/liner
// (Emacs keys, history search with Ctrl-R, completion of built-ins), its
// history kept in the history file after every line.
type shellLiner struct {
	*liner.State
	file string
}

func newLiner(s *shell) *shellLiner {
	l := &shellLiner{State: liner.NewLiner(), file: s.history}
	l.SetCtrlCAborts(true)
	l.SetCompleter(s.complete)
	if f, err := os.Open(l.file); err == nil {
		l.ReadHistory(f)
		f.Close()
	}
	return l
}

// AppendHistory adds line to the history and writes the history file
// (0600: command lines can hold secrets), so a killed shell loses none.
// A file that group or others may read is made 0600 before the lines go
// in.
func (l *shellLiner) AppendHistory(line string) {
	l.State.AppendHistory(line)
	f, err := os.OpenFile(l.file, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return // not a file of history: leave it alone
	} else if st.Mode().Perm()&0o077 != 0 && f.Chmod(0o600) != nil {
		return
	}
	if f.Truncate(0) == nil {
		l.WriteHistory(f)
	}
}

// plainLines reads lines from a pipe or file, without prompts.
type plainLines struct{ r *bufio.Reader }

func (p *plainLines) Prompt(string) (string, error) {
	line, err := p.r.ReadString('\n')
	if err == io.EOF && line != "" {
		return line, nil
	}
	return strings.TrimRight(line, "\r\n"), err
}

func (p *plainLines) AppendHistory(string) {}

// prompt shows the pattern and how many hosts it selected.
func (s *shell) prompt() string {
	if s.pattern == "" {
		return "dt (no hosts; :use PATTERN)> "
	}
	p := s.pattern
	if r := []rune(p); len(r) > 40 {
		p = string(r[:37]) + "..."
	}
	return fmt.Sprintf("dt %s (%d)> ", output.Escape([]byte(p)), len(s.selected))
}

// report prints an error for the person at the prompt; the line that
// caused it failed with the error's exit status (see lineFailed).
func (s *shell) report(err error) {
	s.lineFailed(s.e.report(err))
}

// errorf reports a line that failed with exit status code.
func (s *shell) errorf(code int, format string, args ...any) {
	s.e.errorf(format, args...)
	s.lineFailed(code)
}

// lineFailed records that a line could not run: it is the last command,
// with status code. Fed from a pipe, the shell stops there: the lines
// after it were written for hosts or settings that did not take (a
// mistyped :use must not send the next command to the previous hosts).
func (s *shell) lineFailed(code int) {
	s.last = code
	s.broken = s.piped
}

// use selects the hosts of pattern; on error the current ones stay.
func (s *shell) use(pattern string) error {
	pat, err := hosts.ParsePattern(pattern)
	if err != nil {
		return err
	}
	if hosts.ReadsStdin(pat) {
		return usageError(fmt.Errorf("out: reads hosts from standard input, which is the terminal in dt sh"), "use :fail to narrow to the hosts that failed")
	}
	opts := s.opts
	opts.args = []string{pattern}
	selected, err := selectHosts(s.ctx, opts, pat, s.home, s.e)
	if err != nil {
		return err
	}
	s.pattern, s.selected, s.failed = pattern, selected, nil
	return nil
}

// builtin runs a ':' line and reports whether the shell should end.
func (s *shell) builtin(line string) (quit bool) {
	name, arg, _ := strings.Cut(strings.TrimPrefix(line, ":"), " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "quit", "q", "exit":
		return true
	case "help", "h", "?":
		fmt.Fprintf(s.e.stderr, shellHelp+"\n", strings.Join(shellViews, ", "), s.history)
	case "use", "context":
		if arg == "" {
			fmt.Fprintf(s.e.stderr, "%s: %d hosts\n", s.pattern, len(s.selected))
			return false
		}
		if err := s.use(arg); err != nil {
			s.report(err)
		}
	case "hosts":
		for _, h := range s.selected {
			fmt.Fprintf(s.e.stderr, "  %s  %s\n", h.Name, strings.Join(h.Tags, " "))
		}
		fmt.Fprintf(s.e.stderr, "%d hosts\n", len(s.selected))
	case "fail":
		if len(s.failed) == 0 {
			s.errorf(s.last, "no host failed the last command")
			return false
		}
		if err := s.use("sys:" + strings.Join(s.failed, ",")); err != nil {
			s.report(err)
		}
	case "view", "filter":
		if arg == "" {
			fmt.Fprintf(s.e.stderr, "view %s (views: %s)\n", s.view, strings.Join(shellViews, ", "))
			return false
		}
		if arg == "none" && name == "filter" {
			arg = "lines" // dtools' "filter none": the lines as they are
		}
		if !contains(shellViews, arg) {
			s.errorf(exitUsage, "unknown view %q; views: %s", arg, strings.Join(shellViews, ", "))
			return false
		}
		s.view = arg
	case "fanout":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 {
			s.errorf(exitUsage, ":fanout %q: want a whole number, at least 1", arg)
			return false
		}
		s.fanout = n
	case "timeout":
		d, err := parseDuration("timeout", arg)
		if err != nil || arg == "" {
			s.errorf(exitUsage, ":timeout %q: want a duration like 30s, or 0 for none", arg)
			return false
		}
		s.timeout = d
	case "dt":
		words, err := shellWords(arg)
		if err != nil || len(words) == 0 {
			s.errorf(exitUsage, ":dt wants MODULE [ARGS...], e.g. :dt systemctl status nginx")
			return false
		}
		mod, err := modules.Lookup(words[0])
		if err != nil {
			s.report(err)
			return false
		}
		s.run(mod, words[1:])
	default:
		s.report(usageError(fmt.Errorf("unknown built-in %q", ":"+name), ":help lists them"))
	}
	return false
}

// run runs mod with args on the current hosts, over the session's pool.
// Ctrl-C stops it (remote commands are signalled, unfinished hosts fail
// with "interrupt") and the shell goes on.
func (s *shell) run(mod modules.Module, args []string) {
	if len(s.selected) == 0 {
		s.errorf(exitFailed, "no hosts; choose some with :use PATTERN")
		return
	}
	opts := s.opts
	opts.args = append([]string{s.pattern, mod.Name()}, args...)
	opts.timeout = s.timeout
	opts.interactive = false
	job, err := prepareJob(mod, opts, s.e, nil)
	if err != nil {
		s.report(err)
		return
	}
	if hc, ok := job.(modules.HostsChecker); ok {
		if err := hc.CheckHosts(s.selected); err != nil {
			s.report(moduleError(mod, err))
			return
		}
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	stop := func() { cancel(runner.ErrInterrupted) }
	interruptHook.Store(&stop)
	defer interruptHook.Store(nil)

	opts.json = s.view == "json"
	opts.view = ""
	if !opts.json {
		opts.view = s.view
	}
	// The shell says its own summary; no progress line between prompts.
	opts.quiet, opts.summary = true, false
	pr, err := newPrinter(opts, s.e, len(s.selected))
	if err != nil {
		s.report(err)
		return
	}
	tap := &statusTap{w: pr.out, failed: map[string]bool{}}
	start := time.Now()
	modules.Execute(ctx, modules.Run{
		Module:    mod.Name(),
		Job:       job,
		Hosts:     s.selected,
		Resolver:  s.resolver,
		Pool:      s.pool,
		Fanout:    s.fanout,
		Timeout:   s.timeout,
		Out:       tap,
		Sort:      pr.sort,
		Privilege: s.priv,
	})
	pr.finish()
	s.failed = s.failed[:0]
	s.last = exitOK
	if tap.okay == 0 && len(tap.failed) == 0 || len(tap.failed) > 0 {
		s.last = exitFailed
	}
	for _, h := range s.selected {
		if tap.failed[h.Name] {
			s.failed = append(s.failed, h.Name)
		}
	}
	note := ""
	if len(s.failed) > 0 {
		note = " (:fail narrows to them)"
	}
	if errors.Is(context.Cause(ctx), runner.ErrInterrupted) {
		note += "; interrupted"
	}
	fmt.Fprintf(s.e.stderr, "dt: %d okay, %d failed in %s%s\n", tap.okay, len(s.failed), time.Since(start).Round(time.Millisecond), note)
}

// statusTap passes records on and notes which hosts failed.
type statusTap struct {
	w      output.Writer
	mu     sync.Mutex
	failed map[string]bool
	okay   int
}

func (t *statusTap) Write(r output.Record) error {
	t.mu.Lock()
	if r.Status == output.Okay {
		t.okay++
	} else {
		t.failed[r.Host] = true
	}
	t.mu.Unlock()
	return t.w.Write(r)
}

// complete completes built-in names at the start of a line.
func (s *shell) complete(line string) []string {
	if !strings.HasPrefix(line, ":") || strings.Contains(line, " ") {
		return nil
	}
	var out []string
	for _, b := range []string{":use ", ":hosts", ":fail", ":view ", ":fanout ", ":timeout ", ":dt ", ":help", ":quit"} {
		if strings.HasPrefix(b, line) {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

// shellWords splits a built-in's arguments at blanks, with '...' and
// "..." quoting as in a shell (no escapes, no expansion).
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool
		quote rune
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
