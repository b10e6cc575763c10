package modules

import (
	"bufio"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseSVStatusGolden parses every line of testdata/sv-status.txt (real
// sv output, and hand-written edge cases) and compares with the expected
// result written under it.
func TestParseSVStatusGolden(t *testing.T) {
	f, err := os.Open("testdata/sv-status.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	problems := map[SVProblem]string{SVOther: "SVOther", SVNoService: "SVNoService", SVNotSupervised: "SVNotSupervised", SVDenied: "SVDenied"}
	sc := bufio.NewScanner(f)
	var in string
	n, cases := 0, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		want, isWant := strings.CutPrefix(line, "=> ")
		if !isWant {
			in = line
			continue
		}
		cases++
		s, err := ParseSVStatus(in)
		var got string
		var se *SVError
		switch {
		case err == nil:
			got = s.Name + " | " + s.Fields()
		case errors.As(err, &se):
			got = "error " + problems[se.Problem] + " | " + se.Error()
		default:
			got = "not sv"
		}
		if got != want {
			t.Errorf("line %d: ParseSVStatus(%q)\n got %s\nwant %s", n, in, got, want)
		}
	}
	if cases < 30 {
		t.Errorf("only %d cases read", cases)
	}
}

func TestParseSVStatusFields(t *testing.T) {
	s, err := ParseSVStatus("run: withlog: (pid 11010) 14s, paused; down: log: 1s, normally up, want up\n")
	if err != nil {
		t.Fatal(err)
	}
	want := SVStatus{Name: "withlog", State: "run", PID: 11010, Uptime: 14 * time.Second, Normally: "up", Paused: true,
		Log: &SVStatus{Name: "log", State: "down", Uptime: time.Second, Normally: "up", Want: "up"}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %+v (log %+v)\nwant %+v (log %+v)", s, s.Log, want, want.Log)
	}
	if !s.Running() || s.Log.Running() {
		t.Error("Running wrong")
	}
}

// TestParseSVStatusOf: knowing the name, names with ": ", "; " and
// newlines parse exactly.
func TestParseSVStatusOf(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"a: (pid 1) 2s", "run: a: (pid 1) 2s: (pid 7) 3s", "run pid=7 uptime=3s normally=up"},
		{"x\nrun: y", "down: x\nrun: y: 3s", "down uptime=3s normally=down"},
		{"x; run: log: (pid 1) 1s", "run: x; run: log: (pid 1) 1s: (pid 2) 5s; run: log: (pid 3) 4s",
			"run pid=2 uptime=5s normally=up; log: run pid=3 uptime=4s normally=up"},
	}
	for _, tt := range tests {
		s, err := parseSVStatusOf(tt.line, tt.name)
		if err != nil || s.Name != tt.name || s.Fields() != tt.want {
			t.Errorf("parseSVStatusOf(%q, %q) = %q %q, %v; want %q", tt.line, tt.name, s.Name, s.Fields(), err, tt.want)
		}
	}
	if _, err := parseSVStatusOf("run: other: (pid 1) 2s", "mine"); err == nil {
		t.Error("a line about another service parsed")
	}
}

func FuzzParseSVStatus(f *testing.F) {
	data, err := os.ReadFile("testdata/sv-status.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "=>") {
			f.Add(l)
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseSVStatus(line)
		if err != nil {
			return
		}
		for st := &s; st != nil; st = st.Log {
			if st.State != "run" && st.State != "down" && st.State != "finish" {
				t.Fatalf("state %q from %q", st.State, line)
			}
			if st.Normally != "up" && st.Normally != "down" {
				t.Fatalf("normally %q from %q", st.Normally, line)
			}
			if (st.State == "down") != (st.PID == 0 && !strings.Contains(st.Fields(), "pid=")) {
				t.Fatalf("pid %d with state %s from %q", st.PID, st.State, line)
			}
			if st.Uptime < 0 {
				t.Fatalf("negative uptime from %q", line)
			}
		}
		// What parses is a status line that names its service.
		if !strings.Contains(line, ": "+s.Name+": ") && !strings.HasPrefix(line, s.State+": "+s.Name+": ") {
			t.Fatalf("name %q not in %q", s.Name, line)
		}
	})
}
