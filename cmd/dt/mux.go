package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/dtools/dt/runner"
	"github.com/dtools/dt/runner/mux"
)

const muxUsage = "usage: dt mux status|stop (the connection keeper of --persist; see dt help mux)"

// muxHelp is dt help mux.
const muxHelp = `dt mux status|stop

The connections kept by --persist D (or DT_PERSIST=D, or ssh_config
ControlPersist) live in a background connection keeper of yours until
they have been idle for D.

  dt mux status    each kept connection (host, destination, age, idle
                   time, sessions served, persist time) on stdout, the
                   keeper (pid, socket, uptime) on stderr
  dt mux stop      close every kept connection now (the keeper then exits)

  $ dt --persist 10m tag:web ssh uptime
  $ dt mux status
  $ dt mux stop
`

// muxCommand is "dt mux status|stop|serve": what the connection keeper
// keeps, closing it all, and the keeper itself (started by dt).
func muxCommand(ctx context.Context, args []string, e env) int {
	if len(args) != 1 {
		e.errorf("dt mux takes one command: status, stop")
		e.hintf("%s", muxUsage)
		return exitUsage
	}
	dir := mux.Dir(e.getenv)
	switch args[0] {
	case "status":
		st, err := mux.GetStatus(dir)
		if errors.Is(err, mux.ErrNotRunning) {
			fmt.Fprintf(e.stderr, "dt: no connection keeper is running (%s)\n", mux.Socket(dir))
			return exitOK
		}
		if err != nil {
			return muxError(e, err)
		}
		printStatus(e.stdout, e.stderr, st, time.Now())
		return exitOK
	case "stop":
		n, err := mux.Stop(dir)
		if errors.Is(err, mux.ErrNotRunning) {
			fmt.Fprintf(e.stderr, "dt: no connection keeper is running (%s)\n", mux.Socket(dir))
			return exitOK
		}
		if err != nil {
			return muxError(e, err)
		}
		if err := waitGone(mux.Socket(dir), 5*time.Second); err != nil {
			e.errorf("%v", err)
			return exitFailed
		}
		fmt.Fprintf(e.stderr, "dt: connection keeper stopped, %d connection(s) closed\n", n)
		return exitOK
	case "serve":
		return muxServe(ctx, dir, e)
	}
	e.errorf("unknown mux command %q", args[0])
	e.hintf("%s", muxUsage)
	return exitUsage
}

func muxError(e env, err error) int {
	e.errorf("%v", err)
	var ue *mux.UnsafeDirError
	if errors.As(err, &ue) && ue.Hint != "" {
		e.hintf("%s", ue.Hint)
	}
	return exitFailed
}

// waitGone waits until the keeper's socket is gone.
func waitGone(sock string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Lstat(sock); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the keeper's socket %s is still there after %s", sock, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// muxServe runs the keeper in the foreground. dt starts it with a ready
// descriptor (mux.ReadyFDEnv); run by hand it logs to stderr.
func muxServe(ctx context.Context, dir string, e env) int {
	o := mux.ServeOptions{Dir: dir, Log: e.stderr}
	if fd := e.getenv(mux.ReadyFDEnv); fd != "" {
		n, err := strconv.Atoi(fd)
		if err != nil {
			e.errorf("%s=%q: not a file descriptor", mux.ReadyFDEnv, fd)
			return exitUsage
		}
		ready := os.NewFile(uintptr(n), "ready")
		o.Ready = onceCloser{ready}
		o.Log = nil
	}
	if path := e.getenv(mux.LogEnv); path != "" {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			defer f.Close()
			o.Log = f
		}
	}
	// Ctrl-C and SIGTERM stop the keeper (the root context ends with
	// ErrInterrupted); it closes what it keeps and removes its socket.
	if err := mux.Serve(ctx, o); err != nil {
		if o.Ready == nil {
			e.errorf("%v", err)
		}
		return exitFailed
	}
	return exitOK
}

// onceCloser closes its file after the first write: the ready line.
type onceCloser struct{ f *os.File }

func (o onceCloser) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	o.f.Close()
	return n, err
}

// printStatus writes the keeper's connections as a table on stdout, and
// a line about the keeper on stderr.
func printStatus(stdout, stderr io.Writer, st *mux.Status, now time.Time) {
	fmt.Fprintf(stderr, "dt: connection keeper pid %d on %s, up %s, %d dt process(es) connected, %d connection(s)\n",
		st.PID, st.Socket, now.Sub(st.Started).Round(time.Second), st.Clients, len(st.Conns))
	sort.Slice(st.Conns, func(i, j int) bool {
		a, b := st.Conns[i], st.Conns[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Dest < b.Dest
	})
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tDESTINATION\tAGE\tIDLE\tSESSIONS\tPERSIST")
	for _, c := range st.Conns {
		idle := "busy"
		if !c.Busy {
			idle = now.Sub(c.LastUsed).Round(time.Second).String()
		}
		name := c.Name
		if c.Jump {
			name += " (jump)"
		}
		persist := c.Persist.String()
		if c.Persist == runner.PersistForever {
			persist = "forever"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", name, c.Dest, now.Sub(c.Created).Round(time.Second), idle, c.Served, persist)
	}
	tw.Flush()
}
