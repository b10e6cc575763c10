package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%s: %v, want exit 1 (a bad line)", view, err)
		}
		if maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss; maxRSS > 64<<10 {
			t.Errorf("%s: peak RSS %d KiB, want under 64 MiB", view, maxRSS)
		}
		if want := "dt: warning: " + file + ":3: skipped: not a dt line (over 1 MiB without a newline)\n"; !strings.HasPrefix(stderr.String(), want) || stderr.Len() > 500 {
			t.Errorf("%s: stderr %.300q, want it to start %q", view, stderr.String(), want)
		}
		if view == "lines" {
			if got := h.Sum(nil); !bytes.Equal(got, wantSum) {
				t.Errorf("lines: the output is not the record lines")
			}
		}
	}
}
