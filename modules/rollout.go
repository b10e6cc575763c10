package modules

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Size is a number of hosts, given absolutely ("10") or as a share of the
// selection ("10%").
type Size struct {
	N       int
	Percent bool
}

// ParseSize parses "N" or "N%" (N >= 0; a percentage at most 100).
func ParseSize(s string) (Size, error) {
	v, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || pct && n > 100 {
		return Size{}, fmt.Errorf("%q: want a number of hosts (10) or a percentage of the selection (10%%)", s)
	}
	return Size{N: n, Percent: pct}, nil
}

// Of returns the size for a selection of total hosts: N, or N% of total
// rounded down.
func (s Size) Of(total int) int {
	if s.Percent {
		return s.N * total / 100
	}
	return s.N
}

// String returns the size as written: "10" or "10%".
func (s Size) String() string {
	if s.Percent {
		return strconv.Itoa(s.N) + "%"
	}
	return strconv.Itoa(s.N)
}

// Rollout says how a run goes through its hosts. The zero value runs them
// all as one batch (bounded only by the fanout), as dt always did.
type Rollout struct {
	// Batch is the number of hosts per batch (--batch); zero: one batch.
	// A percentage is of the selection, rounded down, at least 1.
	Batch Size
	// Canary is the size of a first batch before the others (--canary);
	// zero: none.
	Canary int
	// MaxFail, when set (--max-fail), is how many hosts may fail: once more
	// than that have failed, no further batch starts and the hosts not
	// started get skip records.
	MaxFail *Size
	// BatchWait is the pause between batches (--batch-wait).
	BatchWait time.Duration
	// Stagger spreads the starts of the hosts of a batch: the i-th host of
	// a batch starts no earlier than i*Stagger after the batch began.
	Stagger time.Duration
	// Gate, when its Cmd is set, must pass on a host after the module's
	// work for the host to be okay (--gate).
	Gate Gate
}

// batches splits n hosts into consecutive [start, end) ranges.
func (r Rollout) batches(n int) [][2]int {
	size := n
	if r.Batch.N > 0 {
		size = max(r.Batch.Of(n), 1)
	}
	var out [][2]int
	start := 0
	if r.Canary > 0 && n > 0 {
		end := min(r.Canary, n)
		out = append(out, [2]int{0, end})
		start = end
	}
	for start < n {
		end := min(start+size, n)
		out = append(out, [2]int{start, end})
		start = end
	}
	return out
}

// budget returns how many of n hosts may fail, or -1 for no limit.
func (r Rollout) budget(n int) int {
	if r.MaxFail == nil {
		return -1
	}
	return r.MaxFail.Of(n)
}

// budgetText names the failure budget for a skip record: "5", or "2% (6
// hosts)".
func (r Rollout) budgetText(n int) string {
	if r.MaxFail.Percent {
		return fmt.Sprintf("%s (%s)", r.MaxFail, hostCount(r.budget(n)))
	}
	return r.MaxFail.String()
}

// hostCount writes "1 host" or "N hosts".
func hostCount(n int) string {
	if n == 1 {
		return "1 host"
	}
	return strconv.Itoa(n) + " hosts"
}
