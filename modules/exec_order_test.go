package modules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

// delayJob emits, per host, a record after a delay (later hosts faster),
// and a failure for the hosts in fail; it connects to nothing.
type delayJob struct {
	n     int
	fail  map[string]bool
	twice bool
}

func (delayJob) Local() bool { return true }

func (j delayJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	var i int
	fmt.Sscanf(h.Name(), "h%d", &i)
	time.Sleep(time.Duration(j.n-i) * 3 * time.Millisecond)
	if j.fail[h.Name()] {
		emit(h.Record(output.Fail, output.StageExit, []byte("no"), 2))
	} else {
		emit(h.Okay([]byte(h.Name())))
	}
	if j.twice {
		emit(h.Okay([]byte("again")))
	}
}

func localHosts(n int) []hosts.Host {
	hs := make([]hosts.Host, n)
	for i := range hs {
		hs[i] = hosts.Host{Hop: hosts.Hop{Name: fmt.Sprintf("h%d", i)}}
	}
	return hs
}

func hostsOf(recs []output.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.Host)
	}
	return strings.Join(s, ",")
}

// TestExecuteSort: with Sort, records come out in selection order even
// when the hosts finish in reverse; without it, as they finish.
func TestExecuteSort(t *testing.T) {
	const n = 12
	var arrival collect
	Execute(context.Background(), Run{Module: "t", Job: delayJob{n: n}, Hosts: localHosts(n), Fanout: n, Out: &arrival})
	if got := hostsOf(arrival.recs); got == hostsOf(sortedRecs(n)) {
		t.Fatalf("hosts finished in selection order (%s); the test needs them out of order", got)
	}
	var sorted collect
	Execute(context.Background(), Run{Module: "t", Job: delayJob{n: n, twice: true}, Hosts: localHosts(n), Fanout: 3, Out: &sorted, Sort: true})
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("h%d", i), fmt.Sprintf("h%d", i))
	}
	if got := hostsOf(sorted.recs); got != strings.Join(want, ",") {
		t.Errorf("sorted: %s\nwant    %s", got, strings.Join(want, ","))
	}
}

func sortedRecs(n int) []output.Record {
	var recs []output.Record
	for i := range n {
		recs = append(recs, output.Record{Host: fmt.Sprintf("h%d", i)})
	}
	return recs
}

type trackLog struct {
	collect
	started []string
	done    []output.Record
}

func (l *trackLog) HostStarted(h string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started = append(l.started, h)
}

func (l *trackLog) HostDone(v output.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = append(l.done, v)
}

// TestExecuteTrack: every host is reported started and done, once, with
// its first failure as verdict and no message.
func TestExecuteTrack(t *testing.T) {
	var log trackLog
	var out collect
	failed := Execute(context.Background(), Run{Module: "t", Job: delayJob{n: 5, fail: map[string]bool{"h1": true, "h3": true}, twice: true},
		Hosts: localHosts(5), Fanout: 2, Out: &out, Track: &log})
	if failed != 2 || len(log.started) != 5 || len(log.done) != 5 {
		t.Fatalf("failed %d, started %d, done %d", failed, len(log.started), len(log.done))
	}
	for _, v := range log.done {
		wantFail := v.Host == "h1" || v.Host == "h3"
		if (v.Status == output.Fail) != wantFail || v.Message != nil {
			t.Errorf("verdict %+v", v)
		}
		if wantFail && (v.Stage != output.StageExit || v.ExitCode != 2) {
			t.Errorf("verdict of %s: %s %d", v.Host, v.Stage, v.ExitCode)
		}
	}
}

// TestExecuteReleasesSpilledOutput: once the writer has a record, its
// spool file is closed; a writer that holds records keeps it open until
// it releases them.
func TestExecuteReleasesSpilledOutput(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	job := spillJob{}
	var out collect
	Execute(context.Background(), Run{Module: "t", Job: job, Hosts: localHosts(3), Fanout: 3, Out: &out})
	if n := openSpools(t, dir); n != 0 {
		t.Errorf("%d spool files still open after the records were written", n)
	}
	var held holdAll
	Execute(context.Background(), Run{Module: "t", Job: job, Hosts: localHosts(3), Fanout: 3, Out: &held, Sort: true})
	if n := openSpools(t, dir); n != 3 {
		t.Errorf("%d spool files open while a writer holds 3 records, want 3", n)
	}
	for _, r := range held.recs {
		r.Release()
	}
	if n := openSpools(t, dir); n != 0 {
		t.Errorf("%d spool files open after the holder released them", n)
	}
}

type spillJob struct{}

func (spillJob) Local() bool { return true }

func (spillJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	sp := output.NewSpool(4)
	sp.Write([]byte("more than four bytes"))
	r := h.Okay(nil)
	r.Spilled = &output.Spilled{Spool: sp, N: sp.Len()}
	emit(r)
}

type holdAll struct{ collect }

func (h *holdAll) Write(r output.Record) error {
	r.Retain()
	return h.collect.Write(r)
}

func openSpools(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal("no /proc/self/fd: ", err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}
