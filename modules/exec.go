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
	// Sort writes records in selection order, host by host, instead of as
	// they arrive (--sort, and the views that need it). A host's records
	// are held only while an earlier host is still running. It overrides
	// a Sorter job's order. --stream lines are never held.
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

// Sorter is implemented by jobs whose records are printed in an order of
// their own (journal: by time across hosts) once every host is done,
// instead of as they arrive. Less must be a strict weak order.
type Sorter interface {
	Less(a, b output.Record) bool
}

// Execute runs r.Job on every host, at most r.Fanout at a time, and writes
// every record to r.Out as it is produced (see Run.Sort and Sorter for the
// other orders). Every host gets at least one record, even when the run is
// interrupted before it starts. Execute returns the number of fail records
// written. A record's spilled output is released once r.Out has it; a
// Writer that keeps records retains them.
func Execute(ctx context.Context, r Run) (failed int) {
	out := r.Out
	var sorted *sortingWriter
	if s, ok := r.Job.(Sorter); ok && !r.Sort {
		sorted = &sortingWriter{less: s.Less}
		out = sorted
		defer sorted.flush(r.Out)
	}
	var order *orderedWriter
	if r.Sort {
		order = newOrderedWriter(out, len(r.Hosts))
	}
	var fails atomic.Int64
	local := false
	if lj, ok := r.Job.(LocalJob); ok {
		local = lj.Local()
	}
	raw := false
	if oj, ok := r.Job.(OutputJob); ok {
		raw = oj.RawOutput()
	}
	fanout := r.Fanout
	if u, ok := r.Job.(UnboundedJob); ok && u.Unbounded() && len(r.Hosts) > fanout {
		fanout = len(r.Hosts)
	}
	runner.Each(ctx, len(r.Hosts), fanout, func(ctx context.Context, i int) {
		h := &Host{Entry: r.Hosts[i], Module: r.Module, Started: time.Now(), pool: r.Pool, priv: r.Privilege}
		v := hostVerdict{rec: h.Okay(nil)}
		emit := func(rec output.Record) {
			if rec.Status != output.Okay {
				fails.Add(1)
			}
			v.see(rec)
			if order != nil && !rec.Line {
				order.write(i, rec)
				return
			}
			writeRecord(out, rec)
		}
		if raw {
			h.out.spillAfter = output.SpoolLimit
			if r.Stream {
				h.out.stream = newLineStream(h, emit)
			}
		}
		if r.Track != nil {
			r.Track.HostStarted(h.Name())
		}
		defer func() {
			if order != nil {
				order.done(i)
			}
			if r.Track != nil {
				r.Track.HostDone(v.rec)
			}
		}()
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
	return int(fails.Load())
}

// writeRecord gives rec to w and then lets go of its spilled output.
func writeRecord(w output.Writer, rec output.Record) {
	// A write error (stdout closed by "| head") must not stop the run.
	_ = w.Write(rec)
	rec.Release()
}

// hostVerdict is what a host's records say about it: its first failure, or
// okay. The message is left out.
type hostVerdict struct {
	rec    output.Record
	failed bool
}

func (v *hostVerdict) see(rec output.Record) {
	if v.failed || rec.Line {
		return
	}
	rec.Message, rec.Spilled = nil, nil
	if rec.Status != output.Okay {
		v.rec, v.failed = rec, true
		return
	}
	v.rec = rec
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
