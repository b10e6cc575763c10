package main

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ttyPassphrase asks for a key's passphrase on the controlling terminal.
func ttyPassphrase(file string) ([]byte, error) {
	return ttyPrompt(fmt.Sprintf("dt: passphrase for %s: ", file))
}

// ttyPrompt asks for a secret on the controlling terminal. Echo is turned
// off before the prompt is shown, so nothing typed early is ever displayed.
// It fails when there is no terminal.
func ttyPrompt(prompt string) ([]byte, error) {
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
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprint(tty, prompt)
	defer fmt.Fprintln(tty)
	var line []byte
	buf := make([]byte, 256)
	for {
		n, err := tty.Read(buf)
		line = append(line, buf[:n]...)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			pass := bytes.Clone(line[:i])
			clear(line)
			return pass, nil
		}
		if err != nil || n == 0 {
			clear(line)
			return nil, fmt.Errorf("reading from the terminal: %v", err)
		}
	}
}
