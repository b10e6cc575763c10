package modules

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// LocalJob is implemented by jobs that never connect (list): Execute does
// not resolve their hosts through ssh_config.
type LocalJob interface {
	Local() bool
}

// Run describes one dt invocation over a host list.
type Run struct {
	Module   string
	Job      Job
	Hosts    []hosts.Host
	Resolver *runner.Resolver
	Pool     *runner.Pool
	Fanout   int
	Timeout  time.Duration // per host, from the first command to the last
	Out      output.Writer
}

// Execute runs r.Job on every host, at most r.Fanout at a time, and writes
// every record to r.Out as it is produced. Every host gets at least one
// record, even when the run is interrupted before it starts. Execute
// returns the number of fail records written.
func Execute(ctx context.Context, r Run) (failed int) {
	counter := &countingWriter{w: r.Out}
	local := false
	if lj, ok := r.Job.(LocalJob); ok {
		local = lj.Local()
	}
	runner.Each(ctx, len(r.Hosts), r.Fanout, func(ctx context.Context, i int) {
		h := &Host{Entry: r.Hosts[i], Module: r.Module, Started: time.Now(), pool: r.Pool}
		emit := counter.emit
		if err := context.Cause(ctx); err != nil {
			emit(h.Fail(&runner.Error{Stage: runner.Stage(err), Err: errors.New("interrupted before start")}))
			return
		}
		if !local {
			t, err := r.Resolver.Resolve(h.Entry)
			if err != nil {
				emit(h.Fail(&runner.Error{Stage: output.StageResolve, Err: err}))
				return
			}
			h.target = t
			defer r.Pool.Release(t)
		}
		if r.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(ctx, r.Timeout, &runner.TimeoutError{After: r.Timeout})
			defer cancel()
		}
		r.Job.Run(ctx, h, emit)
	})
	return counter.failed()
}

type countingWriter struct {
	w    output.Writer
	fail atomic.Int64
}

func (c *countingWriter) emit(rec output.Record) {
	if rec.Status != output.Okay {
		c.fail.Add(1)
	}
	// A write error (stdout closed by "| head") must not stop the run.
	_ = c.w.Write(rec)
}

func (c *countingWriter) failed() int { return int(c.fail.Load()) }
