package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/internal/fleet"
)

// oddCmd answers the same on every host but three: h017 prints something
// else, h042 and h099 fail.
const oddCmd = `case $DT_TEST_HOST in h017) echo odd one;; h042|h099) echo broken; exit 3;; *) uname -s;; esac`

// gatherHeader is a group's header line: status, host set, count.
var gatherHeader = regexp.MustCompile(`^(okay|fail)  (\S+)  \((\d+) hosts?\)$`)

// TestGatherOddOnesFirst: -b on 100 hosts shows the three odd hosts'
// groups first, smallest first, the 97 alike last; every host set is
// written in the range grammar and expands to exactly its hosts; and
// "dt view gather" over the same run saved as lines, and as JSON, prints
// exactly what -b printed live.
func TestGatherOddOnesFirst(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 100})
	live := dt(t, f, nil, "", "-b", "all:", "ssh", oddCmd)
	if live.code != 1 {
		t.Errorf("exit %d, want 1 (two hosts failed)", live.code)
	}
	var got [][3]string
	for _, l := range lines(live.stdout) {
		if m := gatherHeader.FindStringSubmatch(l); m != nil {
			got = append(got, [3]string{m[1], m[2], m[3]})
		}
	}
	var rest []string
	for i := 1; i <= 100; i++ {
		if i != 17 && i != 42 && i != 99 {
			rest = append(rest, fmt.Sprintf("h%03d", i))
		}
	}
	want := [][3]string{
		{"okay", "h017", "1"},
		{"fail", "h[042,099]", "2"},
		{"okay", "h[001-016,018-041,043-098,100]", "97"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	expanded, err := hosts.ExpandRange(got[2][1])
	if err != nil || strings.Join(expanded, ",") != strings.Join(rest, ",") {
		t.Errorf("%q expands to %v (%v), want the 97 others", got[2][1], expanded, err)
	}
	for _, text := range []string{"    odd one\n", "    exit 3: broken\n", "    Linux\n"} {
		if !strings.Contains(live.stdout, text) {
			t.Errorf("no %q under its group", text)
		}
	}

	dir := t.TempDir()
	for _, format := range []string{"lines", "json"} {
		args := []string{"all:", "ssh", oddCmd}
		if format == "json" {
			args = append([]string{"--json"}, args...)
		}
		saved := dt(t, f, nil, "", args...)
		file := filepath.Join(dir, "run."+format)
		if err := os.WriteFile(file, []byte(saved.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		view := dt(t, f, nil, "", "view", "gather", file)
		if view.stdout != live.stdout || view.code != 1 || view.stderr != "" {
			t.Errorf("dt view gather over saved %s (exit %d, stderr %q):\n%s\nwant what -b printed:\n%s", format, view.code, view.stderr, view.stdout, live.stdout)
		}
	}

	sorted := dt(t, f, nil, "", "--sort", "all:", "ssh", oddCmd)
	var order []string
	for _, l := range lines(sorted.stdout) {
		order = append(order, strings.Split(l, ":")[4])
	}
	if strings.Join(order, ",") != strings.Join(allNames(f), ",") {
		t.Errorf("--sort printed hosts in the order %v", order)
	}
}

// TestHostAndStatusViews: the host view shows each host's output under
// its name in selection order, the status view failures first; both show
// multi-line output unescaped and indented, with control bytes escaped.
func TestHostAndStatusViews(t *testing.T) {
	f := shared(t)
	cmd := `printf 'first\nsecond \033[31mred\n'; [ $DT_TEST_HOST = h003 ] && exit 4; true`
	r := dt(t, f, nil, "", "--view", "host", "sys:h003,h001,h002", "ssh", cmd)
	want := "h001\n  okay  first\n        second \\x1b[31mred\n" +
		"h002\n  okay  first\n        second \\x1b[31mred\n" +
		"h003\n  fail  exit 4: first\n        second \\x1b[31mred\n"
	if r.stdout != want || r.code != 1 {
		t.Errorf("host view (exit %d):\n%s\nwant:\n%s", r.code, r.stdout, want)
	}
	r = dt(t, f, nil, "", "--view", "status", "sys:h003,h001", "ssh", cmd)
	want = "fail  (1 host)\n  h003  exit 4: first\n        second \\x1b[31mred\n\n" +
		"okay  (1 host)\n  h001  first\n        second \\x1b[31mred\n"
	if r.stdout != want {
		t.Errorf("status view:\n%s\nwant:\n%s", r.stdout, want)
	}
}

// TestProgressAndSummaryOnTerminal: with stderr on a terminal, a live
// progress line is drawn in place and erased, then the summary is printed;
// stdout (a pipe) gets only records. On a pipe neither appears unless
// --summary asks for the summary; --quiet drops both.
func TestProgressAndSummaryOnTerminal(t *testing.T) {
	f := shared(t)
	args := []string{"-C", "6", "all:", "ssh", `sleep 0.4; [ $DT_TEST_HOST = h005 ] && exit 2; echo $DT_TEST_HOST`}

	t.Run("terminal", func(t *testing.T) {
		screen, stdout, code := runStderrOnPTY(t, f, args...)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if !regexp.MustCompile(`\rdt: \d+/12 done, .*\d+ running, \d+\.\ds\x1b\[K`).MatchString(screen) {
			t.Errorf("no progress line drawn in place: %q", screen)
		}
		last := strings.LastIndex(screen, "\r\x1b[K")
		sum := regexp.MustCompile(`12 hosts in \d+\.\ds: (\x1b\[32m)?11 okay(\x1b\[0m)?, (\x1b\[31m)?1 fail(\x1b\[0m)? \(exit 2: h005\)\r?\n$`)
		if last < 0 || !sum.MatchString(screen[last:]) {
			t.Errorf("progress not erased before the summary, or no summary: %q", screen)
		}
		if n := len(lines(stdout)); n != 12 || strings.ContainsAny(stdout, "\r\x1b") || strings.Contains(stdout, "running") {
			t.Errorf("stdout has %d lines, or progress in it: %q", n, stdout)
		}
	})
	t.Run("quiet", func(t *testing.T) {
		screen, _, _ := runStderrOnPTY(t, f, append([]string{"--quiet"}, args...)...)
		if screen != "" {
			t.Errorf("--quiet wrote %q on the terminal", screen)
		}
	})
	t.Run("pipe", func(t *testing.T) {
		r := dt(t, f, nil, "", args...)
		if r.stderr != "" || len(lines(r.stdout)) != 12 {
			t.Errorf("on a pipe: stderr %q, %d lines", r.stderr, len(lines(r.stdout)))
		}
		r = dt(t, f, nil, "", append([]string{"--summary"}, args...)...)
		if !regexp.MustCompile(`^12 hosts in \d+\.\ds: 11 okay, 1 fail \(exit 2: h005\)\n$`).MatchString(r.stderr) {
			t.Errorf("--summary on a pipe: stderr %q", r.stderr)
		}
	})
	t.Run("records on the same terminal", func(t *testing.T) {
		cmd := exec.Command(dtBin, append([]string{"-N"}, args...)...)
		cmd.Env = f.Env()
		term := startOnPTY(t, cmd)
		screen, _ := term.wait()
		if !strings.Contains(screen, "\rdt: ") {
			t.Fatalf("no progress line on the terminal: %q", screen)
		}
		records := 0
		for _, seg := range strings.Split(screen, "\n") {
			if !strings.Contains(seg, "::dt:ssh:") {
				continue
			}
			records++
			// Whatever progress was on the line was erased just before
			// the record, which then runs to the end of the line.
			if !regexp.MustCompile(`^(.*\r\x1b\[K)?(okay|fail)::dt:ssh:h\d+:[^\r\x1b]*\r?$`).MatchString(seg) {
				t.Errorf("record mixed with the progress line: %q", seg)
			}
		}
		if records != 12 {
			t.Errorf("%d records on the terminal, want 12", records)
		}
	})
}

// runStderrOnPTY runs dt with stderr on a new pseudo-terminal and stdout
// on a pipe, and returns what each got.
func runStderrOnPTY(t *testing.T, f *fleet.Fleet, args ...string) (screen, stdout string, code int) {
	t.Helper()
	ptmx, pts := openPTY(t)
	defer ptmx.Close()
	cmd := exec.Command(dtBin, args...)
	cmd.Env = f.Env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, pts
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	done := make(chan []byte)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				done <- b.Bytes()
				return
			}
		}
	}()
	err := cmd.Wait()
	screen = string(<-done)
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ dt %s\nstderr (terminal): %q\nstdout:\n%s", strings.Join(args, " "), screen, out.String())
	return screen, out.String(), code
}

