package output

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dtools/dt/internal/pty"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

var t0 = time.Date(2009, time.November, 16, 23, 54, 4, 500_000_000, time.FixedZone("CET", 3600))

// goldenRecords covers every kind of line dt prints.
var goldenRecords = []Record{
	{Status: Okay, Module: "ssh", Host: "myhostlinux1.domain", Message: []byte("Mon Nov 16 23:54:04 CET 2009\n"),
		ExitCode: 0, Started: t0, Duration: 12500 * time.Microsecond},
	{Status: Fail, Module: "ssh", Host: "web2", Stage: StageExit, ExitCode: 1,
		Message: []byte("grep: /etc/foo: No such file or directory\n"), Started: t0, Duration: 31 * time.Millisecond},
	{Status: Fail, Module: "ssh", Host: "127.0.0.3", Stage: StageConnect, ExitCode: -1,
		Message: []byte("dial tcp 127.0.0.3:22: connect: connection refused"), Started: t0, Duration: 250 * time.Microsecond},
	{Status: Okay, Module: "ssh", Host: "::1", ExitCode: 0,
		Message: []byte("line one\nline two\twith tab\n"), Started: t0, Duration: 2 * time.Second},
	{Status: Fail, Module: "ssh", Host: "db1", Stage: StageExit, ExitCode: -1,
		Message: []byte("killed by signal TERM"), Started: t0, Duration: 1500 * time.Millisecond},
	{Status: Okay, Module: "ssh", Host: "win1", ExitCode: 0,
		Message: []byte("C:\\temp \x1b[31mred\x1b[0m café <&> \xff\x00\r\n"), Started: t0, Duration: time.Millisecond},
	{Status: Fail, Module: "ssh", Host: "slow1", Stage: StageTimeout, ExitCode: -1,
		Message: []byte("no answer after 10s"), Started: t0, Duration: 10 * time.Second},
	{Status: Fail, Module: "ssh", Host: "web3", Stage: StageHostKey, ExitCode: -1,
		Message: []byte("host key for web3 changed"), Started: t0.Add(time.Nanosecond), Duration: 0},
	{Status: Okay, Module: "ping", Host: "web4", ExitCode: -1, Started: t0},
	{Status: Fail, Module: "ssh", Host: "web5", Stage: StageExit, ExitCode: 2, Started: t0},
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
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

func renderAll(t *testing.T, w Writer) {
	t.Helper()
	for _, r := range goldenRecords {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOmniGolden(t *testing.T) {
	var plain, color bytes.Buffer
	renderAll(t, NewOmni(&plain, false))
	renderAll(t, NewOmni(&color, true))
	checkGolden(t, "omni.golden", plain.Bytes())
	checkGolden(t, "omni_color.golden", color.Bytes())

	// Without colour the bytes are exactly AppendLine's.
	var want []byte
	for _, r := range goldenRecords {
		want = AppendLine(want, r)
	}
	if !bytes.Equal(plain.Bytes(), want) {
		t.Errorf("NewOmni(w, false) output differs from AppendLine:\n%s\n%s", plain.Bytes(), want)
	}
	// With colour, removing the SGR sequences gives the same bytes.
	stripped := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAll(color.Bytes(), nil)
	if !bytes.Equal(stripped, want) {
		t.Errorf("coloured output without SGR sequences differs:\n%q\n%q", stripped, want)
	}
	// Every line parses.
	sc := bufio.NewScanner(&plain)
	for i := 0; sc.Scan(); i++ {
		r, err := Parse(sc.Text())
		if err != nil {
			t.Errorf("line %d: %v", i+1, err)
			continue
		}
		g := goldenRecords[i]
		if r.Status != g.Status || r.Module != g.Module || r.Host != g.Host || string(r.Message) != string(Message(g)) {
			t.Errorf("line %d parsed as %+v, want fields of %+v", i+1, r, g)
		}
	}
}

func TestOmniColors(t *testing.T) {
	var b bytes.Buffer
	w := NewOmni(&b, true)
	_ = w.Write(Record{Status: Okay, Module: "ssh", Host: "web1", Message: []byte("up")})
	_ = w.Write(Record{Status: Fail, Module: "ssh", Host: "::1", Stage: StageAuth, Message: []byte("denied")})
	want := "\x1b[32mokay\x1b[0m::dt:\x1b[36mssh\x1b[0m:\x1b[33mweb1\x1b[0m:up\n" +
		"\x1b[31mfail\x1b[0m::dt:\x1b[36mssh\x1b[0m:\x1b[33m[::1]\x1b[0m:auth: denied\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

// lineWriter is a bytes.Buffer-backed writer that checks every Write call
// carries exactly one whole line. It has its own lock only to count calls;
// Omni must serialise calls itself (the race detector checks the buffer).
type lineWriter struct {
	buf   bytes.Buffer
	calls int
	bad   []string
	mu    sync.Mutex
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if bytes.IndexByte(p, '\n') != len(p)-1 {
		w.bad = append(w.bad, string(p))
	}
	w.calls++
	w.mu.Unlock()
	return w.buf.Write(p) // unguarded on purpose
}

func TestOmniConcurrent(t *testing.T) {
	const goroutines, perG = 50, 200
	lw := &lineWriter{}
	w := NewOmni(lw, false)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				r := Record{Status: Okay, Module: "ssh", Host: fmt.Sprintf("host%d", g),
					Message: []byte(fmt.Sprintf("record %d of goroutine %d\nsecond line: %s", i, g, strings.Repeat("x", i)))}
				if i%3 == 0 {
					r.Status, r.Stage, r.ExitCode = Fail, StageExit, i
				}
				if err := w.Write(r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	if len(lw.bad) > 0 {
		t.Fatalf("%d Write calls were not exactly one line, e.g. %q", len(lw.bad), lw.bad[0])
	}
	if lw.calls != goroutines*perG {
		t.Errorf("%d Write calls, want %d", lw.calls, goroutines*perG)
	}
	seen := make(map[string]bool)
	sc := bufio.NewScanner(&lw.buf)
	n := 0
	for sc.Scan() {
		n++
		r, err := Parse(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		key := r.Host + "/" + strings.SplitN(string(r.Message), "\n", 2)[0]
		if seen[key] {
			t.Fatalf("duplicate line %q", sc.Text())
		}
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != goroutines*perG {
		t.Errorf("%d lines, want %d", n, goroutines*perG)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

type errWriter struct{ err error }

func (e errWriter) Write(p []byte) (int, error) { return 0, e.err }

func TestWriterErrors(t *testing.T) {
	r := goldenRecords[0]
	boom := errors.New("boom")
	for name, w := range map[string]Writer{
		"omni": NewOmni(errWriter{boom}, false),
		"json": NewJSON(errWriter{boom}),
	} {
		if err := w.Write(r); !errors.Is(err, boom) {
			t.Errorf("%s: Write error = %v, want %v", name, err, boom)
		}
	}
	for name, w := range map[string]Writer{
		"omni": NewOmni(shortWriter{}, false),
		"json": NewJSON(shortWriter{}),
	} {
		if err := w.Write(r); !errors.Is(err, io.ErrShortWrite) {
			t.Errorf("%s: Write error = %v, want io.ErrShortWrite", name, err)
		}
	}
}

func TestOmniHugeRecordBufferNotKept(t *testing.T) {
	w := NewOmni(io.Discard, false)
	if err := w.Write(Record{Status: Okay, Message: bytes.Repeat([]byte("x"), 2*maxKeptBuf)}); err != nil {
		t.Fatal(err)
	}
	if w.buf != nil {
		t.Errorf("kept a %d byte buffer", cap(w.buf))
	}
	var b bytes.Buffer
	w = NewOmni(&b, false)
	_ = w.Write(Record{Status: Okay, Message: bytes.Repeat([]byte("x"), 2*maxKeptBuf)})
	_ = w.Write(goldenRecords[0])
	if !strings.HasSuffix(b.String(), FormatLine(goldenRecords[0])) {
		t.Errorf("record after a huge one is wrong")
	}
}

func TestColorWanted(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	term := map[string]string{"TERM": "xterm-256color"}

	// A pipe and a regular file are never terminals.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if ColorWanted(pw, false, env(term)) {
		t.Error("ColorWanted(pipe) = true")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ColorWanted(f, false, env(term)) {
		t.Error("ColorWanted(regular file) = true")
	}
	if ColorWanted(nil, false, env(term)) {
		t.Error("ColorWanted(nil) = true")
	}

	// /dev/null is a character device, not a terminal.
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if ColorWanted(null, false, env(term)) {
		t.Errorf("ColorWanted(%s) = true", os.DevNull)
	}

	master, dev, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer dev.Close()
	tests := []struct {
		name    string
		noColor bool
		env     map[string]string
		want    bool
	}{
		{"terminal", false, term, true},
		{"no TERM set", false, map[string]string{}, true},
		{"flag", true, term, false},
		{"NO_COLOR", false, map[string]string{"TERM": "xterm", "NO_COLOR": "1"}, false},
		{"NO_COLOR empty", false, map[string]string{"TERM": "xterm", "NO_COLOR": ""}, true},
		{"dumb", false, map[string]string{"TERM": "dumb"}, false},
	}
	for _, tt := range tests {
		if got := ColorWanted(dev, tt.noColor, env(tt.env)); got != tt.want {
			t.Errorf("%s: ColorWanted = %v, want %v", tt.name, got, tt.want)
		}
	}
	t.Setenv("NO_COLOR", "yes")
	if ColorWanted(dev, false, nil) {
		t.Error("ColorWanted with nil getenv ignored NO_COLOR")
	}
}

func BenchmarkOmniWrite(b *testing.B) {
	w := NewOmni(io.Discard, false)
	r := Record{Status: Fail, Module: "ssh", Host: "myhostlinux1.domain", Stage: StageExit, ExitCode: 1,
		Message: []byte("grep: /etc/foo: No such file or directory\n")}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOmniWriteColor1KiB(b *testing.B) {
	w := NewOmni(io.Discard, true)
	r := Record{Status: Okay, Module: "ssh", Host: "myhostlinux1.domain", Message: mixedText}
	b.ReportAllocs()
	b.SetBytes(int64(len(mixedText)))
	for b.Loop() {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
}
