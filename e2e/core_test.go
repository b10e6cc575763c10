package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/dtools/dt/output"
)

// TestSeedFormat: the line format of the dtools announcement, byte for byte.
func TestSeedFormat(t *testing.T) {
	f := shared(t)
	r := dt(t, f, nil, "", "tag:linux", "ssh", "date")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	line := regexp.MustCompile(`^okay::dt:ssh:(h0\d\d):\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \w+ \d{4}$`)
	seen := map[string]bool{}
	for _, l := range lines(r.stdout) {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q is not in the seed format", l)
		}
		seen[m[1]] = true
	}
	if len(seen) != len(f.Hosts) {
		t.Errorf("got %d hosts, want %d", len(seen), len(f.Hosts))
	}
}

// TestEachHostAnswers: every host runs the command itself (hostname and
// the sshd SetEnv differ per host), and the record carries its name.
func TestEachHostAnswers(t *testing.T) {
	f := shared(t)
	r := dt(t, f, nil, "", "all:", "ssh", "echo", "$(hostname)", "$DT_TEST_HOST")
	recs := records(t, r.stdout)
	if !equal(names(recs), allNames(f)) {
		t.Fatalf("hosts %q, want %q", names(recs), allNames(f))
	}
	for h, rec := range recs {
		if want := h + " " + h; string(rec.Message) != want || rec.Status != output.Okay {
			t.Errorf("%s: %s %q, want okay %q", h, rec.Status, rec.Message, want)
		}
	}
}

// TestExitCodeAndOutput: non-zero exit, and output that needs escaping.
// stdout and stderr come over separate SSH streams, so the record keeps
// arrival order; the pause makes that order certain.
func TestExitCodeAndOutput(t *testing.T) {
	f := shared(t)
	r := dt(t, f, nil, "", "sys:h001", "ssh", "echo oops; sleep 0.3; echo err >&2; exit 3")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if want := "fail::dt:ssh:h001:exit 3: oops\\nerr\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}

	// ':' newlines, CR, a backslash, binary and UTF-8 survive, one line.
	payload := "a:b::c\nline2\r\n\\x\x01\x1b[31m\xff\xfeé\ttab"
	r = dt(t, f, nil, "", "sys:h002", "ssh", `printf 'a:b::c\nline2\r\n\\x\001\033[31m\377\376é\ttab'`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if want := `okay::dt:ssh:h002:a:b::c\nline2\r\n\\x\x01\x1b[31m` + "\xff\xfeé\ttab\n"; r.stdout != want {
		t.Errorf("stdout %q\nwant   %q", r.stdout, want)
	}
	rec, err := output.Parse(r.stdout)
	if err != nil || string(rec.Message) != payload {
		t.Errorf("Parse gave %q, %v; want %q", rec.Message, err, payload)
	}
	// cut -d: -f5- style splitting: field 5 is the host.
	if fields := strings.SplitN(strings.TrimSuffix(r.stdout, "\n"), ":", 6); fields[4] != "h002" {
		t.Errorf("field 5 = %q", fields[4])
	}
}

// TestPatterns checks every operator of the grammar against the fleet's
// inventory. Tags (internal/fleet DefaultTags): all linux; h001,h003,...
// db; h002,h004,... web; h001,h004,h007,h010 prod; h001 canary.
func TestPatterns(t *testing.T) {
	f := shared(t)
	tests := []struct {
		pattern string
		want    []string
	}{
		{"tag:web", []string{"h002", "h004", "h006", "h008", "h010", "h012"}},
		{"tag:web,+prod", []string{"h004", "h010"}},
		{"tag:prod,-canary", []string{"h004", "h007", "h010"}},
		{"tag:web,prod", []string{"h001", "h002", "h004", "h006", "h007", "h008", "h010", "h012"}},
		{"tag:db,+prod,-canary", []string{"h007"}},
		{"exp:^h00[1-3]$", []string{"h001", "h002", "h003"}},
		{"sys:h003,h001", []string{"h001", "h003"}},
		{"h005", []string{"h005"}},
		{"sys:h00[1-3],h011", []string{"h001", "h002", "h003", "h011"}},
		{"not:tag:linux", nil},
		{"not:tag:db", []string{"h002", "h004", "h006", "h008", "h010", "h012"}},
		{"tag:canary+sys:h012", []string{"h001", "h012"}},
		{"tag:linux:exp:^h01", []string{"h010", "h011", "h012"}},
		{"all:", allNames(f)},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			r := dt(t, f, nil, "", "-p", tt.pattern, "ssh", "true")
			got := lines(r.stdout)
			sort.Strings(got)
			if len(tt.want) == 0 {
				if r.code != 1 || !strings.Contains(r.stderr, "matched no hosts") || !strings.Contains(r.stderr, "known tags: ") {
					t.Errorf("exit %d, stderr %q: want exit 1 with a hint", r.code, r.stderr)
				}
				return
			}
			if r.code != 0 || !equal(got, tt.want) {
				t.Errorf("exit %d, hosts %q, want %q", r.code, got, tt.want)
			}
		})
	}
}

