package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestViewHugeLines: dt view over saved output with a 100 MB record (one
// host's large output, as --view printed it live in bounded memory) and a
// 100 MB line that is no record stays in bounded memory, prints the
// record complete, reports the bad line by its number (not its text), and
// reads on after it.
func TestViewHugeLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "run.log")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	// The file; what the lines view must print (the record lines as
	// they are) is hashed as it is written, never held.
	w := bufio.NewWriter(f)
	sum := sha256.New()
	both := func(s []byte, record bool) {
		w.Write(s)
		if record {
			sum.Write(s)
		}
	}
	chunk := bytes.Repeat([]byte(`0123456789abcdef\x1b[2J`), 1<<12)
	const chunks = 1200 // ~100 MB per line
	both([]byte("okay::dt:ssh:h001:"), true)
	for range chunks {
		both(chunk, true)
	}
	both([]byte("\nokay::dt:ssh:h002:small\n"), true)
	for range chunks {
		both(chunk, false)
	}
	both([]byte("\n"), false)
	both([]byte("fail::dt:ssh:h003:exit 1: after\n"), true)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantSum := sum.Sum(nil)

	for _, view := range []string{"lines", "gather"} {
		cmd := exec.Command(dtBin, "view", view, file)
		h := sha256.New()
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = h, &stderr
		peak, err := runPeakRSS(t, cmd)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%s: %v, want exit 1 (a bad line)", view, err)
		}
		if peak > 64<<10 {
			t.Errorf("%s: peak RSS %d KiB, want under 64 MiB", view, peak)
		}
		if want := "dt: warning: " + file + ":3: skipped: parse omni line \"0123456789abcdef\\\\x1b[2J"; !strings.HasPrefix(stderr.String(), want) ||
			!strings.Contains(stderr.String(), "...: missing ':' after status\n") || stderr.Len() > 500 {
			t.Errorf("%s: stderr %.300q, want it to start %q", view, stderr.String(), want)
		}
		if view == "lines" {
			if got := h.Sum(nil); !bytes.Equal(got, wantSum) {
				t.Errorf("lines: the output is not the record lines")
			}
		}
	}
}

// TestViewManyLargeRecords: the views that hold records until the end
// (host, status) hold no more of each than a live run does: 150 hosts
// with 1 MB of output each are shown in bounded memory, host by host.
func TestViewManyLargeRecords(t *testing.T) {
	file := filepath.Join(t.TempDir(), "run.log")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	const hosts = 150
	for i := range hosts {
		// Two records per host, apart: the host view brings them together.
		fmt.Fprintf(w, "okay::dt:ssh:h%03d:%s\n", i, bytes.Repeat([]byte{byte('a' + i%26)}, 1000000))
	}
	for i := range hosts {
		fmt.Fprintf(w, "fail::dt:ssh:h%03d:exit 1: second\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, view := range []string{"host", "status"} {
		cmd := exec.Command(dtBin, "view", view, file)
		// Count the second records in the output without keeping it (a
		// match may straddle two writes).
		pat := []byte("  fail  exit 1: second\n")
		var blocks int
		var tail []byte
		out := writerFunc(func(p []byte) (int, error) {
			b := append(tail, p...)
			blocks += bytes.Count(b, pat)
			if len(b) >= len(pat) {
				b = b[len(b)-len(pat)+1:]
			}
			tail = bytes.Clone(b)
			return len(p), nil
		})
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = out, &stderr
		peak, err := runPeakRSS(t, cmd)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || stderr.Len() != 0 {
			t.Errorf("%s: %v %q, want exit 1 (failures) and nothing on stderr", view, err, stderr.String())
		}
		if peak > 64<<10 {
			t.Errorf("%s: peak RSS %d KiB for %d records of 1 MiB, want under 64 MiB", view, peak, hosts)
		}
		if want := map[string]int{"host": hosts, "status": 0}[view]; blocks != want {
			t.Errorf("%s: %d second records shown as in the host view, want %d", view, blocks, want)
		}
	}
}

// writerFunc is an io.Writer made of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// runPeakRSS runs cmd and returns its peak RSS in KiB, read from /proc
// while it runs (VmHWM: the process's own, not what it had before exec).
func runPeakRSS(t *testing.T, cmd *exec.Cmd) (int, error) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	peak := peakRSS(cmd.Process.Pid, exited)
	err := cmd.Wait()
	close(exited)
	return <-peak, err
}