// TestStream: --stream prints a line as soon as the remote command prints
// it, seconds before the command ends, then the host's verdict.
func TestStream(t *testing.T) {
	f := shared(t)
	cmd := exec.Command(dtBin, "--stream", "sys:h001,h002", "ssh", `echo a; sleep 3; echo b; [ $DT_TEST_HOST = h002 ] && exit 5; true`)
	cmd.Env = f.Env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]time.Time{}
	var got []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		seen[sc.Text()] = time.Now()
		got = append(got, sc.Text())
	}
	if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit %v, want 1", err)
	}
	t.Logf("stdout:\n%s", strings.Join(got, "\n"))
	for _, h := range []string{"h001", "h002"} {
		a, okA := seen["okay::dt:ssh:"+h+":a"]
		b, okB := seen["okay::dt:ssh:"+h+":b"]
		if !okA || !okB {
			t.Fatalf("%s: no line record for a and b", h)
		}
		if gap := b.Sub(a); gap < 2500*time.Millisecond {
			t.Errorf("%s: a came %s before b, want ~3s (a printed live)", h, gap)
		}
	}
	for _, verdict := range []string{"okay::dt:ssh:h001:exit 0", "fail::dt:ssh:h002:exit 5"} {
		if _, ok := seen[verdict]; !ok {
			t.Errorf("no verdict %q", verdict)
		}
	}
	if len(got) != 6 {
		t.Errorf("%d records, want 2 lines and a verdict per host", len(got))
	}
}

