package main

// The CLI is tested with script files, in the spirit of age's testscript
// tests: testdata/*.txt each run dt (this test binary, re-executed as dt)
// with arguments, stdin and files, and check its stdout, stderr and exit
// status. Nothing here needs root, sshd or a network: the scripts cover
// what dt decides before it connects (usage, help, exit codes, -p, out:).
//
// A script is lines of commands, then files in txtar form ("-- NAME --"
// and the file's text), which are written into the script's own
// directory, $WORK, before it runs. Commands:
//
//	# comment
//	env KEY=VALUE       set a variable for the dt runs after it
//	stdin NAME          the next dt reads file NAME as its standard input
//	dt ARGS...          run dt; words split at spaces, '...' and "..." quote,
//	                    $WORK is the script's directory
//	exit N              the last dt exited with status N (every dt needs one)
//	stdout RE           the last dt's stdout matches the regexp RE ((?m) on;
//	stderr RE           $WORK stands for the directory); with "! " before
//	                    it, does not match: "! stdout ." means no output
//	cmp stdout NAME     stdout is exactly file NAME (after $WORK for the
//	cmp stderr NAME     directory); go test -update rewrites NAME
//
// dt runs with HOME=$WORK/home (created empty unless a file puts something
// there), USER=tester, TERM=dumb, PATH from the test, and nothing else of
// the test's environment.
//
// Hand-written rather than rogpeppe/go-internal/testscript: its exec
// checks success or failure, and dt's exit statuses 1, 2 and 3 mean
// different things that the scripts must tell apart; the runner is this
// file.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the files that cmp compares with (testdata/*.txt)")

// asDT is set in the environment of the test binary when it runs as dt.
const asDT = "DT_TEST_RUN_AS_DT"

func TestMain(m *testing.M) {
	if os.Getenv(asDT) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// dtCommand returns a command that runs this test binary as dt in dir,
// with env (KEY=VALUE) as its whole environment besides asDT.
func dtCommand(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append([]string{asDT + "=1"}, env...)
	return cmd
}

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txt scripts")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			t.Parallel()
			runScript(t, file)
		})
	}
}

// archive is a script file: its commands, then its files.
type archive struct {
	script string
	files  []archiveFile
}

type archiveFile struct {
	name string
	data []byte
}

var fileMarker = regexp.MustCompile(`(?m)^-- (\S+) --$\n?`)

func parseArchive(data []byte) archive {
	locs := fileMarker.FindAllSubmatchIndex(data, -1)
	if len(locs) == 0 {
		return archive{script: string(data)}
	}
	a := archive{script: string(data[:locs[0][0]])}
	for i, l := range locs {
		end := len(data)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		a.files = append(a.files, archiveFile{name: string(data[l[2]:l[3]]), data: data[l[1]:end]})
	}
	return a
}

func (a archive) format() []byte {
	var b bytes.Buffer
	b.WriteString(a.script)
	for _, f := range a.files {
		fmt.Fprintf(&b, "-- %s --\n", f.name)
		b.Write(f.data)
	}
	return b.Bytes()
}

func (a *archive) file(name string) *archiveFile {
	for i := range a.files {
		if a.files[i].name == name {
			return &a.files[i]
		}
	}
	return nil
}

// result is one finished dt run.
type result struct {
	where          string // FILE:LINE of the dt line
	args           string
	stdout, stderr string
	code           int
	exitChecked    bool
}

