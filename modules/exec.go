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
	// Sort writes records in selection order, host by host, instead of as
	// they arrive (--sort, and the views that need it). A host's records
	// are held only while an earlier host is not done. It overrides a
	// Sorter job's order. --stream lines are never held.
	Sort bool
	// Track, when set, hears each host start and finish (progress line,
	// summary).
	Track output.Tracker
	// Stream prints an OutputJob's output line by line as it arrives
	// (Record.Line), then one verdict record per host (--stream).
	Stream bool
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
// produced (see Run.Sort and Sorter for the other orders). Every selected
// host gets at least one record: okay or fail when it ran, fail when the
// run was interrupted before it started in its batch, skip when its batch
// never started (the failure budget was spent, or the run was
// interrupted). Execute returns the number of records that were not okay.
// A record's spilled output is released once r.Out has it; a Writer that
// keeps records retains them.
func Execute(ctx context.Context, r Run) (notOkay int) {
	out := r.Out
	var sorted *sortingWriter
	if s, ok := r.Job.(Sorter); ok && !r.Sort {
		sorted = &sortingWriter{less: s.Less}
		out = sorted
		defer sorted.flush(r.Out)
	}
	counter := &countingWriter{w: out}
	if r.Sort {
		counter.order = newOrderedWriter(out, len(r.Hosts))
	}
	local, raw := false, false
	if lj, ok := r.Job.(LocalJob); ok {
		local = lj.Local()
	}
	if oj, ok := r.Job.(OutputJob); ok {
		raw = oj.RawOutput()
	}
	fanout := r.Fanout
	if u, ok := r.Job.(UnboundedJob); ok && u.Unbounded() && len(r.Hosts) > fanout {
		fanout = len(r.Hosts)
	}
	if bj, ok := r.Job.(BatchJob); ok {
		r.batch(ctx, bj, fanout, counter)
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
			r.skip(counter, batches[k:], fmt.Sprintf("not started: interrupted (stopped before batch %d of %d)", k+1, len(batches)))
			break
		}
		began := time.Now()
		runner.Each(ctx, b[1]-b[0], fanout, func(ctx context.Context, i int) {
			if d := time.Duration(i) * r.Rollout.Stagger; d > 0 {
				select {
				case <-time.After(time.Until(began.Add(d))):
				case <-ctx.Done():
				}
			}
			if r.host(ctx, b[0]+i, local, raw, counter) {
				failedHosts.Add(1)
			}
		})
		if k == len(batches)-1 {
			break
		}
		if failed := int(failedHosts.Load()); budget >= 0 && failed > budget {
			r.skip(counter, batches[k+1:], fmt.Sprintf("not started: %s failed, more than --max-fail %s (stopped after batch %d of %d)",
				hostCount(failed), r.Rollout.budgetText(n), k+1, len(batches)))
			break
		}
	}
	return counter.notOkay()
}