// peakRSS follows a running process's peak RSS (VmHWM in /proc/PID/status)
// until it exits, and returns the largest value read, in KiB.
func peakRSS(pid int, exited <-chan struct{}) <-chan int {
	res := make(chan int, 1)
	go func() {
		peak := 0
		for {
			if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, l := range strings.Split(string(data), "\n") {
					if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
						n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
						peak = max(peak, n)
					}
				}
			}
			select {
			case <-exited:
				res <- peak
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return res
}

// TestLargeOutputBoundedMemory: 4 hosts printing 100 MB each: dt's peak
// RSS, read from /proc while it runs, stays under 64 MiB, and every
// record still comes out whole and exact.
func TestLargeOutputBoundedMemory(t *testing.T) {
	f := shared(t)
	const size = 100_000_000
	cmd := exec.Command(dtBin, "sys:h001,h002,h003,h004", "ssh", fmt.Sprintf("yes abcdefghijklmnopqrstuvwxyz | head -c %d", size))
	cmd.Env = f.Env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	peak := peakRSS(cmd.Process.Pid, exited)

	// The expected line, hashed: the output escaped ("\n" as `\n`).
	content := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz\n"), size/27+1)[:size]
	want := sha256.Sum256(bytes.ReplaceAll(content, []byte("\n"), []byte(`\n`)))

	// Hash each line as it streams by, without holding it.
	br := bufio.NewReaderSize(stdout, 1<<20)
	got := map[string]bool{}
	for {
		head, err := br.ReadString(':') // "okay:"
		if err != nil {
			break
		}
		var prefix string
		for range 4 { // ":dt:ssh:HOST:"
			s, _ := br.ReadString(':')
			prefix += s
		}
		h := sha256.New()
		for {
			chunk, err := br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				h.Write(chunk)
				continue
			}
			h.Write(bytes.TrimSuffix(chunk, []byte("\n")))
			break
		}
		host := strings.Split(prefix, ":")[3]
		got[host] = head == "okay:" && bytes.Equal(h.Sum(nil), want[:])
	}
	err = cmd.Wait()
	close(exited)
	// Only /proc's VmHWM: the rusage maxrss of a child Go started with
	// vfork carries this test process's own peak over from before exec.
	kib := <-peak
	t.Logf("4 hosts x %d MB: dt peak RSS %.1f MiB", size/1_000_000, float64(kib)/1024)
	if err != nil {
		t.Fatalf("dt: %v", err)
	}
	for _, h := range []string{"h001", "h002", "h003", "h004"} {
		if !got[h] {
			t.Errorf("%s: record missing, failed or not exactly the output", h)
		}
	}
	if kib > 64<<10 {
		t.Errorf("peak RSS %d KiB, want at most 64 MiB", kib)
	}
}