// TestOutPattern: feed one run's output into the next; out:fail retries
// only the failures.
func TestOutPattern(t *testing.T) {
	f := shared(t)
	first := dt(t, f, nil, "", "tag:web", "ssh", `case $DT_TEST_HOST in h002|h008) exit 1;; esac; echo fine`)
	if first.code != 1 {
		t.Fatalf("first run exit %d", first.code)
	}
	retry := dt(t, f, nil, first.stdout, "out:fail", "ssh", "echo retried")
	recs := records(t, retry.stdout)
	if !equal(names(recs), []string{"h002", "h008"}) || retry.code != 0 {
		t.Errorf("retried %q (exit %d), want h002 h008", names(recs), retry.code)
	}
	okay := dt(t, f, nil, first.stdout, "-p", "out:okay", "ssh", "true")
	if got := lines(okay.stdout); !equal(got, []string{"h004", "h006", "h010", "h012"}) {
		t.Errorf("out:okay = %q", got)
	}
	plain := dt(t, f, nil, "h003\nh001\n", "out:", "list")
	if got := names(records(t, plain.stdout)); !equal(got, []string{"h001", "h003"}) {
		t.Errorf("out: plain names = %q", got)
	}
}

// TestListModule prints tags and connects to nothing.
func TestListModule(t *testing.T) {
	f := shared(t)
	before, _ := f.TotalHandshakes()
	r := dt(t, f, nil, "", "tag:canary", "list")
	if r.stdout != "okay::dt:list:h001:linux db prod canary\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if after, _ := f.TotalHandshakes(); after != before {
		t.Errorf("list made %d handshakes", after-before)
	}
}

// TestScriptModule runs a local script with hostile arguments: each
// argument arrives as one word and nothing is executed.
func TestScriptModule(t *testing.T) {
	f := shared(t)
	dir := remoteDir(t, f)
	pwned := filepath.Join(dir, "pwned")
	script := filepath.Join(dir, "s.sh")
	writeFile(t, script, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\necho \" on $DT_TEST_HOST\"\n"), 0o644)
	hostile := fmt.Sprintf("'; touch %s; '", pwned)
	r := dt(t, f, nil, "", "sys:h001,h002", "script", script, hostile, "$(touch "+pwned+")", "two words")
	recs := records(t, r.stdout)
	for _, h := range []string{"h001", "h002"} {
		want := fmt.Sprintf("[%s][$(touch %s)][two words] on %s", hostile, pwned, h)
		if got := string(recs[h].Message); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a hostile argument was executed")
	}
	py := filepath.Join(dir, "p.py")
	writeFile(t, py, []byte("#!/usr/bin/env python3\nimport sys\nprint(sys.argv[1:])\n"), 0o644)
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		r = dt(t, f, nil, "", "sys:h003", "script", py, "a b")
		if r.stdout != "okay::dt:script:h003:['a b']\n" {
			t.Errorf("python script: %q", r.stdout)
		}
	}
}

// TestJSON: --json prints one object per record with the documented fields.
func TestJSON(t *testing.T) {
	f := shared(t)
	r := dt(t, f, nil, "", "--json", "sys:h001", "ssh", "echo hi; exit 4")
	for _, field := range []string{`"host":"h001"`, `"module":"ssh"`, `"status":"fail"`, `"stage":"exit"`, `"exit_code":4`, `"output":"hi\n"`, `"started":"`, `"duration_ms":`} {
		if !strings.Contains(r.stdout, field) {
			t.Errorf("json %q lacks %s", r.stdout, field)
		}
	}
}
