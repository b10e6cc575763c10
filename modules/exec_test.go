package modules

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// threeSteps runs three commands per host, as restart + verify + journal
// will.
type threeSteps struct{}

func (threeSteps) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	var out []byte
	for i := 1; i <= 3; i++ {
		res, err := h.Run(ctx, runner.Command{Cmd: fmt.Sprintf("echo step%d", i)})
		if err != nil {
			emit(h.Fail(err))
			return
		}
		out = append(out, res.Output...)
	}
	emit(h.Okay(out))
}

type collect struct {
	mu   sync.Mutex
	recs []output.Record
}

func (c *collect) Write(r output.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r)
	return nil
}

// fleetRunner loads f's inventory and gives a resolver and a pool for it,
// as the CLI builds them; the pool is closed when the test ends.
func fleetRunner(t *testing.T, f *fleet.Fleet) (*hosts.Inventory, *runner.Resolver, *runner.Pool) {
	t.Helper()
	inv, err := hosts.LoadInventory(f.DB)
	if err != nil {
		t.Fatal(err)
	}
	cfg := runner.Config{Home: f.Home, LocalUser: "nobody", SSHConfigFiles: []string{filepath.Join(f.Home, ".ssh", "config")}}
	res, err := runner.NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := runner.NewPool(cfg)
	t.Cleanup(func() { pool.Close() })
	return inv, res, pool
}

// TestExecuteReusesConnection: a job that runs three commands on each of
// 8 real sshd hosts costs one handshake per host, counted by the servers.
func TestExecuteReusesConnection(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 8})
	inv, res, pool := fleetRunner(t, f)
	var out collect
	failed := Execute(context.Background(), Run{Module: "three", Job: threeSteps{}, Hosts: inv.Hosts, Resolver: res, Pool: pool, Fanout: 4, Out: &out})
	if failed != 0 || len(out.recs) != 8 {
		t.Fatalf("failed %d, %d records: %+v", failed, len(out.recs), out.recs)
	}
	for _, r := range out.recs {
		if string(r.Message) != "step1\nstep2\nstep3\n" {
			t.Errorf("%s: %q", r.Host, r.Message)
		}
	}
	for _, h := range f.Hosts {
		if n, _ := f.Handshakes(h.Name); n != 1 {
			t.Errorf("%s: %d handshakes for 3 commands, want 1", h.Name, n)
		}
	}
	if n := pool.Handshakes(); n != 8 {
		t.Errorf("pool counted %d handshakes, want 8", n)
	}
}

// undoJob emits one okay record per host and registers an undo that
// counts its calls and rewrites the record.
type undoJob struct {
	mu     *sync.Mutex
	undone map[string]error
}

func (j undoJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	if _, err := h.Run(ctx, runner.Command{Cmd: "true"}); err != nil {
		emit(h.Fail(err))
		return
	}
	h.OnGateFailure(func(ctx context.Context, gateErr error, recs []output.Record) []output.Record {
		j.mu.Lock()
		j.undone[h.Name()] = gateErr
		j.mu.Unlock()
		return []output.Record{h.Okay(append(recs[0].Message, "; undone"...))}
	})
	emit(h.Okay([]byte("did it")))
}

// TestExecuteGateUndo: a job's undo runs on the hosts whose gate fails,
// and only there; its records replace the job's and fail with stage gate.
func TestExecuteGateUndo(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 2})
	inv, res, pool := fleetRunner(t, f)
	bad := f.Hosts[1].Name
	job := undoJob{mu: &sync.Mutex{}, undone: map[string]error{}}
	var out collect
	gate := Gate{Cmd: `[ "$DT_TEST_HOST" != ` + Quote(bad) + ` ]`, Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}
	failed := Execute(context.Background(), Run{Module: "undo", Job: job, Hosts: inv.Hosts, Resolver: res, Pool: pool, Fanout: 2, Out: &out,
		Rollout: Rollout{Gate: gate}})
	if failed != 1 || len(out.recs) != 2 {
		t.Fatalf("failed %d, %d records: %+v", failed, len(out.recs), out.recs)
	}
	if len(job.undone) != 1 || job.undone[bad] == nil {
		t.Errorf("undone on %v, want only %s", job.undone, bad)
	}
	for _, r := range out.recs {
		switch {
		case r.Host == bad && (r.Status != output.Fail || r.Stage != output.StageGate || !strings.HasSuffix(string(r.Message), "; did it; undone")):
			t.Errorf("%s: %s %s %q, want a gate failure with the undo's message", r.Host, r.Status, r.Stage, r.Message)
		case r.Host != bad && (r.Status != output.Okay || string(r.Message) != "did it"):
			t.Errorf("%s: %s %q, want okay, not undone", r.Host, r.Status, r.Message)
		}
	}
}