// TestInterruptLeavesNoSpillFile: output past the in-memory limit goes to
// a private spool file under TMPDIR, never visible there by name; Ctrl-C
// (once, or twice to exit at once) leaves nothing behind, and the
// interrupted host's line still carries all of its output so far.
func TestInterruptLeavesNoSpillFile(t *testing.T) {
	f := shared(t)
	for _, signals := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d signals", signals), func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(dtBin, "sys:h001", "ssh", `head -c 1000000 /dev/zero | tr '\0' x; sleep 34567`)
			cmd.Env = append(f.Env(), "TMPDIR="+tmp)
			var out lockedBuffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			spool := ""
			for deadline := time.Now().Add(10 * time.Second); spool == "" && time.Now().Before(deadline); {
				ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
				for _, e := range ents {
					target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", cmd.Process.Pid, e.Name()))
					// O_TMPFILE shows as TMPDIR/#INODE (deleted).
					if strings.HasPrefix(target, tmp+"/") {
						spool = target
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			if spool == "" {
				cmd.Process.Kill()
				t.Fatal("dt never held a spool file in TMPDIR")
			}
			if !strings.HasSuffix(spool, " (deleted)") {
				t.Errorf("spool file %q is visible in TMPDIR", spool)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
				t.Errorf("TMPDIR holds %d entries while dt runs", len(ents))
			}
			for range signals {
				cmd.Process.Signal(syscall.SIGINT)
				time.Sleep(50 * time.Millisecond)
			}
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
				t.Errorf("exit %v, want 130", err)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
				t.Errorf("TMPDIR holds %d entries after Ctrl-C", len(ents))
			}
			if signals == 1 {
				want := "fail::dt:ssh:h001:interrupt: interrupted; remote command stopped; output so far:\\n" + strings.Repeat("x", 1000000) + "\n"
				if got := out.String(); got != want {
					t.Errorf("record %.120q... (%d bytes), want the interrupt line with all 1000000 bytes", got, len(got))
				}
			}
			waitNoProcs(t, f, "sleep 34567")
		})
	}
}

// TestViewsWithSkippedHosts: a rolling run stopped by --max-fail shows its
// skipped hosts as a group of their own, and the summary counts them.
func TestViewsWithSkippedHosts(t *testing.T) {
	f := shared(t)
	r := dt(t, f, nil, "", "--summary", "-b", "--batch", "2", "--max-fail", "0", "sys:h001,h002,h003,h004", "ssh",
		`[ $DT_TEST_HOST = h001 ] && exit 1; echo fine`)
	want := "fail  h001  (1 host)\n    exit 1\n\n" +
		"okay  h002  (1 host)\n    fine\n\n" +
		"skip  h[003-004]  (2 hosts)\n    not started: 1 host failed, more than --max-fail 0 (stopped after batch 1 of 2)\n"
	if r.stdout != want || r.code != 1 {
		t.Errorf("exit %d, -b:\n%s\nwant:\n%s", r.code, r.stdout, want)
	}
	if !regexp.MustCompile(`^4 hosts in \d+\.\ds: 1 okay, 1 fail, 2 skip \(exit 1: h001\)\n$`).MatchString(r.stderr) {
		t.Errorf("summary %q", r.stderr)
	}
}
