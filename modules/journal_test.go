package modules

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/dtools/dt/output"
)

func TestJournalPrepare(t *testing.T) {
	tests := []struct {
		args    []string
		cmd     string
		follow  bool
		units   []string // asked for by PID too
		lines   int
		wantErr string
	}{
		{args: nil, cmd: "journalctl --no-pager -o json -n 50"},
		{args: []string{"nginx", "-n", "5"}, cmd: "journalctl --no-pager -o json -n 5 -u nginx",
			units: []string{"nginx.service"}, lines: 5},
		{args: []string{"--user", "-u", "a", "b.timer", "--since", "1 hour ago"}, cmd: "journalctl --user --no-pager -o json --since '1 hour ago' -u a -u b.timer",
			units: []string{"a.service", "b.timer"}, lines: -1},
		{args: []string{"-p", "err", "-g", "fail(ed)?", "-f"}, cmd: "journalctl --no-pager -o json -p err -g 'fail(ed)?' -f", follow: true},
		{args: []string{"-f", "nginx"}, cmd: "journalctl --no-pager -o json -f -u nginx", follow: true},
		{args: []string{"--", "-f", "x;y"}, cmd: "journalctl --no-pager -o json -n 50 -u -f -u 'x;y'",
			units: []string{"-f.service", "x;y.service"}, lines: 50},
		{args: []string{"web-*"}, cmd: "journalctl --no-pager -o json -n 50 -u 'web-*'"},
		{args: []string{"-n", "many"}, wantErr: "invalid value"},
		{args: []string{"--bogus"}, wantErr: "not defined"},
	}
	for _, tt := range tests {
		job, err := Journal{}.Prepare(tt.args, Options{})
		if tt.wantErr != "" {
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Prepare(%q) = %v, want usage error with %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Prepare(%q): %v", tt.args, err)
		}
		var j journalJob
		switch v := job.(type) {
		case journalJob:
			j = v
		case sortedJournal:
			j = v.journalJob
		}
		// With units, the -u query comes first, then the query by PID.
		want := tt.cmd
		if tt.units != nil {
			want += "; dt_rc=$?; echo " + pidQueryMark + "; "
		}
		if !strings.HasPrefix(j.cmd, want) || (tt.units == nil && j.cmd != want) || j.follow != tt.follow {
			t.Errorf("Prepare(%q): cmd %s follow %v\nwant %s...", tt.args, j.cmd, j.follow, want)
		}
		if !slices.Equal(j.units, tt.units) || (tt.units != nil && j.lines != tt.lines) {
			t.Errorf("Prepare(%q): units %q lines %d, want %q %d", tt.args, j.units, j.lines, tt.units, tt.lines)
		}
		if tt.units != nil && (!strings.Contains(j.cmd, "_PID=$p") || !strings.HasSuffix(j.cmd, "exit $dt_rc")) {
			t.Errorf("Prepare(%q): no query by PID, or the -u query's status is lost: %s", tt.args, j.cmd)
		}
		_, sorted := job.(Sorter)
		if sorted == tt.follow {
			t.Errorf("Prepare(%q): sorted=%v with follow=%v", tt.args, sorted, tt.follow)
		}
	}
}

func TestFormatEntry(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"__REALTIME_TIMESTAMP":"1763917201123456","_PID":"123","SYSLOG_IDENTIFIER":"nginx","MESSAGE":"started","_HOSTNAME":"web1"}`,
			"2025-11-23T17:00:01.123456Z nginx[123]: started"},
		{`{"__REALTIME_TIMESTAMP":"1763917201000001","_COMM":"kernel","MESSAGE":[104,105,255]}`,
			"2025-11-23T17:00:01.000001Z kernel: hi\xff"},
		{`{"__REALTIME_TIMESTAMP":"1763917201000001","MESSAGE":"no ident"}`,
			"2025-11-23T17:00:01.000001Z no ident"},
	}
	for _, tt := range tests {
		got, ok := parseEntry([]byte(tt.in))
		if !ok || string(got.msg) != tt.want {
			t.Errorf("parseEntry(%s) = %q, %v; want %q", tt.in, got.msg, ok, tt.want)
		}
	}
	for _, bad := range []string{`not json`, `{"MESSAGE":"no time"}`, `{"__REALTIME_TIMESTAMP":"x"}`} {
		if _, ok := parseEntry([]byte(bad)); ok {
			t.Errorf("parseEntry(%s) accepted", bad)
		}
	}
}

// TestJournalByPID: entries found by PID count when journald lost their
// unit or recorded one of ours; the union keeps each entry once, in time
// order, and -n applies to it.
func TestJournalByPID(t *testing.T) {
	units := []string{"app.service"}
	for _, tt := range []struct {
		entry journalEntry
		want  bool
	}{
		{journalEntry{}, true},
		{journalEntry{unit: "app.service"}, true},
		{journalEntry{unit: "user@1000.service", userUnit: "app.service"}, true},
		{journalEntry{unit: "cron.service"}, false},
		{journalEntry{unit: "user@1000.service", userUnit: "other.service"}, false},
	} {
		if got := tt.entry.lostUnit(units); got != tt.want {
			t.Errorf("%+v: lostUnit = %v, want %v", tt.entry, got, tt.want)
		}
	}
	m := map[string]journalEntry{
		"c3":  {usec: 3, cursor: "c3"},
		"c1":  {usec: 1, cursor: "c1"},
		"c2b": {usec: 2, cursor: "c2b"},
		"c2a": {usec: 2, cursor: "c2a"},
	}
	var got []string
	for _, e := range lastEntries(m, 3) {
		got = append(got, e.cursor)
	}
	if want := []string{"c2a", "c2b", "c3"}; !slices.Equal(got, want) {
		t.Errorf("lastEntries(3) = %q, want %q", got, want)
	}
	if n := len(lastEntries(m, -1)); n != 4 {
		t.Errorf("lastEntries(-1) gave %d entries, want 4", n)
	}
}

// TestJournalOrder: entries by time across hosts, ties by host, then notes
// and failures.
func TestJournalOrder(t *testing.T) {
	rec := func(host string, st output.Status, msg string) output.Record {
		return output.Record{Host: host, Status: st, Message: []byte(msg)}
	}
	recs := []output.Record{
		rec("b", output.Fail, "connect: refused"),
		rec("a", output.Okay, "2026-11-23T17:00:02.000000Z x: 3"),
		rec("c", output.Okay, noEntries),
		rec("b", output.Okay, "2026-11-23T17:00:01.000000Z x: 2"),
		rec("a", output.Okay, "2026-11-23T17:00:01.000000Z x: 1"),
		rec("a", output.Okay, "2026-11-22T23:59:59.999999Z x: 0"),
	}
	sort.SliceStable(recs, func(i, j int) bool { return sortedJournal{}.Less(recs[i], recs[j]) })
	var got []string
	for _, r := range recs {
		got = append(got, r.Host+" "+string(r.Message))
	}
	want := []string{
		"a 2026-11-22T23:59:59.999999Z x: 0",
		"a 2026-11-23T17:00:01.000000Z x: 1",
		"b 2026-11-23T17:00:01.000000Z x: 2",
		"a 2026-11-23T17:00:02.000000Z x: 3",
		"b connect: refused",
		"c " + noEntries,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("order:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{line: func(b []byte) { lines = append(lines, string(b)) }}
	for _, chunk := range []string{"a", "b\nc\n", "\nd"} {
		w.Write([]byte(chunk))
	}
	w.flush()
	if strings.Join(lines, "|") != "ab|c||d" {
		t.Errorf("lines %q", lines)
	}
}
