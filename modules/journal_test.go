package modules

import (
	"errors"
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
		wantErr string
	}{
		{args: nil, cmd: "journalctl --no-pager -o json -n 50"},
		{args: []string{"nginx", "-n", "5"}, cmd: "journalctl --no-pager -o json -n 5 -u nginx"},
		{args: []string{"--user", "-u", "a", "b", "--since", "1 hour ago"}, cmd: "journalctl --user --no-pager -o json --since '1 hour ago' -u a -u b"},
		{args: []string{"-p", "err", "-g", "fail(ed)?", "-f"}, cmd: "journalctl --no-pager -o json -p err -g 'fail(ed)?' -f", follow: true},
		{args: []string{"--", "-f", "x;y"}, cmd: "journalctl --no-pager -o json -n 50 -u -f -u 'x;y'"},
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
		if j.cmd != tt.cmd || j.follow != tt.follow {
			t.Errorf("Prepare(%q): cmd %s follow %v\nwant %s", tt.args, j.cmd, j.follow, tt.cmd)
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
		got, ok := formatEntry([]byte(tt.in))
		if !ok || string(got) != tt.want {
			t.Errorf("formatEntry(%s) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	for _, bad := range []string{`not json`, `{"MESSAGE":"no time"}`, `{"__REALTIME_TIMESTAMP":"x"}`} {
		if _, ok := formatEntry([]byte(bad)); ok {
			t.Errorf("formatEntry(%s) accepted", bad)
		}
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
