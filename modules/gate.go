package modules

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Gate is a health check that must pass on a host after the module's work
// there (--gate): Cmd is run on the host's connection every Interval until
// it exits 0, for at most Timeout.
type Gate struct {
	Cmd      string
	Interval time.Duration
	Timeout  time.Duration
}

// The gate defaults (--gate-interval, --gate-timeout).
const (
	DefaultGateInterval = time.Second
	DefaultGateTimeout  = 60 * time.Second
)

// wait runs the gate on h until it passes, its time is up or ctx ends. It
// returns nil when it passed, else the reason the host fails.
func (g Gate) wait(ctx context.Context, h *Host) error {
	interval, timeout := g.Interval, g.Timeout
	if interval <= 0 {
		interval = DefaultGateInterval
	}
	if timeout <= 0 {
		timeout = DefaultGateTimeout
	}
	gctx, cancel := context.WithTimeoutCause(ctx, timeout, errGateTimeout)
	defer cancel()
	start := time.Now()
	tries := 0
	var last string
	for {
		tries++
		res, err := h.Run(gctx, runner.Command{Cmd: g.Cmd})
		if err == nil && res.ExitCode == 0 {
			return nil
		}
		switch {
		case err != nil && context.Cause(ctx) != nil:
			return err // interrupted
		case err != nil && context.Cause(gctx) == nil:
			return err // the host itself failed (connection lost)
		case err != nil:
			// Cut off by the deadline: the last answer the gate gave
			// says more than that (and under load a try that would
			// have failed the same way can take long).
			if last == "" {
				last = "still running after " + timeout.String()
			}
		default:
			last = fmt.Sprintf("exit %d", res.ExitCode)
			if res.Signal != "" {
				last = "killed by signal " + res.Signal
			}
			if out := strings.TrimSpace(string(res.Output)); out != "" {
				last += ": " + out
			}
		}
		if context.Cause(gctx) != nil || time.Since(start)+interval > timeout {
			break
		}
		select {
		case <-time.After(interval):
		case <-gctx.Done():
		}
		if context.Cause(ctx) != nil {
			return context.Cause(ctx)
		}
	}
	return &runner.Error{Stage: output.StageGate, Err: fmt.Errorf("%s did not pass within %s (%d tries; last: %s)", Quote(g.Cmd), timeout, tries, last)}
}

var errGateTimeout = fmt.Errorf("gate timed out")

// gated holds a host's records while its gate runs: they are written as
// they were when it passes, and as failures of stage gate when it does not.
type gated struct {
	recs   []output.Record
	failed bool
}

func (g *gated) emit(r output.Record) {
	if r.Status != output.Okay {
		g.failed = true
	}
	g.recs = append(g.recs, r)
}

// release writes the held records to emit; when gateErr is not nil, every
// okay record becomes a failure of stage gate saying why, followed by what
// the module had said.
func (g *gated) release(emit func(output.Record), gateErr error) {
	for _, r := range g.recs {
		if gateErr != nil && r.Status == output.Okay {
			r.Status, r.ExitCode = output.Fail, -1
			r.Stage = runner.Stage(gateErr)
			msg := gateErr.Error()
			switch {
			case r.Spilled != nil:
				sp := *r.Spilled
				sp.Head = append([]byte(msg+"; "), sp.Head...)
				r.Spilled = &sp
			case len(r.Message) > 0:
				msg += "; " + string(r.Message)
				r.Message = []byte(msg)
			default:
				r.Message = []byte(msg)
			}
		}
		emit(r)
	}
}

// HostGate is implemented by a job that connects to no host but whose
// work is about the host all the same (local: a command here that acts on
// it): --gate runs on the host after it, over a connection of its own.
type HostGate interface {
	GateOnHost() bool
}

// GateApplies reports whether --gate means something after job: a job
// that works on the hosts runs the gate on its connection, a HostGate job
// on one dialled for the gate; the inventory modules (add, tag, del) and
// list touch no host, and a gate after them would check nothing they did.
func GateApplies(job Job) bool {
	if _, ok := job.(BatchJob); ok {
		return false
	}
	if lj, ok := job.(LocalJob); ok && lj.Local() {
		hg, ok := job.(HostGate)
		return ok && hg.GateOnHost()
	}
	return true
}
