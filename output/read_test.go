package output

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestReadRecordsRoundTrip: what a view shows of a record, Message(r), is
// the same after the record is written as a line or as JSON and read back.
func TestReadRecordsRoundTrip(t *testing.T) {
	recs := append([]Record(nil), goldenRecords...)
	recs = append(recs,
		Record{Status: Okay, Module: "ssh", Host: "h1", Message: []byte("two newlines\n\n")},
		Record{Status: Fail, Module: "ssh", Host: "h2", Stage: StageExit, ExitCode: 3, Message: []byte("connect: looks like a stage\n")},
		Record{Status: Fail, Module: "systemctl", Host: "h3", Stage: StageModule, ExitCode: -1, Message: []byte("exit 7 looks like an exit")},
		Record{Status: Okay, Module: "ssh", Host: "h4", Stage: StageExit, ExitCode: 0},
	)
	for _, format := range []string{"omni", "json"} {
		var b bytes.Buffer
		var w Writer = NewOmni(&b, false)
		if format == "json" {
			w = NewJSON(&b)
		}
		for _, r := range recs {
			w.Write(r)
		}
		var got []Record
		err := ReadRecords(&b, func(r Record) error { got = append(got, r); return nil },
			func(n int, err error) { t.Errorf("%s: line %d: %v", format, n, err) })
		if err != nil || len(got) != len(recs) {
			t.Fatalf("%s: %d records, %v", format, len(got), err)
		}
		for i, r := range recs {
			if got[i].Host != strings.Trim(r.Host, "[]") || got[i].Status != r.Status || string(Message(got[i])) != string(Message(r)) {
				t.Errorf("%s record %d: got %s %q %q, want %s %q %q", format, i,
					got[i].Status, got[i].Host, Message(got[i]), r.Status, r.Host, Message(r))
			}
		}
	}
}

func TestReadRecordsStages(t *testing.T) {
	tests := []struct {
		line, stage string
		exit        int
	}{
		{"fail::dt:ssh:h:exit 2: no", StageExit, 2},
		{"fail::dt:ssh:h:exit 2", StageExit, 2},
		{"fail::dt:ssh:h:exit: killed by signal TERM", StageExit, -1},
		{"fail::dt:ssh:h:connect: refused", StageConnect, -1},
		{"fail::dt:ssh:h:exit 02: x", StageModule, -1},
		{"fail::dt:svc:h:app.service failed", StageModule, -1},
		{"okay::dt:ssh:h:exit 1: just output", "", 0},
	}
	for _, tt := range tests {
		var got Record
		ReadRecords(strings.NewReader(tt.line+"\n"), func(r Record) error { got = r; return nil }, func(int, error) {})
		if got.Stage != tt.stage || got.ExitCode != tt.exit {
			t.Errorf("%q: stage %q exit %d, want %q %d", tt.line, got.Stage, got.ExitCode, tt.stage, tt.exit)
		}
	}
}

func TestReadRecordsReportsBadLines(t *testing.T) {
	in := "okay::dt:ssh:h1:fine\n\nnot a record\n{\"host\":\"h2\"}\n{broken\nfail::dt:ssh:h3:exit 1\n{\"host\":\"h4\",\"module\":\"ssh\",\"status\":\"okay\",\"stage\":\"\",\"exit_code\":-1,\"output\":\"a line\\n\"}\n"
	var hosts []string
	var bad []string
	var lines []bool
	err := ReadRecords(strings.NewReader(in),
		func(r Record) error { hosts = append(hosts, r.Host); lines = append(lines, r.Line); return nil },
		func(n int, err error) { bad = append(bad, fmt.Sprintf("%d: %v", n, err)) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(hosts, ",") != "h1,h3,h4" {
		t.Errorf("hosts %q", hosts)
	}
	if !lines[2] || lines[0] {
		t.Errorf("Line flags %v: want only the JSON okay record with exit_code -1", lines)
	}
	if len(bad) != 3 || !strings.HasPrefix(bad[0], "3: ") || !strings.HasPrefix(bad[1], `4: json record: no "module"`) || !strings.HasPrefix(bad[2], "5: json record") {
		t.Errorf("bad lines %q", bad)
	}
}