// host runs the job on host i and reports whether the host failed.
func (r Run) host(ctx context.Context, i int, local, raw bool, out *countingWriter) (failed bool) {
	h := &Host{Entry: r.Hosts[i], Module: r.Module, Started: time.Now(), pool: r.Pool, priv: r.Privilege}
	v := hostVerdict{rec: h.Okay(nil)}
	hostEmit := func(rec output.Record) {
		if rec.Status != output.Okay && !rec.Line {
			failed = true
		}
		v.see(rec)
		out.emit(i, rec)
	}
	if r.Track != nil {
		r.Track.HostStarted(h.Name())
	}
	defer func() {
		out.done(i)
		if r.Track != nil {
			r.Track.HostDone(v.rec)
		}
	}()
	if raw {
		h.out.spillAfter = output.SpoolLimit
		if r.Stream {
			h.out.stream = newLineStream(h, hostEmit) // live, even past a gate
		}
	}
	if err := context.Cause(ctx); err != nil {
		hostEmit(h.Fail(&runner.Error{Stage: runner.Stage(err), Err: errors.New("interrupted before start")}))
		return failed
	}
	gate := r.Rollout.Gate.Cmd != "" && GateApplies(r.Job)
	if !local || gate {
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
	if !gate {
		r.Job.Run(jobCtx, h, hostEmit)
		if h.done != nil {
			h.done(jobCtx)
		}
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
	if gateErr != nil && h.undo != nil {
		held.recs = h.undo(ctx, gateErr, held.recs)
	}
	if gateErr == nil && !held.failed && h.done != nil {
		h.done(ctx)
	}
	held.release(hostEmit, gateErr)
	return failed
}

// batch runs a BatchJob over every host.
func (r Run) batch(ctx context.Context, bj BatchJob, fanout int, out *countingWriter) {
	hs := make([]*Host, len(r.Hosts))
	index := make(map[string]int, len(r.Hosts))
	for i, e := range r.Hosts {
		hs[i] = &Host{Entry: e, Module: r.Module, Started: time.Now(), pool: r.Pool, priv: r.Privilege, resolver: r.Resolver}
		index[e.Name] = i
		if r.Track != nil {
			r.Track.HostStarted(e.Name)
		}
	}
	// The records come by host name: each goes in its host's place (for
	// --sort), and the progress line and summary count each host once.
	seen := make([]bool, len(hs))
	var mu sync.Mutex
	emit := func(rec output.Record) {
		i, ok := index[rec.Host]
		if !ok { // a record of no selected host: written as it comes
			if rec.Status != output.Okay {
				out.bad.Add(1)
			}
			writeRecord(out.w, rec)
			return
		}
		out.emit(i, rec)
		mu.Lock()
		first := !seen[i]
		seen[i] = true
		mu.Unlock()
		if first && r.Track != nil {
			r.Track.HostDone(rec)
		}
	}
	defer func() {
		for i := range hs {
			out.done(i)
		}
	}()
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
func (r Run) skip(out *countingWriter, batches [][2]int, why string) {
	for _, b := range batches {
		for i := b[0]; i < b[1]; i++ {
			h := &Host{Entry: r.Hosts[i], Module: r.Module, Started: time.Now()}
			rec := h.Record(output.Skip, "", []byte(why), -1)
			if r.Track != nil {
				r.Track.HostStarted(h.Name())
			}
			out.emit(i, rec)
			out.done(i)
			if r.Track != nil {
				r.Track.HostDone(rec)
			}
		}
	}
}

// countingWriter counts the records that are not okay and passes records
// on: at once, or through order (Run.Sort).
type countingWriter struct {
	w     output.Writer
	order *orderedWriter
	bad   atomic.Int64
}

// emit passes on host i's record.
func (c *countingWriter) emit(i int, rec output.Record) {
	if rec.Status != output.Okay {
		c.bad.Add(1)
	}
	if c.order != nil && !rec.Line {
		c.order.write(i, rec)
		return
	}
	writeRecord(c.w, rec)
}

// done says host i has no more records.
func (c *countingWriter) done(i int) {
	if c.order != nil {
		c.order.done(i)
	}
}

func (c *countingWriter) notOkay() int { return int(c.bad.Load()) }

// writeRecord gives rec to w and then lets go of its spilled output.
func writeRecord(w output.Writer, rec output.Record) {
	// A write error (stdout closed by "| head") is not the host's: dt's
	// main stops the run as on Ctrl-C when its stdout is gone (SIGPIPE).
	_ = w.Write(rec)
	rec.Release()
}

// hostVerdict is what a host's records say about it: its first record
// that is not okay, or okay. The message is left out.
type hostVerdict struct {
	rec output.Record
	bad bool
}

func (v *hostVerdict) see(rec output.Record) {
	if v.bad || rec.Line {
		return
	}
	rec.Message, rec.Spilled = nil, nil
	v.rec, v.bad = rec, rec.Status != output.Okay
}

// orderedWriter writes records in host order: host i's records go out as
// they come while every host before i is done, and wait otherwise.
type orderedWriter struct {
	mu       sync.Mutex
	w        output.Writer
	next     int // the first host not done
	finished []bool
	held     [][]output.Record
}

func newOrderedWriter(w output.Writer, n int) *orderedWriter {
	return &orderedWriter{w: w, finished: make([]bool, n), held: make([][]output.Record, n)}
}

func (o *orderedWriter) write(i int, rec output.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if i == o.next {
		writeRecord(o.w, rec)
		return
	}
	o.held[i] = append(o.held[i], rec)
}

// done marks host i finished and writes what waited for it.
func (o *orderedWriter) done(i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished[i] = true
	for o.next < len(o.finished) && o.finished[o.next] {
		o.next++
		if o.next < len(o.held) {
			for _, rec := range o.held[o.next] {
				writeRecord(o.w, rec)
			}
			o.held[o.next] = nil
		}
	}
}

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
	r.Retain()
	s.recs = append(s.recs, r)
	return nil
}

func (s *sortingWriter) flush(w output.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sort.SliceStable(s.recs, func(i, j int) bool { return s.less(s.recs[i], s.recs[j]) })
	for _, r := range s.recs {
		writeRecord(w, r)
	}
	s.recs = nil
}
