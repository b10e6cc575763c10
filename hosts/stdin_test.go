package hosts

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// hostList renders what readStdinHosts returned as "LINE:STATUS:HOP ...".
func hostList(hs []stdinHost) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%d:%s:%s", h.line, h.status, h.hop))
	}
	return strings.Join(parts, " ")
}

func TestReadStdinHosts(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain names", "web1\n  web2  \n# comment\n\nroot@db1:2222\n[::1]:22\n", "1::web1 2::web2 5::root@db1:2222 6::[::1]:22"},
		{"dt output lines", "okay::dt:ssh:web1:up 3 days\nfail::dt:ssh:[::1]:connect: refused\nfail::dt:ssh:[fe80::1%eth0]:x\r\n",
			"1:okay:web1 2:fail:::1 3:fail:fe80::1%eth0"},
		{"host unescaped as output.Parse does", `okay::dt:ssh:web\x2d1:x`, "1:okay:web-1"},
		{"duplicates kept once, at their first line", "web1\nweb1\nokay::dt:ssh:web1:a\nweb2\nokay::dt:list:web1:b\nweb1\n",
			"1::web1 3:okay:web1 4::web2"},
		{"every status output.Parse knows", "skip::dt:systemctl:web9:not started: 7 hosts failed\nokay::dt:ssh:web1:x\nfail::dt:ssh:web2:y\n",
			"1:skip:web9 2:okay:web1 3:fail:web2"},
		{"a host with two statuses is kept for each", "fail::dt:ssh:web1:x\nokay::dt:ssh:web1:y\nfail::dt:ssh:web1:z\n",
			"1:fail:web1 2:okay:web1"},
		{"user and port make a different entry", "web1\nroot@web1\nweb1:22\nweb1\n", "1::web1 2::root@web1 3::web1:22"},
		{"empty input", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := readStdinHosts(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := hostList(hs); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestIsOutputLine: the lines sent to output.Parse are exactly those whose
// third field is "dt"; no host name is one of them.
func TestIsOutputLine(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"okay::dt:ssh:web1:msg", true},
		{"fail:b64:dt:ssh:web1:bXNn", true},
		{"OKAY::dt:ssh:web1", true},
		{"x:y:dt", true},
		{"fail::dtx:ssh:web1:x", false},
		{"okay:dt:ssh:web1:msg", false},
		{"web1", false},
		{"web1:22", false},
		{"[::1]:22", false},
		{"::1", false},
		{"fe80::d:1", false},
		{"root@db2:2222", false},
	}
	for _, tt := range tests {
		if got := isOutputLine(tt.line); got != tt.want {
			t.Errorf("isOutputLine(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestTrimCutEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{`msg`, `msg`},
		{`msg\`, `msg`},
		{`msg\x`, `msg`},
		{`msg\x4`, `msg`},
		{`msg\x41`, `msg\x41`},
		{`msg\\`, `msg\\`},
		{`msg\\\`, `msg\\`},
		{`msg\\x`, `msg\\x`},
		{`msg\\\x`, `msg\\`},
		{`msg\\x4`, `msg\\x4`},
		{`msg\n`, `msg\n`},
		{`x4`, `x4`},
		{`\`, ``},
		{``, ``},
	}
	for _, tt := range tests {
		if got := trimCutEscape(tt.in); got != tt.want {
			t.Errorf("trimCutEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestReadStdinLongOutputLine: a dt output line longer than what is read
// of it still gives its host, wherever the cut falls in an escape.
func TestReadStdinLongOutputLine(t *testing.T) {
	head := "fail::dt:ssh:web1:"
	for _, tail := range []string{`\x41`, `\\`, `\n`, `\\\x41`} {
		for pad := maxForeignLine - len(head) - len(tail); pad <= maxForeignLine-len(head); pad++ {
			line := head + strings.Repeat("a", pad) + tail + "more\n"
			hs, err := readStdinHosts(strings.NewReader(line))
			if err != nil {
				t.Fatalf("cut %d bytes into %q: %v", maxForeignLine-len(head)-pad, tail, err)
			}
			if got := hostList(hs); got != "1:fail:web1" {
				t.Errorf("got %q", got)
			}
		}
	}
}

// linesReader yields line(1), line(2), ... line(n), each with a newline.
type linesReader struct {
	line func(i int) string
	i, n int
	buf  []byte
}

func (r *linesReader) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) && r.i < r.n {
		r.i++
		r.buf = append(append(r.buf, r.line(r.i)...), '\n')
	}
	if len(r.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// TestReadStdinManyDuplicates: a million copies of one line leave one
// host, and the heap does not grow with the input (the input is ~8 MB; a
// kept entry per line would hold well over 50 MB).
func TestReadStdinManyDuplicates(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	one := func(int) string { return "okay::dt:ssh:h015:x" }
	hs, err := readStdinHosts(&linesReader{line: one, n: 1_000_000})
	runtime.GC()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := hostList(hs); got != "1:okay:h015" {
		t.Errorf("got %q", got)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Errorf("the heap grew by %d bytes reading one host a million times", grew)
	}
}

// manyNames yields "h1", "h2", ... up to n.
func manyNames(n int) io.Reader {
	return &linesReader{line: func(i int) string { return fmt.Sprintf("h%d", i) }, n: n}
}

// TestReadStdinCap: MaxRangeNames distinct hosts are fine, one more is an
// error at the line that went past; repeating a host (or naming it with
// another status) does not count again.
func TestReadStdinCap(t *testing.T) {
	hs, err := readStdinHosts(io.MultiReader(manyNames(MaxRangeNames), strings.NewReader("h1\nfail::dt:ssh:h2:x\n")))
	if err != nil || len(hs) != MaxRangeNames+1 {
		t.Fatalf("%d distinct names: %d entries, %v", MaxRangeNames, len(hs), err)
	}
	_, err = readStdinHosts(io.MultiReader(strings.NewReader("# many\n"), manyNames(MaxRangeNames+5)))
	var pe *ParseError
	want := fmt.Sprintf("stdin:%d: more than %d distinct hosts, the most out: reads", MaxRangeNames+2, MaxRangeNames)
	if !errors.As(err, &pe) || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
