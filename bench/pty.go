package main

import (
	"bytes"
	"os"

	"golang.org/x/sys/unix"

	"github.com/dtools/dt/internal/pty"
)

// openTerminal opens a pseudo-terminal of cols x rows: the master side,
// which reads what the program writes, and the slave side, its terminal.
func openTerminal(cols, rows int) (master, slave *os.File, err error) {
	master, slave, err = pty.Open()
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// readAll reads the master side until every slave is closed and sends
// what it read.
func readAll(master *os.File) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 64<<10)
		for {
			n, err := master.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				ch <- b.Bytes()
				return
			}
		}
	}()
	return ch
}
