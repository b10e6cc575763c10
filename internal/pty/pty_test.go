package pty

import (
	"io"
	"testing"

	"golang.org/x/term"
)

// TestOpen: the slave side is a terminal, and what a program writes to it
// comes out of the master side.
func TestOpen(t *testing.T) {
	master, slave, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	if !term.IsTerminal(int(slave.Fd())) {
		t.Fatal("the slave side is not a terminal")
	}
	if _, err := io.WriteString(slave, "hi"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(master, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("master read %q, %v", buf, err)
	}
}
