package modules

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Module is one thing dt can do on hosts.
type Module interface {
	// Name is the word used on the command line.
	Name() string
	// Summary is one line for dt --list.
	Summary() string
	// Usage is the full help text for dt help MODULE.
	Usage() string
	// Prepare checks args and returns the job to run on every host. Bad
	// arguments give a *UsageError.
	Prepare(args []string, opts Options) (Job, error)
}

// Job is a prepared module invocation.
type Job interface {
	// Run does the job on one host and reports through emit, once or more.
	// Failures are records, never panics or returned errors.
	Run(ctx context.Context, h *Host, emit func(output.Record))
}

// Options are the run-wide settings modules may consult.
type Options struct {
	// Timeout is the per-host deadline for the module's remote commands
	// (0: none).
	Timeout time.Duration
	// Interactive attaches the terminal to the remote command, one host at
	// a time.
	Interactive bool
	// Stdin, Stdout and Stderr are the terminal in interactive mode.
	Stdin          *runner.StdinMux
	Stdout, Stderr io.Writer
	// StdinIsTerminal asks for a remote PTY in interactive mode.
	StdinIsTerminal bool
	// RawTerminal puts the local terminal in raw mode while a remote PTY
	// session runs (keystrokes go to the remote side as typed, like ssh);
	// it returns the function that restores it. Nil: leave it alone.
	RawTerminal func() (restore func())
	// Sudo says every remote command will run through sudo (--sudo), so
	// modules can refuse what makes no sense as root (--user units).
	Sudo bool
	// Input is dt's standard input for every host's command (-I), or nil:
	// commands then read EOF.
	Input *Input
	// ReadFile reads local files (script); nil means os.ReadFile.
	ReadFile func(name string) ([]byte, error)
	// Inventory is the inventory file add, tag and del edit (-D,
	// $DTOOLS_DB, else ~/.dtdb).
	Inventory string
	// Confirm asks the person a yes/no question on the terminal; nil
	// when standard input is not a terminal.
	Confirm func(question string) (bool, error)
	// Environ is this process's environment, for commands run locally
	// (local); nil means none.
	Environ []string
}

// UsageError is a module argument error (exit status 3).
type UsageError struct {
	Module string
	Msg    string
}

func (e *UsageError) Error() string { return e.Module + ": " + e.Msg }

func usagef(module, format string, args ...any) *UsageError {
	return &UsageError{Module: module, Msg: fmt.Sprintf(format, args...)}
}

// Table is every module, by name. Adding a module means adding it here.
var Table = []Module{
	SSH{},
	Script{},
	List{},
	Sudo{},
	Systemctl{},
	Journal{},
	Runit{},
	Svc{},
	Copy{},
	Deploy{},
	Fetch{},
	Local{},
	Ping{},
	SSHCopyID{},
	Add{},
	Tag{},
	Del{},
}

// Lookup finds a module by name. An unknown name is an error listing the
// valid ones.
func Lookup(name string) (Module, error) {
	for _, m := range Table {
		if m.Name() == name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("unknown module %q; valid modules: %s", name, strings.Join(Names(), ", "))
}

// Names lists the module names, sorted.
func Names() []string {
	names := make([]string, len(Table))
	for i, m := range Table {
		names[i] = m.Name()
	}
	sort.Strings(names)
	return names
}
