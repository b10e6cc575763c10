package output

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tracker hears about hosts rather than records: when each one starts,
// and its verdict when it is done. The verdict is the host's first failed
// record, or an okay record when none failed, without its message.
// modules.Execute calls it; Tally implements it.
type Tracker interface {
	HostStarted(host string)
	HostDone(verdict Record)
}

// Tally counts a run's hosts as they start and finish, for the progress
// line and the summary. It is safe for concurrent use.
type Tally struct {
	mu      sync.Mutex
	total   int
	started int
	done    int
	counts  map[Status]int
	fails   map[string][]string // failure label -> hosts
}

var _ Tracker = (*Tally)(nil)

// NewTally returns a Tally for a run over total hosts.
func NewTally(total int) *Tally {
	return &Tally{total: total, counts: map[Status]int{}, fails: map[string][]string{}}
}

// HostStarted implements Tracker.
func (t *Tally) HostStarted(string) {
	t.mu.Lock()
	t.started++
	t.mu.Unlock()
}

// HostDone implements Tracker.
func (t *Tally) HostDone(v Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done++
	t.counts[v.Status]++
	if v.Status == Fail {
		l := failLabel(v)
		t.fails[l] = append(t.fails[l], v.Host)
	}
}

// failLabel names the kind of failure for the summary: "exit 1",
// "signal", the stage ("connect", "timeout", ...), or the module's name
// when the module judged the host ("systemctl").
func failLabel(v Record) string {
	switch v.Stage {
	case StageExit:
		if v.ExitCode < 0 {
			return "signal"
		}
		return "exit " + strconv.Itoa(v.ExitCode)
	case StageModule, "":
		if v.Module != "" {
			return v.Module
		}
		return "fail"
	}
	return v.Stage
}

// countsText is "397 okay, 3 fail": okay first, then the other statuses
// in Statuses' order, those with no host left out (all of them: "0 okay").
func (t *Tally) countsText(color bool) string {
	var parts []string
	add := func(s Status) {
		if n := t.counts[s]; n > 0 {
			parts = append(parts, paintIf(color, statusColor(s), strconv.Itoa(n)+" "+string(s)))
		}
	}
	add(Okay)
	for _, s := range Statuses {
		if s != Okay {
			add(s)
		}
	}
	if len(parts) == 0 {
		return "0 okay"
	}
	return strings.Join(parts, ", ")
}

// maxSummaryKinds is how many kinds of failure the summary names.
const maxSummaryKinds = 5

// maxSummaryHosts caps one folded host set in the summary, in bytes.
const maxSummaryHosts = 100

// Summary is the line printed at the end of a run, for example
//
//	400 hosts in 3.1s: 397 okay, 3 fail (exit 1: web[07,12]; connect: db3)
//
// with the failures grouped by kind (failLabel), the largest first, each
// host set written by fold (nil: joined with commas).
func (t *Tally) Summary(elapsed time.Duration, fold func([]string) string, color bool) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := max(t.total, t.done)
	s := fmt.Sprintf("%s in %s: %s", plural(n, "host"), FormatElapsed(elapsed), t.countsText(color))
	if len(t.fails) == 0 {
		return s
	}
	labels := make([]string, 0, len(t.fails))
	for l := range t.fails {
		labels = append(labels, l)
	}
	slices.SortFunc(labels, func(a, b string) int {
		if c := cmp.Compare(len(t.fails[b]), len(t.fails[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var kinds []string
	for i, l := range labels {
		if i == maxSummaryKinds {
			kinds = append(kinds, fmt.Sprintf("%d more kinds", len(labels)-i))
			break
		}
		set := strings.Join(t.fails[l], ",")
		if fold != nil {
			set = fold(t.fails[l])
		}
		if len(set) > maxSummaryHosts {
			set = set[:maxSummaryHosts] + "..."
		}
		kinds = append(kinds, l+": "+string(appendEscaped(nil, set, 0)))
	}
	return s + " (" + strings.Join(kinds, "; ") + ")"
}

// progressText is the live status line: "37/400 done, 35 okay, 2 fail,
// 64 running, 3.2s".
func (t *Tally) progressText(elapsed time.Duration) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "dt: %d/%d done", t.done, t.total)
	if t.done > 0 {
		b.WriteString(", ")
		b.WriteString(t.countsText(false))
	}
	fmt.Fprintf(&b, ", %d running, %s", t.started-t.done, FormatElapsed(elapsed))
	return b.String()
}

// FormatElapsed writes a run's duration for people: "0.4s", "3.1s",
// "1m23s".
func FormatElapsed(d time.Duration) string {
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return d.Round(time.Second).String()
}

// statusColor is the colour of a status, as in the OMNI line.
func statusColor(s Status) string {
	switch s {
	case Okay:
		return colorOkay
	case Skip:
		return colorSkip
	}
	return colorFail
}

func paintIf(color bool, c, s string) string {
	if !color {
		return s
	}
	return c + s + colorReset
}
