package modules

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// unitState is one unit's "systemctl show" properties.
type unitState map[string]string

// showProps are the properties the summary is made of.
var showProps = []string{"Id", "LoadState", "ActiveState", "SubState", "MainPID",
	"ActiveEnterTimestamp", "InactiveEnterTimestamp", "NRestarts", "UnitFileState", "Result",
	"ActiveEnterTimestampMonotonic"}

// clockCmd prints the remote clock (Unix seconds) and uptime (seconds
// since boot) before "systemctl show": the first for journalctl --since,
// the second to turn ActiveEnterTimestampMonotonic into an uptime free of
// time zones and clock skew.
const clockCmd = "date +%s && cut -d' ' -f1 /proc/uptime && "

// Keys parseClockShow adds to every unitState.
const (
	keyEpoch  = "dt.Epoch"  // remote Unix time, seconds
	keyUptime = "dt.Uptime" // remote seconds since boot
)

// parseClockShow parses clockCmd's two lines and the "systemctl show"
// blocks after them.
func parseClockShow(out []byte) ([]unitState, error) {
	epoch, rest, _ := bytes.Cut(out, []byte("\n"))
	uptime, rest, _ := bytes.Cut(rest, []byte("\n"))
	if _, err := strconv.ParseInt(string(epoch), 10, 64); err != nil {
		return nil, fmt.Errorf("remote clock: %q", epoch)
	}
	if _, err := strconv.ParseFloat(string(uptime), 64); err != nil {
		return nil, fmt.Errorf("remote uptime: %q", uptime)
	}
	states := parseShow(rest)
	for _, st := range states {
		st[keyEpoch], st[keyUptime] = string(epoch), string(uptime)
	}
	return states, nil
}

// uptime is how long the unit has been active, from the remote clocks;
// ok is false when it is not active.
func (s unitState) uptime() (time.Duration, bool) {
	enter, err1 := strconv.ParseInt(s["ActiveEnterTimestampMonotonic"], 10, 64)
	now, err2 := strconv.ParseFloat(s[keyUptime], 64)
	if err1 != nil || err2 != nil || enter == 0 || !s.active() {
		return 0, false
	}
	d := time.Duration(now*float64(time.Second)) - time.Duration(enter)*time.Microsecond
	return max(d, 0).Truncate(time.Second), true
}

// parseShow splits "systemctl show" output into one map per unit (blocks
// separated by blank lines, in the order the units were given).
func parseShow(out []byte) []unitState {
	var states []unitState
	var cur unitState
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if cur != nil {
				states = append(states, cur)
				cur = nil
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if cur == nil {
			cur = unitState{}
		}
		cur[k] = v
	}
	if cur != nil {
		states = append(states, cur)
	}
	return states
}

// exists says whether systemd knows the unit.
func (s unitState) exists() bool {
	return s["LoadState"] != "" && s["LoadState"] != "not-found"
}

func (s unitState) active() bool { return s["ActiveState"] == "active" }

func (s unitState) stopped() bool {
	return s["ActiveState"] == "inactive" || s["ActiveState"] == "failed"
}

// enabled mirrors "systemctl is-enabled": these states exit 0.
func (s unitState) enabled() bool {
	switch s["UnitFileState"] {
	case "enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient":
		return true
	}
	return false
}

func (s unitState) restarts() int {
	n, _ := strconv.Atoi(s["NRestarts"])
	return n
}

// name is the unit's full name, or what the user typed when systemd gave
// none.
func (s unitState) name(typed string) string {
	if s["Id"] != "" {
		return s["Id"]
	}
	return typed
}

// summary renders the one-line state, e.g.
// "nginx.service active (running) since 2026-11-23 17:00:01 UTC; pid 1234; restarts 0; enabled".
func (s unitState) summary(typed string) string {
	name := s.name(typed)
	if !s.exists() {
		return name + " not found"
	}
	var b strings.Builder
	b.WriteString(name + " " + s["ActiveState"])
	if sub := s["SubState"]; sub != "" {
		b.WriteString(" (" + sub + ")")
	}
	since := s["InactiveEnterTimestamp"]
	if s.active() || s["ActiveState"] == "reloading" {
		since = s["ActiveEnterTimestamp"]
	}
	if t := trimWeekday(since); t != "" {
		b.WriteString(" since " + t)
	}
	if pid := s["MainPID"]; pid != "" && pid != "0" {
		b.WriteString("; pid " + pid)
	}
	if r := s["Result"]; r != "" && r != "success" {
		b.WriteString("; result " + r)
	}
	if r := s["NRestarts"]; r != "" {
		b.WriteString("; restarts " + r)
	}
	if f := s["UnitFileState"]; f != "" {
		b.WriteString("; " + f)
	}
	return b.String()
}

// trimWeekday turns "Mon 2026-11-23 17:00:01 UTC" into
// "2026-11-23 17:00:01 UTC"; "n/a" and "" become "".
func trimWeekday(ts string) string {
	if ts == "" || ts == "n/a" {
		return ""
	}
	if day, rest, ok := strings.Cut(ts, " "); ok && len(day) == 3 {
		return rest
	}
	return ts
}
