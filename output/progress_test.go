package output

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProgressDrawsAndErases: the line is drawn in place after a tick,
// redrawn as hosts finish, and erased by Stop.
func TestProgressDrawsAndErases(t *testing.T) {
	var term syncBuf
	ta := NewTally(3)
	p := StartProgress(&term, ta, time.Now(), 80)
	ta.HostStarted("a")
	ta.HostDone(Record{Status: Okay, Host: "a"})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(term.String(), "1/3 done") {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line drawn: %q", term.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Stop()
	got := term.String()
	if !strings.HasPrefix(got, "\rdt: ") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("terminal got %q: want redraws starting with \\r and a final erase", got)
	}
	if strings.Contains(got, "\n") {
		t.Errorf("progress wrote a newline: %q", got)
	}
}

// TestProgressGuard: records written through Guard never land on the
// progress line: it is erased before them and drawn again after a whole
// line, not in the middle of one.
func TestProgressGuard(t *testing.T) {
	var term syncBuf
	ta := NewTally(2)
	p := StartProgress(&term, ta, time.Now(), 80)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(term.String(), "0/2 done") {
		if time.Now().After(deadline) {
			t.Fatal("no progress line drawn")
		}
		time.Sleep(10 * time.Millisecond)
	}
	g := p.Guard(&term)
	g.Write([]byte("okay::dt:ssh:a:part"))
	g.Write([]byte(" two\n"))
	p.Stop()
	got := term.String()
	i := strings.Index(got, "okay::dt")
	if i < 4 || got[i-4:i] != "\r\x1b[K" {
		t.Errorf("record not preceded by an erase: %q", got)
	}
	if !strings.Contains(got, "okay::dt:ssh:a:part two\n\rdt: ") {
		t.Errorf("line not whole, or progress not drawn again after it: %q", got)
	}
}

func TestProgressTruncatesToWidth(t *testing.T) {
	var term syncBuf
	p := &Progress{w: &term, tally: NewTally(1000), start: time.Now(), width: 20}
	p.draw()
	if got := term.String(); got != "\rdt: 0/1000 done, 0 \x1b[K" {
		t.Errorf("drew %q", got)
	}
}

// BenchmarkProgress1000 is what the progress line adds to a 1000-host run
// whose records go to the same terminal: 1000 hosts tracked, and each
// record written through the guard while the line is shown (erase, write,
// redraw), then the summary.
func BenchmarkProgress1000(b *testing.B) {
	r := Record{Status: Okay, Module: "ssh", Host: "h0001", Message: []byte("h0001\n")}
	b.ReportAllocs()
	for b.Loop() {
		t := NewTally(1000)
		p := StartProgress(io.Discard, t, time.Now(), 120)
		p.mu.Lock()
		p.draw()
		p.mu.Unlock()
		w := NewOmni(p.Guard(io.Discard), false)
		for range 1000 {
			t.HostStarted(r.Host)
			w.Write(r)
			t.HostDone(r)
		}
		p.Stop()
		_ = t.Summary(time.Second, nil, false)
	}
}
