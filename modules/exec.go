package modules

import (
	"context"
	"errors"
	"sort"
	"sync"
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
	// Privilege elevates every remote command (--sudo, -K).
	Privilege Privilege
}

// UnboundedJob is implemented by jobs that hold a host until the run ends
// (journal -f): Execute then runs every host at once, whatever the fanout.
type UnboundedJob interface {
	Unbounded() bool
}

// Sorter is implemented by jobs whose records are printed in an order of
// their own (journal: by time across hosts) once every host is done,
// instead of as they arrive. Less must be a strict weak order.
type Sorter interface {
	Less(a, b output.Record) bool
}

// Execute runs r.Job on every host, at most r.Fanout at a time, and writes
// every record to r.Out as it is produced. Every host gets at least one
// record, even when the run is interrupted before it starts. Execute
// returns the number of fail records written.
func Execute(ctx context.Context, r Run) (failed int) {
	out := r.Out
	var sorted *sortingWriter
	if s, ok := r.Job.(Sorter); ok {
		sorted = &sortingWriter{less: s.Less}
		out = sorted
		defer sorted.flush(r.Out)
	}
	counter := &countingWriter{w: out}
	local := false
	if lj, ok := r.Job.(LocalJob); ok {
		local = lj.Local()
	}
	fanout := r.Fanout
	if u, ok := r.Job.(UnboundedJob); ok && u.Unbounded() && len(r.Hosts) > fanout {
		fanout = len(r.Hosts)
	}
	runner.Each(ctx, len(r.Hosts), fanout, func(ctx context.Context, i int) {
		h := &Host{Entry: r.Hosts[i], Module: r.Module, Started: time.Now(), pool: r.Pool, priv: r.Privilege}
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
			defer h.release()
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

// sortingWriter holds records until the run ends, then writes them in the
// job's order (stable: equal records keep their arrival order).
type sortingWriter struct {
	less func(a, b output.Record) bool
	mu   sync.Mutex
	recs []output.Record
}

func (s *sortingWriter) Write(r output.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	return nil
}

func (s *sortingWriter) flush(w output.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sort.SliceStable(s.recs, func(i, j int) bool { return s.less(s.recs[i], s.recs[j]) })
	for _, r := range s.recs {
		_ = w.Write(r)
	}
	s.recs = nil
}