func runScript(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := parseArchive(data)
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range a.files {
		p := filepath.Join(work, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"HOME=" + filepath.Join(work, "home"), "USER=tester", "TERM=dumb", "PATH=" + os.Getenv("PATH")}
	var (
		stdin   []byte
		last    *result
		updated bool
	)
	checkExit := func() {
		if last != nil && !last.exitChecked {
			t.Errorf("%s: dt %s: no exit line says what it should exit with (it exited %d)", last.where, last.args, last.code)
		}
	}
	lines := strings.Split(a.script, "\n")
	for i, line := range lines {
		lineNo := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := false
		if rest, ok := strings.CutPrefix(line, "! "); ok {
			neg, line = true, rest
		}
		cmd, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		where := fmt.Sprintf("%s:%d", path, lineNo)
		if neg && cmd != "stdout" && cmd != "stderr" {
			t.Fatalf("%s: ! goes only before stdout or stderr", where)
		}
		if cmd != "dt" && cmd != "env" && cmd != "stdin" && last == nil {
			t.Fatalf("%s: %s before any dt", where, cmd)
		}
		switch cmd {
		case "env":
			if !strings.Contains(rest, "=") {
				t.Fatalf("%s: want env KEY=VALUE", where)
			}
			env = append(env, strings.ReplaceAll(rest, "$WORK", work))
		case "stdin":
			f := a.file(rest)
			if f == nil {
				t.Fatalf("%s: no file %q", where, rest)
			}
			stdin = f.data
		case "dt":
			checkExit()
			args, err := splitWords(rest, work)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			last = runDT(t, work, env, stdin, args)
			last.where, last.args = where, rest
			stdin = nil
		case "exit":
			want, err := strconv.Atoi(rest)
			if err != nil {
				t.Fatalf("%s: want exit N", where)
			}
			last.exitChecked = true
			if last.code != want {
				t.Errorf("%s: dt %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", where, last.args, last.code, want, last.stdout, last.stderr)
			}
		case "stdout", "stderr":
			got := last.stdout
			if cmd == "stderr" {
				got = last.stderr
			}
			re, err := regexp.Compile("(?m)" + strings.ReplaceAll(rest, "$WORK", regexp.QuoteMeta(work)))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if re.MatchString(got) == neg {
				verb := "does not match"
				if neg {
					verb = "matches"
				}
				t.Errorf("%s: dt %s: %s %s %q:\n%s", where, last.args, cmd, verb, rest, got)
			}
		case "cmp":
			stream, name, _ := strings.Cut(rest, " ")
			got := last.stdout
			switch stream {
			case "stdout":
			case "stderr":
				got = last.stderr
			default:
				t.Fatalf("%s: want cmp stdout|stderr NAME", where)
			}
			got = strings.ReplaceAll(got, work, "$WORK")
			f := a.file(name)
			if f == nil {
				t.Fatalf("%s: no file %q", where, name)
			}
			if got == string(f.data) {
				continue
			}
			if *update {
				f.data = []byte(got)
				updated = true
				continue
			}
			t.Errorf("%s: dt %s: %s differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", where, last.args, stream, name, got, f.data)
		default:
			t.Fatalf("%s: unknown command %q", where, cmd)
		}
	}
	checkExit()
	if updated {
		if err := os.WriteFile(path, a.format(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runDT runs dt with args in work and returns what it did.
func runDT(t *testing.T, work string, env []string, stdin []byte, args []string) *result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := dtCommand(ctx, work, env, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := &result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok && ee.Exited() {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("dt %q: %v", args, err)
	}
	return r
}

// splitWords splits a dt line into arguments: words separated by spaces
// or tabs, '...' quoting literally, "..." quoting with $WORK expanded, and
// $WORK expanded in unquoted text.
func splitWords(s, work string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unclosed %c in %q", c, s)
			}
			q := s[i+1 : i+1+j]
			if c == '"' {
				q = strings.ReplaceAll(q, "$WORK", work)
			}
			cur.WriteString(q)
			in = true
			i += j + 1
		case strings.HasPrefix(s[i:], "$WORK"):
			cur.WriteString(work)
			in = true
			i += len("$WORK") - 1
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"-p  all:\tlist", []string{"-p", "all:", "list"}},
		{`all: ssh 'echo $WORK; x' "in $WORK" $WORK/db`, []string{"all:", "ssh", "echo $WORK; x", "in /w", "/w/db"}},
		{`a''b "" x`, []string{"ab", "", "x"}},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in, "/w")
		if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := splitWords(`a 'b`, "/w"); err == nil {
		t.Error("an unclosed quote was accepted")
	}
}
