package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// modeWarm is dt over connections kept by its connection keeper
// (--persist): every measured run is preceded by a run of its own, not
// measured, that leaves the connections in the keeper.
const modeWarm = "warm"

// warmPersist is the --persist of the warm runs: longer than any cell.
const warmPersist = "30m"

// keeper is a connection keeper ("dt mux serve") the harness started in
// a cgroup of its own, so that it outlives the runs (whose cgroups are
// killed after each) and its CPU is known: it is client CPU, and the
// warm runs count it as theirs.
type keeper struct {
	cg   *cgroup
	cmd  *exec.Cmd
	done chan struct{}
	env  []string // XDG_RUNTIME_DIR of this keeper, for dt
}

// startKeeper starts a keeper with its own runtime directory under the
// work directory and waits until it listens.
func (m *meter) startKeeper(ctx context.Context) (*keeper, error) {
	cg, err := newCgroup(m.top.dir, "keeper")
	if err != nil {
		return nil, err
	}
	runtimeDir, err := os.MkdirTemp(m.env.workDir, "xdg-")
	if err != nil {
		return nil, err
	}
	k := &keeper{cg: cg, done: make(chan struct{}), env: []string{"XDG_RUNTIME_DIR=" + runtimeDir}}
	dirFD, err := os.Open(cg.dir)
	if err != nil {
		return nil, err
	}
	defer dirFD.Close()
	k.cmd = exec.Command(m.env.dt, "mux", "serve")
	k.cmd.Env = append(append([]string{}, m.env.baseEnv...), k.env...)
	k.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dirFD.Fd()), Setsid: true}
	if err := k.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the keeper: %w", err)
	}
	go func() {
		k.cmd.Wait()
		close(k.done)
	}()
	sock := filepath.Join(runtimeDir, "dt", "mux.sock")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Lstat(sock); err == nil {
			return k, nil
		}
		select {
		case <-k.done:
			return nil, fmt.Errorf("the keeper exited before it listened")
		case <-ctx.Done():
			k.stop(m)
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			k.stop(m)
			return nil, fmt.Errorf("the keeper did not listen on %s", sock)
		}
	}
}

// stop closes the keeper's connections (dt mux stop), waits for it to
// exit (killing it after 10 s) and removes its cgroup.
func (k *keeper) stop(m *meter) {
	cmd := exec.Command(m.env.dt, "mux", "stop")
	cmd.Env = append(append([]string{}, m.env.baseEnv...), k.env...)
	cmd.Run()
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		k.cmd.Process.Kill()
		<-k.done
	}
	k.cg.remove()
}

// prime runs the cell's invocations once, not measured, so that the
// keeper holds every host's connection.
func (m *meter) prime(ctx context.Context, invs []invocation) error {
	cg, err := newCgroup(m.top.dir, "prime")
	if err != nil {
		return err
	}
	defer cg.remove()
	for _, inv := range invs {
		r, err := m.exec(ctx, cg, inv)
		if err != nil {
			return err
		}
		if r.exit != 0 {
			return fmt.Errorf("priming run %q: exit %d: %.500s", inv.argv, r.exit, r.stderr)
		}
	}
	return nil
}
