package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

// dt's modes beyond its default ("-", lines on a pipe). They measure what
// the views for people cost (-dt-modes), and how a baseline binary compares
// (-dt-base).
const (
	modeGather   = "gather"   // -b, stdout a pipe
	modeTTY      = "tty"      // stdout and stderr on a terminal, -q: no progress line, no summary
	modeProgress = "progress" // stdout and stderr on a terminal: progress line and summary
	modeBase     = "base"     // the -dt-base binary, lines on a pipe
	modeSort     = "sort"     // --sort, lines on a pipe
	modeBatch    = "batch"    // --batch 10%: ten batches one after the other, lines on a pipe
)

var dtModes = []string{modeDT, modeWarm, modeGather, modeTTY, modeProgress, modeBase, modeSort, modeBatch}

// onTerminal reports whether dt runs on a terminal in mode m: the large
// output jobs do not run there.
func onTerminal(m string) bool { return m == modeTTY || m == modeProgress }

// dtInvocation is dt's command line in mode m.
func dtInvocation(e *env, j job, m string) invocation {
	bin := e.dt
	if m == modeBase {
		bin = e.dtBase
	}
	argv := []string{bin, "-N", "-F", e.sshConfig, "-D", e.dtdb, "-C", fmt.Sprint(e.fanout)}
	inv := invocation{}
	switch m {
	case modeGather:
		argv = append(argv, "-b")
		inv.parse = parseDTGather
	case modeTTY:
		argv = append(argv, "-q")
		inv.pty, inv.parse = true, parseDTTerminal
	case modeProgress:
		inv.pty, inv.parse = true, parseDTTerminal
	case modeSort:
		argv = append(argv, "--sort")
	case modeBatch:
		argv = append(argv, "--batch", "10%")
	case modeWarm:
		argv = append(argv, "--persist", warmPersist)
	}
	// dt has no command-line way yet to run separate commands on one
	// connection, so both seq jobs are one line for dt: one connection,
	// one session per host.
	inv.argv = append(argv, "all:", "ssh", strings.Join(j.cmds, "; "))
	inv.bigOutput = j.outBytes > 0
	return inv
}

var gatherHead = regexp.MustCompile(`^(okay|fail)  (\S+)  \((\d+) hosts?\)$`)

// parseDTGather reads dt -b: a header per group (status, host set, count),
// then the group's output indented by four spaces, groups apart by a
// blank line. Every host of a group gets its status and output.
func parseDTGather(stdout, stderr []byte, hostSet map[string]bool) hostResults {
	r := newHostResults(true)
	var members, text []string
	var status string
	flush := func() {
		out := strings.Join(text, "\n")
		for _, h := range members {
			if status == "okay" {
				r.ok[h] = true
			} else {
				r.fail(h, out)
			}
			r.addOut(h, out)
		}
		members, text = nil, nil
	}
	for _, line := range lines(stdout) {
		if m := gatherHead.FindStringSubmatch(line); m != nil {
			flush()
			status = m[1]
			p, err := hosts.ParsePattern("sys:" + m[2])
			if err != nil {
				continue
			}
			for _, h := range p.(hosts.Sys).Hosts {
				members = append(members, h.Name)
			}
			continue
		}
		if t, ok := strings.CutPrefix(line, "    "); ok {
			text = append(text, t)
		}
	}
	flush()
	return r
}

// parseDTTerminal reads dt's lines as a terminal got them: "\r\n" line
// ends, and on stderr's same terminal the progress line drawn and erased
// ("\r...\x1b[K") between records; the summary line is not a record.
func parseDTTerminal(screen, _ []byte, hostSet map[string]bool) hostResults {
	var clean bytes.Buffer
	for _, line := range bytes.Split(screen, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if i := bytes.LastIndex(line, []byte("\x1b[K")); i >= 0 {
			line = line[i+len("\x1b[K"):]
		}
		clean.Write(line)
		clean.WriteByte('\n')
	}
	return parseDT(clean.Bytes(), nil, hostSet)
}

// checkBigGather reads dt -b's output of a large-output job from a file:
// every host must be in an okay group whose text is the job's output,
// checked by its length (each line indented by four spaces) without
// holding it.
func checkBigGather(path string, j job, hostSet map[string]bool) (hostResults, int64, error) {
	r := newHostResults(true)
	f, err := os.Open(path)
	if err != nil {
		return r, 0, err
	}
	defer f.Close()
	const pattern = "abcdefghijklmnopqrstuvwxyz\n"
	// What the group shows is the output less one trailing newline, its
	// lines each after four spaces.
	want := j.outBytes
	if j.outBytes%int64(len(pattern)) == 0 {
		want--
	}
	var members []string
	var status string
	var got int64 = -1
	flush := func() {
		for _, h := range members {
			switch {
			case status != "okay":
				r.fail(h, status)
			case got != want:
				r.fail(h, fmt.Sprintf("group text of %d bytes, want %d", got, want))
			default:
				r.ok[h] = true
			}
		}
		members, got = nil, -1
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var total int64
	for sc.Scan() {
		line := sc.Text()
		total += int64(len(line)) + 1
		if m := gatherHead.FindStringSubmatch(line); m != nil {
			flush()
			status = m[1]
			if p, err := hosts.ParsePattern("sys:" + m[2]); err == nil {
				for _, h := range p.(hosts.Sys).Hosts {
					members = append(members, h.Name)
				}
			}
			continue
		}
		if t, ok := strings.CutPrefix(line, "    "); ok {
			got += int64(len(t)) + 1 // the newline between lines
		}
	}
	flush()
	return r, total, sc.Err()
}

// checkBigOutput reads dt's lines from a file, one record per host with
// the job's output (j.cmds print j.outBytes of "abc...z\n" lines), and
// checks each record's status and exact message length without holding
// a line in memory.
func checkBigOutput(path string, j job, hostSet map[string]bool) (hostResults, int64, error) {
	r := newHostResults(true)
	f, err := os.Open(path)
	if err != nil {
		return r, 0, err
	}
	defer f.Close()
	const pattern = "abcdefghijklmnopqrstuvwxyz\n"
	// Every whole pattern ends with a newline, escaped as `\n`; one
	// trailing newline is dropped.
	full, rest := j.outBytes/int64(len(pattern)), j.outBytes%int64(len(pattern))
	want := j.outBytes + full
	if rest == 0 && full > 0 {
		want -= 2
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var total int64
	for {
		head, err := br.ReadString(':')
		if err == io.EOF {
			return r, total, nil
		}
		if err != nil {
			return r, total, err
		}
		var fields string
		for range 4 {
			s, _ := br.ReadString(':')
			fields += s
		}
		n := int64(0)
		for {
			chunk, err := br.ReadSlice('\n')
			n += int64(len(chunk))
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil && err != io.EOF {
				return r, total, err
			}
			break
		}
		total += int64(len(head)+len(fields)) + n
		parts := strings.Split(fields, ":")
		if len(parts) < 4 || !hostSet[parts[3]] {
			continue
		}
		h := parts[3]
		switch got := n - 1; {
		case head != string(output.Okay)+":":
			r.fail(h, "not okay")
		case got != want:
			r.fail(h, fmt.Sprintf("message of %d bytes, want %d", got, want))
		default:
			r.ok[h] = true
		}
	}
}
