package modules

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dtools/dt/runner"
)

// journalWaits are the pauses before each read of a failed unit's journal
// when no settle window has passed yet. The unit's own output reaches
// journald through a stream that a busy journald may read well after
// systemd's messages about the failure, so while the lines read so far come
// from systemd alone, dt waits and reads again.
var journalWaits = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// failureJournal reads the unit's journal for a failure record, waiting for
// the unit's own lines as journalWaits says (after a settle window it reads
// once, at once).
func (j systemctlJob) failureJournal(ctx context.Context, h *Host, unit string, since int64, wait bool) []byte {
	waits := journalWaits
	if !wait {
		waits = []time.Duration{0}
	}
	var lines []byte
	for _, d := range waits {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return lines
		}
		lines = j.journal(ctx, h, unit, since)
		if hasUnitOutput(lines) {
			break
		}
	}
	return lines
}

// hasUnitOutput says whether short-iso journal lines include one that is
// not systemd's own ("HOST systemd[PID]: ...").
func hasUnitOutput(lines []byte) bool {
	for _, l := range strings.Split(string(lines), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && !strings.HasPrefix(f[2], "systemd[") {
			return true
		}
	}
	return false
}

// journal returns the unit's last journal lines since the remote clock read
// before the action, or nil when there are none or they cannot be read.
//
// "journalctl -u UNIT" alone misses the output of processes that exit
// within milliseconds (a daemon rejecting its config): journald cannot tell
// their unit any more and stores the lines without it. So the same remote
// command also asks for the lines of the unit's exec processes by PID (from
// "systemctl show": ExecStartPre=... pid=N ...), and the two are merged.
func (j systemctlJob) journal(ctx context.Context, h *Host, unit string, since int64) []byte {
	jc := []string{"journalctl"}
	sc := []string{"systemctl"}
	if j.user {
		jc = append(jc, "--user")
		sc = append(sc, "--user")
	}
	jc = append(jc, "--no-pager", "-q", "-o", "short-iso-precise", "-n", strconv.Itoa(j.lines),
		"--since", "@"+strconv.FormatInt(since, 10))
	q := Quote(unit)
	script := unitPIDs(sc, unit) + QuoteAll(jc) + " -u " + q + "; " +
		`if [ -n "$pids" ]; then ` + QuoteAll(jc) + " " + pidMatches + "; fi"
	res, err := h.Run(ctx, runner.Command{Cmd: j.wrap(script)})
	if err != nil || res.ExitCode != 0 {
		return nil
	}
	return lastLines(mergeLines(res.Output), j.lines)
}

// mergeLines sorts journal lines by their leading timestamp (short-iso-
// precise: fixed width, so text order is time order within one host) and
// drops duplicates, keeping each line once.
func mergeLines(out []byte) []string {
	seen := map[string]bool{}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		lines = append(lines, l)
	}
	sort.SliceStable(lines, func(a, b int) bool {
		ta, _, _ := strings.Cut(lines[a], " ")
		tb, _, _ := strings.Cut(lines[b], " ")
		return ta < tb
	})
	return lines
}

// lastLines joins the last n lines.
func lastLines(lines []string, n int) []byte {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}
