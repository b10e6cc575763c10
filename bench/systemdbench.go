package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/dtools/dt/internal/fleet"
)

// systemdBench is a throwaway fleet of systemd containers that a benchmark
// runs the dt under test against, with a private directory for its files.
type systemdBench struct {
	dir   string // removed by Close
	dtBin string // absolute path of the dt under test
	fleet *fleet.Fleet
}

// startSystemdBench boots n containers for the benchmark called name.
func startSystemdBench(ctx context.Context, c config, name string, n int) (*systemdBench, error) {
	dtBin, err := filepath.Abs(c.dt)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dtbench-"+name+"-")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "dtbench: starting %d systemd containers\n", n)
	f, err := fleet.StartSystemd(ctx, fleet.SystemdOptions{Dir: filepath.Join(dir, "fleet"), N: n})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &systemdBench{dir: dir, dtBin: dtBin, fleet: f}, nil
}

// Close stops the containers and removes the benchmark's files.
func (b *systemdBench) Close() {
	b.fleet.Stop()
	os.RemoveAll(b.dir)
}

// dt returns a function that runs the dt under test with base and then its
// arguments, in env, to the end. It returns the finished command (for its
// rusage) and an error naming the arguments and the output when dt failed.
func (b *systemdBench) dt(ctx context.Context, env []string, base ...string) func(args ...string) (*exec.Cmd, error) {
	return func(args ...string) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, b.dtBin, append(append([]string{}, base...), args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return cmd, fmt.Errorf("dt %s: %v: %.800s", strings.Join(args, " "), err, out)
		}
		return cmd, nil
	}
}
