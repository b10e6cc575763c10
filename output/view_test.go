package output_test

// The views' tests live outside package output so that they can fold host
// sets with the real hosts.Fold, as dt does (output itself imports nothing
// of dt).

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

// viewGolden compares got with testdata/name; go test -update rewrites it.
func viewGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update if the change is intended)\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

var t0 = time.Date(2009, time.November, 16, 23, 54, 4, 0, time.UTC)

func okay(host, msg string) output.Record {
	return output.Record{Status: output.Okay, Module: "ssh", Host: host, Message: []byte(msg), Started: t0}
}

func fail(host, stage string, exit int, msg string) output.Record {
	return output.Record{Status: output.Fail, Module: "ssh", Host: host, Stage: stage, ExitCode: exit, Message: []byte(msg), Started: t0}
}

// viewRecords is a run of 30 hosts as they might arrive: a majority with
// one answer, a second answer, odd ones failing in different ways, output
// with several lines, escapes and control bytes.
func viewRecords() []output.Record {
	var recs []output.Record
	for i := 1; i <= 22; i++ {
		if i == 7 || i == 12 || i == 21 {
			continue
		}
		recs = append(recs, okay(fmt.Sprintf("h%03d", i), "Linux 6.1.0-18-amd64\n"))
	}
	recs = append(recs,
		okay("db1", "Linux 6.1.0-18-amd64\n"),
		okay("db2", "Linux 5.10.0-28-amd64\n"),
		okay("db3", "Linux 5.10.0-28-amd64\n"),
		fail("h007", output.StageExit, 1, "grep: /etc/foo: No such file or directory\n"),
		fail("h012", output.StageExit, 1, "grep: /etc/foo: No such file or directory\n"),
		fail("h021", output.StageConnect, -1, "dial tcp 127.0.0.21:22: connect: connection refused"),
		okay("win1", "C:\\temp\n\x1b[31mred\x1b[0m\tcafé \xc2\x9b\r\nlast line\n"),
		fail("web1", output.StageExit, -1, "killed by signal TERM"),
		okay("quiet1", ""),
		fail("web2", output.StageExit, 2, ""),
	)
	return recs
}

func renderView(t *testing.T, name string, recs []output.Record, color bool) []byte {
	t.Helper()
	var b bytes.Buffer
	v, err := output.NewView(name, &b, output.ViewOptions{Color: color, Fold: hosts.Fold})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := v.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestViewsGolden(t *testing.T) {
	for _, name := range []string{"gather", "host", "status", "compact"} {
		t.Run(name, func(t *testing.T) {
			recs := viewRecords()
			if name == "host" {
				// dt feeds the host view host by host; one host with two
				// records shows as one block.
				recs = append(recs[:2:2], append([]output.Record{okay("h002", "second record\n")}, recs[2:]...)...)
			}
			viewGolden(t, "view_"+name+".golden", renderView(t, name, recs, false))
		})
	}
	viewGolden(t, "view_gather_color.golden", renderView(t, "gather", viewRecords(), true))
}

// TestGatherOrderIndependent: the gather view prints the same whatever
// order records come in, so a saved run shows what the live one did.
func TestGatherOrderIndependent(t *testing.T) {
	recs := viewRecords()
	want := renderView(t, "gather", recs, false)
	for i := range 20 {
		shuffled := append([]output.Record(nil), recs...)
		for j := range shuffled {
			k := (j*7 + i*13) % len(shuffled)
			shuffled[j], shuffled[k] = shuffled[k], shuffled[j]
		}
		if got := renderView(t, "gather", shuffled, false); !bytes.Equal(got, want) {
			t.Fatalf("order %d:\n%s\nwant:\n%s", i, got, want)
		}
	}
}

// TestViewsNeverPassControlBytes: whatever the remote output, a view
// writes no ESC, CR, C0 or C1 control (in UTF-8 or raw) other than
// newline and tab, except its own colours.
func TestViewsNeverPassControlBytes(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	all = append(all, "\u0085\u009b\u009f"...)
	recs := []output.Record{okay("h1", string(all)), fail("h2", output.StageExit, 1, string(all)),
		{Status: output.Okay, Module: "ssh", Host: "h3", Message: all, Line: true, ExitCode: -1}}
	for _, name := range []string{"gather", "host", "status", "compact"} {
		got := renderView(t, name, recs, false)
		for i := 0; i < len(got); i++ {
			c := got[i]
			if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
				t.Errorf("%s: raw control byte %#x at %d in %q", name, c, i, got)
				break
			}
		}
		if bytes.Contains(got, []byte("\u0085")) || bytes.Contains(got, []byte("\u009b")) {
			t.Errorf("%s: raw C1 control in %q", name, got)
		}
	}
}

// TestViewsStreamLines: --stream lines print at once in every view, as
// HOST: LINE, and only the verdicts are grouped.
func TestViewsStreamLines(t *testing.T) {
	line := func(h, s string) output.Record {
		return output.Record{Status: output.Okay, Module: "ssh", Host: h, Message: []byte(s + "\n"), ExitCode: -1, Line: true}
	}
	verdict := func(h string) output.Record {
		return output.Record{Status: output.Okay, Module: "ssh", Host: h, Stage: output.StageExit}
	}
	for _, name := range []string{"gather", "host", "status", "compact"} {
		var b bytes.Buffer
		v, _ := output.NewView(name, &b, output.ViewOptions{Fold: hosts.Fold})
		v.Write(line("h1", "a"))
		if got := b.String(); got != "h1: a\n" {
			t.Errorf("%s: after one line %q, want it printed at once", name, got)
		}
		v.Write(verdict("h1"))
		v.Write(line("h2", "b"))
		v.Write(verdict("h2"))
		v.Close()
		if !strings.Contains(b.String(), "h2: b\n") {
			t.Errorf("%s: no live line for h2:\n%s", name, b.String())
		}
		if name != "compact" && !strings.Contains(b.String(), "exit 0") {
			t.Errorf("%s: the verdicts are not shown:\n%s", name, b.String())
		}
	}
}

func TestNewViewUnknown(t *testing.T) {
	_, err := output.NewView("fancy", nil, output.ViewOptions{})
	if err == nil || !strings.Contains(err.Error(), `unknown view "fancy"`) || !strings.Contains(err.Error(), "gather") {
		t.Errorf("err = %v", err)
	}
}

// BenchmarkGather1000 is -b's whole cost for a 1000-host run where every
// host answers differently (hostname): 1000 groups to key, sort and fold.
func BenchmarkGather1000(b *testing.B) {
	recs := make([]output.Record, 1000)
	for i := range recs {
		h := fmt.Sprintf("h%04d", i+1)
		recs[i] = okay(h, h+"\n")
	}
	b.ReportAllocs()
	for b.Loop() {
		v, _ := output.NewView("gather", io.Discard, output.ViewOptions{Fold: hosts.Fold})
		for _, r := range recs {
			v.Write(r)
		}
		v.Close()
	}
}

// BenchmarkGather1000Same is -b over 1000 hosts that all answer the same:
// one group, one folded set of 1000 names.
func BenchmarkGather1000Same(b *testing.B) {
	recs := make([]output.Record, 1000)
	for i := range recs {
		recs[i] = okay(fmt.Sprintf("h%04d", i+1), "Linux 6.1.0-18-amd64\n")
	}
	b.ReportAllocs()
	for b.Loop() {
		v, _ := output.NewView("gather", io.Discard, output.ViewOptions{Fold: hosts.Fold})
		for _, r := range recs {
			v.Write(r)
		}
		v.Close()
	}
}
