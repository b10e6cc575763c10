package output

import (
	"io"
	"sync"
	"time"
)

// Progress draws one status line on a terminal while a run goes, from a
// Tally:
//
//	dt: 37/400 done, 35 okay, 2 fail, 64 running, 3.2s
//
// redrawn in place ("\r", the line, erase to the end of the line) every
// tick and erased by Stop. It writes only to its own writer (stderr);
// when records go to the same terminal, write them through Guard, which
// takes the line away before a record and draws it again after, so the
// two never mix. Only use it on a terminal.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	tally *Tally
	start time.Time
	width int
	shown bool
	// midline: the guarded terminal's cursor is inside a line (a large
	// record written in pieces); drawing must wait for its end.
	midline bool
	paused  int // Pause calls not resumed: nothing is drawn
	quit    chan struct{}
	done    chan struct{}
}

// ProgressTick is how often the line is redrawn.
const ProgressTick = 100 * time.Millisecond

// StartProgress starts drawing t's progress on w, a terminal width columns
// wide (0: unknown), counting time from start. The first drawing comes
// after one tick, so a run that ends at once shows none.
func StartProgress(w io.Writer, t *Tally, start time.Time, width int) *Progress {
	p := &Progress{w: w, tally: t, start: start, width: width, quit: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *Progress) loop() {
	defer close(p.done)
	tick := time.NewTicker(ProgressTick)
	defer tick.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-tick.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw writes the line; the caller holds p.mu.
func (p *Progress) draw() {
	if p.midline || p.paused > 0 {
		return
	}
	line := p.tally.progressText(time.Since(p.start))
	if p.width > 1 && len(line) > p.width-1 {
		line = line[:p.width-1] // a wrapped line could not be redrawn in place
	}
	_ = writeAll(p.w, []byte("\r"+line+"\x1b[K"))
	p.shown = true
}

// erase takes the line away; the caller holds p.mu.
func (p *Progress) erase() {
	if p.shown {
		_ = writeAll(p.w, []byte("\r\x1b[K"))
		p.shown = false
	}
}

// Pause takes the line away and draws it no more until the returned
// function is called: while dt asks a question on the terminal (a
// passphrase, a password), whose prompt the line would overwrite.
func (p *Progress) Pause() (resume func()) {
	p.mu.Lock()
	p.paused++
	p.erase()
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.paused--
			p.mu.Unlock()
		})
	}
}

// Stop stops the redrawing and erases the line.
func (p *Progress) Stop() {
	close(p.quit)
	<-p.done
	p.mu.Lock()
	p.erase()
	p.mu.Unlock()
}

// Guard returns a writer to w (the terminal the line is on) that erases
// the line before each write and draws it again after.
func (p *Progress) Guard(w io.Writer) io.Writer { return guarded{p: p, w: w} }

type guarded struct {
	p *Progress
	w io.Writer
}

func (g guarded) Write(b []byte) (int, error) {
	g.p.mu.Lock()
	defer g.p.mu.Unlock()
	was := g.p.shown || g.p.midline
	g.p.erase()
	n, err := g.w.Write(b)
	g.p.midline = len(b) > 0 && b[len(b)-1] != '\n'
	if was {
		select {
		case <-g.p.quit:
		default:
			g.p.draw()
		}
	}
	return n, err
}
