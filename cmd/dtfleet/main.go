// Command dtfleet starts a throwaway fleet of real OpenSSH servers on
// loopback addresses (see internal/fleet), for trying dt by hand and for the
// demo. It needs root and /usr/sbin/sshd
// (and for -systemd, systemd-nspawn and debootstrap).
//
// Interactive use: start a fleet and keep it until Ctrl-C or SIGTERM:
//
//	dtfleet -dir /tmp/f -n 5
//	. /tmp/f/env.sh && dt tag:linux ssh date   # in another shell
//
// Scripted use: start a fleet, run one command against it, stop the fleet
// and exit with the command's status:
//
//	dtfleet -n 5 -- sh -c 'dt tag:linux ssh date'
//
// With -systemd N it starts N containers c001.. with real systemd as PID 1
// instead (see fleet.StartSystemd; the first run builds a Debian base in
// /var/cache/dt-fleet, about a minute), logging in as root by default:
//
//	dtfleet -systemd 2 -- bash
//	ssh -F $HOME/.ssh/config fleet@c001 systemctl --user status demo-ok
//
// The command runs with the fleet's clean environment: HOME is the fleet's
// fake home (~/.ssh/config, known_hosts, id_ed25519, ~/.dtdb), DT_FLEET_DIR
// its directory, and there is no SSH_AUTH_SOCK.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dtools/dt/internal/fleet"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("dtfleet", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory for the fleet's files (default: a new temp dir, removed at exit)")
	n := fs.Int("n", 5, "number of hosts")
	first := fs.String("first", "", "address of the first host (default: first free range from "+fleet.DefaultFirstAddr+")")
	port := fs.Int("port", 0, "port of every sshd (default 22, or 2222 or 22222 if something listens on 0.0.0.0:22)")
	user := fs.String("user", "fleet", "login user written to ~/.ssh/config")
	runit := fs.Bool("runit", false, "give every host a runsvdir with the services sleeper, flaky, stopped, crashing, logged and slowstop")
	systemd := fs.Int("systemd", 0, "start N systemd containers c001.. instead (real systemd, sshd, sudo, demo units; login as root, or as fleet@c001)")
	verbose := fs.Bool("v", false, "log progress to stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: dtfleet [flags] [-- CMD ARGS...]\n\n"+
			"Starts a throwaway fleet of OpenSSH servers on loopback addresses. Without CMD,\n"+
			"prints how to use it, writes DIR/env.sh and runs until SIGINT/SIGTERM. With CMD,\n"+
			"runs CMD with HOME set to the fleet's home and DT_FLEET_DIR to its directory,\n"+
			"then stops the fleet and exits with CMD's status.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	args := fs.Args()

	available := fleet.Available
	if *systemd > 0 {
		available = fleet.AvailableSystemd
	}
	if err := available(); err != nil {
		fmt.Fprintln(os.Stderr, "dtfleet:", err)
		return 1
	}
	ownDir := *dir == ""
	if ownDir {
		d, err := os.MkdirTemp("", "dtfleet-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "dtfleet:", err)
			return 1
		}
		*dir = d
		defer os.RemoveAll(d)
	}

	// The first SIGINT/SIGTERM cancels the start or ends the wait.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	var logw io.Writer
	if *verbose {
		logw = prefixWriter{os.Stderr}
	}
	t0 := time.Now()
	var f *fleet.Fleet
	var err error
	if *systemd > 0 {
		f, err = fleet.StartSystemd(ctx, fleet.SystemdOptions{
			Dir:       *dir,
			N:         *systemd,
			FirstAddr: *first,
			Port:      *port,
			Log:       logw,
		})
	} else {
		f, err = fleet.Start(ctx, fleet.Options{
			Dir:       *dir,
			N:         *n,
			FirstAddr: *first,
			Port:      *port,
			User:      *user,
			Runit:     *runit,
			Log:       logw,
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dtfleet:", err)
		return 1
	}
	up := time.Since(t0)
	stop := func() int {
		if err := f.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "dtfleet:", err)
			return 1
		}
		return 0
	}
	envFile := filepath.Join(f.Dir, "env.sh")
	if err := f.WriteEnvFile(envFile); err != nil {
		fmt.Fprintln(os.Stderr, "dtfleet:", err)
		stop()
		return 1
	}
	last := f.Hosts[len(f.Hosts)-1]
	summary := fmt.Sprintf("%d hosts %s..%s on %s..%s up in %v (fleet %s, dir %s)",
		len(f.Hosts), f.Hosts[0].Name, last.Name, f.Hosts[0].Addr, last.Addr, up.Round(time.Millisecond), f.ID, f.Dir)

	if len(args) == 0 {
		fmt.Printf("# dtfleet: %s\n", summary)
		for _, h := range f.Hosts {
			fmt.Printf("#   %-8s %-15s %s\n", h.Name, h.Addr, strings.Join(h.Tags, " "))
		}
		fmt.Printf("# In another shell: . %s && dt tag:linux ssh date\n", envFile)
		fmt.Printf("# (OpenSSH's ssh ignores $HOME: ssh -F %s %s)\n", f.SSHConfig, f.Hosts[0].Name)
		if *systemd > 0 {
			fmt.Printf("# Users: root (default), %s@HOST (sudo password %q), %s@HOST (no user manager)\n",
				fleet.SystemdUser, fleet.SudoPassword, fleet.NoLingerUser)
		}
		fmt.Print(f.EnvFile())
		fmt.Printf("# Running until SIGINT or SIGTERM (pid %d).\n", os.Getpid())
		<-ctx.Done()
		fmt.Fprintln(os.Stderr, "dtfleet: stopping")
		return stop()
	}

	fmt.Fprintf(os.Stderr, "dtfleet: %s\n", summary)
	cancel() // from here on, signals are handled below
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = f.Env()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "dtfleet:", err)
		stop()
		return 127
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
wait:
	for {
		select {
		case werr = <-waited:
			break wait
		case sig := <-sigs:
			// A terminal's Ctrl-C reaches CMD by itself (same process
			// group); pass on what was sent to dtfleet alone.
			if sig == syscall.SIGTERM {
				_ = cmd.Process.Signal(sig)
			}
		}
	}
	status := 0
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		status = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			status = 128 + int(ws.Signal())
		}
	default:
		fmt.Fprintln(os.Stderr, "dtfleet:", werr)
		status = 1
	}
	if stop() != 0 && status == 0 {
		status = 1
	}
	return status
}

// prefixWriter prefixes every write with "dtfleet: ".
type prefixWriter struct{ w io.Writer }

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "dtfleet: %s", b); err != nil {
		return 0, err
	}
	return len(b), nil
}
