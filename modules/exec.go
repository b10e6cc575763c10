package modules

import (
	"context"
	"errors"
	"fmt"
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
	// Rollout says how the hosts are taken: batches, failure budget,
	// health gate. The zero value runs every host in one batch.
	Rollout Rollout
}

// UnboundedJob is implemented by jobs that hold a host until the run ends
// (journal -f): Execute then runs every host at once, whatever the fanout.
type UnboundedJob interface {
	Unbounded() bool
}

// BatchJob is implemented by jobs that act on the selected hosts
// together, such as inventory edits that must be one transaction: Execute
// calls RunBatch once with every host instead of Run for each. each calls
// fn for every host, at most Fanout at a time and each within the run's
// --timeout, as Execute does for Run. RunBatch emits at least one record
// per host; the batching of a Rollout does not apply.
type BatchJob interface {
	RunBatch(ctx context.Context, hs []*Host, each func(fn func(ctx context.Context, h *Host)), emit func(output.Record))
}

// HostsChecker is implemented by jobs that accept or refuse the selected
// hosts before anything runs (del asks before deleting more than one).
// The CLI calls CheckHosts after selecting the hosts; its error ends the
// run: a *UsageError for a refusal, ErrDeclined when the person said no.
type HostsChecker interface {
	CheckHosts(hs []hosts.Host) error
}

// ErrDeclined is returned by CheckHosts when the person asked declined.
var ErrDeclined = errors.New("not confirmed")

// Sorter is implemented by jobs whose records are printed in an order of
// their own (journal: by time across hosts) once every host is done,
// instead of as they arrive. Less must be a strict weak order.
type Sorter interface {
	Less(a, b output.Record) bool
}

// Execute runs r.Job on every host, at most r.Fanout at a time, in the
// batches of r.Rollout, and writes every record to r.Out as it is
// produced. Every selected host gets at least one record: okay or fail
// when it ran, fail when the run was interrupted before it started in its
// batch, skip when its batch never started (the failure budget was spent,
// or the run was interrupted). Execute returns the number of records that
// were not okay.
func Execute(ctx context.Context, r Run) (notOkay int) {
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
	if bj, ok := r.Job.(BatchJob); ok {
		r.batch(ctx, bj, fanout, counter.emit)
		return counter.notOkay()
	}
	n := len(r.Hosts)
	batches := r.Rollout.batches(n)
	budget := r.Rollout.budget(n)
	var failedHosts atomic.Int64
	for k, b := range batches {
		if k > 0 && r.Rollout.BatchWait > 0 {
			select {
			case <-time.After(r.Rollout.BatchWait):
			case <-ctx.Done():
			}
		}
		if context.Cause(ctx) != nil && k > 0 {
			r.skip(counter.emit, batches[k:], fmt.Sprintf("not started: interrupted (stopped before batch %d of %d)", k+1, len(batches)))
			break
		}
		batch := r.Hosts[b[0]:b[1]]
		began := time.Now()
		runner.Each(ctx, len(batch), fanout, func(ctx context.Context, i int) {
			if d := time.Duration(i) * r.Rollout.Stagger; d > 0 {
				select {
				case <-time.After(time.Until(began.Add(d))):
				case <-ctx.Done():
				}
			}
			if r.host(ctx, batch[i], local, counter.emit) {
				failedHosts.Add(1)
			}
		})
		if k == len(batches)-1 {
			break
		}
		if failed := int(failedHosts.Load()); budget >= 0 && failed > budget {
			r.skip(counter.emit, batches[k+1:], fmt.Sprintf("not started: %s failed, more than --max-fail %s (stopped after batch %d of %d)",
				hostCount(failed), r.Rollout.budgetText(n), k+1, len(batches)))
			break
		}
	}
	return counter.notOkay()
}

// host runs the job on one host and reports whether the host failed.
func (r Run) host(ctx context.Context, e hosts.Host, local bool, emit func(output.Record)) (failed bool) {
	h := &Host{Entry: e, Module: r.Module, Started: time.Now(), pool: r.Pool, priv: r.Privilege}
	hostEmit := func(rec output.Record) {
		if rec.Status != output.Okay {
			failed = true
		}
		emit(rec)
	}
	if err := context.Cause(ctx); err != nil {
		hostEmit(h.Fail(&runner.Error{Stage: runner.Stage(err), Err: errors.New("interrupted before start")}))
		return failed
	}
	if !local {
		t, err := r.Resolver.Resolve(h.Entry)
		if err != nil {
			hostEmit(h.Fail(&runner.Error{Stage: output.StageResolve, Err: err}))
			return failed
		}
		h.target = t
		defer h.release()
	}
	jobCtx := ctx
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		jobCtx, cancel = context.WithTimeoutCause(ctx, r.Timeout, &runner.TimeoutError{After: r.Timeout})
		defer cancel()
	}
	if r.Rollout.Gate.Cmd == "" || local {
		r.Job.Run(jobCtx, h, hostEmit)
		return failed
	}
	// Hold the records until the gate has spoken (it runs outside the
	// module's --timeout, within its own --gate-timeout).
	var held gated
	r.Job.Run(jobCtx, h, held.emit)
	var gateErr error
	if !held.failed && len(held.recs) > 0 {
		gateErr = r.Rollout.Gate.wait(ctx, h)
	}
	held.release(hostEmit, gateErr)
	return failed
}

// batch runs a BatchJob over every host.
func (r Run) batch(ctx context.Context, bj BatchJob, fanout int, emit func(output.Record)) {
	hs := make([]*Host, len(r.Hosts))
	for i, e := range r.Hosts {
		hs[i] = &Host{Entry: e, Module: r.Module, Started: time.Now(), pool: r.Pool, priv: r.Privilege, resolver: r.Resolver}
	}
	defer func() {
		for _, h := range hs {
			h.release()
		}
	}()
	each := func(fn func(ctx context.Context, h *Host)) {
		runner.Each(ctx, len(hs), fanout, func(ctx context.Context, i int) {
			if r.Timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeoutCause(ctx, r.Timeout, &runner.TimeoutError{After: r.Timeout})
				defer cancel()
			}
			fn(ctx, hs[i])
		})
	}
	bj.RunBatch(ctx, hs, each, emit)
}

// skip writes a skip record for every host of batches.
func (r Run) skip(emit func(output.Record), batches [][2]int, why string) {
	for _, b := range batches {
		for _, e := range r.Hosts[b[0]:b[1]] {
			h := &Host{Entry: e, Module: r.Module, Started: time.Now()}
			emit(h.Record(output.Skip, "", []byte(why), -1))
		}
	}
}

type countingWriter struct {
	w   output.Writer
	bad atomic.Int64
}

func (c *countingWriter) emit(rec output.Record) {
	if rec.Status != output.Okay {
		c.bad.Add(1)
	}
	// A write error (stdout closed by "| head") must not stop the run.
	_ = c.w.Write(rec)
}

func (c *countingWriter) notOkay() int { return int(c.bad.Load()) }

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
