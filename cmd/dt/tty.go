package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ttyPassphrase asks for a key's passphrase on the controlling terminal.
func ttyPassphrase(file string) ([]byte, error) {
	return ttyPrompt(context.Background(), fmt.Sprintf("dt: passphrase for %s: ", file))
}

// ttyAsk asks a login's question on the controlling terminal: a
// password (echo off) or a keyboard-interactive question.
func ttyAsk(prompt string, echo bool) ([]byte, error) {
	if echo {
		return ttyLine(prompt)
	}
	return ttyPrompt(context.Background(), prompt)
}

// ttyConfirm asks a yes/no question on the controlling terminal; only
// "y" or "yes" is a yes.
func ttyConfirm(question string) (bool, error) {
	ans, err := ttyLine(question)
	if err != nil {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(string(ans)))
	return a == "y" || a == "yes", nil
}

// ttyLine asks for one line on the controlling terminal, echoed as typed.
func ttyLine(prompt string) ([]byte, error) {
	defer quietTerminal()()
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("no terminal: %w", err)
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	line, err := bufio.NewReader(tty).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// ttyPrompt asks for a secret on the controlling terminal. Echo is turned
// off before the prompt is shown, so nothing typed early is ever displayed,
// and turned back on however the prompt ends: an answer, ctx ending (the
// first Ctrl-C), or dt exiting at once on a second Ctrl-C (see
// restoreTerminals). It fails when there is no terminal.
func ttyPrompt(ctx context.Context, prompt string) ([]byte, error) {
	defer quietTerminal()()
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("no terminal: %w", err)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("no terminal: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	restore := onExit(func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) })
	defer restore()
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, err
	}
	fmt.Fprint(tty, prompt)
	defer fmt.Fprintln(tty)

	type answer struct {
		pass []byte
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		var line []byte
		buf := make([]byte, 256)
		for {
			n, err := tty.Read(buf)
			line = append(line, buf[:n]...)
			clear(buf[:n])
			if i := bytes.IndexByte(line, '\n'); i >= 0 {
				pass := bytes.Clone(line[:i])
				clear(line)
				done <- answer{pass: pass}
				return
			}
			if err != nil || n == 0 {
				clear(line)
				done <- answer{err: fmt.Errorf("reading from the terminal: %v", err)}
				return
			}
		}
	}()
	select {
	case a := <-done:
		return a.pass, a.err
	case <-ctx.Done():
		// Closing the terminal (deferred) ends the read.
		return nil, context.Cause(ctx)
	}
}

// exitHooks restore terminal state on every way out of dt, including the
// second Ctrl-C, which exits at once without running deferred calls.
var exitHooks struct {
	mu   sync.Mutex
	next int
	fns  map[int]func()
}

// onExit registers fn to run if dt exits at once, and returns the function
// that runs fn now and unregisters it (call it, usually deferred, when the
// state fn restores is over).
func onExit(fn func()) (runNow func()) {
	exitHooks.mu.Lock()
	defer exitHooks.mu.Unlock()
	if exitHooks.fns == nil {
		exitHooks.fns = map[int]func(){}
	}
	id := exitHooks.next
	exitHooks.next++
	exitHooks.fns[id] = fn
	var once sync.Once
	return func() {
		once.Do(func() {
			exitHooks.mu.Lock()
			delete(exitHooks.fns, id)
			exitHooks.mu.Unlock()
			fn()
		})
	}
}

// restoreTerminals runs every registered exit hook; main calls it before
// exiting at once.
func restoreTerminals() {
	exitHooks.mu.Lock()
	defer exitHooks.mu.Unlock()
	for id, fn := range exitHooks.fns {
		fn()
		delete(exitHooks.fns, id)
	}
}

// terminalQuiet, when set, takes dt's progress line off the terminal while
// a question is asked there (the line would overwrite its prompt), and
// returns what lets it be drawn again.
var (
	terminalQuietMu sync.Mutex
	terminalQuiet   func() (resume func())
)

// setTerminalQuiet sets (nil: clears) what quietTerminal calls.
func setTerminalQuiet(fn func() (resume func())) {
	terminalQuietMu.Lock()
	terminalQuiet = fn
	terminalQuietMu.Unlock()
}

// quietTerminal keeps the progress line off the terminal until the
// returned function is called.
func quietTerminal() (resume func()) {
	terminalQuietMu.Lock()
	fn := terminalQuiet
	terminalQuietMu.Unlock()
	if fn == nil {
		return func() {}
	}
	return fn()
}
