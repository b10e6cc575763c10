package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runOut runs "dt -D EMPTY -p out: list" with the lines write produces on
// its standard input, and returns stdout, stderr, the exit status and the
// process's peak RSS in KiB.
func runOut(t *testing.T, write func(w *bufio.Writer) error) (stdout, stderr string, code int, maxRSSKiB int64) {
	t.Helper()
	dir := t.TempDir()
	empty := filepath.Join(dir, "dtdb")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := dtCommand(ctx, dir, []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}, "-D", empty, "-p", "out:", "list")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(in, 64<<10)
		err := write(w)
		if err == nil {
			err = w.Flush()
		}
		in.Close()
		wrote <- err
	}()
	err = cmd.Wait()
	if _, ok := err.(interface{ ExitCode() int }); err != nil && !ok {
		t.Fatal(err)
	}
	<-wrote // dt may stop reading early: a broken pipe is expected then
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatal("no rusage")
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode(), ru.Maxrss
}

// TestOutBoundedMemory: out: keeps each host once however often stdin
// repeats it, so two million lines of one host cost what one does (dt kept
// every line before: 677 MB peak for this input, 13.7 MB after).
func TestOutBoundedMemory(t *testing.T) {
	const lines = 2_000_000
	stdout, stderr, code, rss := runOut(t, func(w *bufio.Writer) error {
		for i := 0; i < lines; i++ {
			if _, err := w.WriteString("fail::dt:ssh:h015:exit 1: no\n"); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("%d lines of one host: exit %d, peak RSS %d KiB", lines, code, rss)
	if code != 0 || stdout != "h015\n" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 0 and h015", code, stdout, stderr)
	}
	if rss > 64<<10 {
		t.Errorf("peak RSS %d KiB reading %d lines of one host, want under 64 MiB", rss, lines)
	}
}

// TestOutHostCap: more than 100,000 distinct hosts on stdin is an error at
// the line that goes past, and dt stops reading there.
func TestOutHostCap(t *testing.T) {
	const names = 1_000_000
	stdout, stderr, code, rss := runOut(t, func(w *bufio.Writer) error {
		for i := 1; i <= names; i++ {
			if _, err := fmt.Fprintf(w, "host%07d\n", i); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("%d distinct hosts: exit %d, peak RSS %d KiB", names, code, rss)
	want := "dt: error: stdin:100001: more than 100000 distinct hosts, the most out: reads\n"
	if code != exitUsage || stdout != "" || stderr != want {
		first, _, _ := strings.Cut(stdout, "\n")
		t.Errorf("exit %d, %d bytes on stdout (first line %q), stderr %q; want exit 2 and %q", code, len(stdout), first, stderr, want)
	}
	if rss > 256<<10 {
		t.Errorf("peak RSS %d KiB, want under 256 MiB", rss)
	}
}
