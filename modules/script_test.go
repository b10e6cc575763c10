package modules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestScriptCommand(t *testing.T) {
	tests := []struct {
		name string
		body string
		args []string
		want string
	}{
		{"no shebang", "echo hi\n", nil, "/bin/sh -s --"},
		{"sh", "#!/bin/sh\necho hi\n", []string{"a b"}, "/bin/sh -s -- 'a b'"},
		{"env bash", "#!/usr/bin/env bash\n", []string{"x"}, "/usr/bin/env bash -s -- x"},
		{"bash flags", "#!/bin/bash -e\n", nil, "/bin/bash -e -s --"},
		{"python", "#!/usr/bin/python3\n", []string{"--verbose"}, "/usr/bin/python3 - --verbose"},
		{"env python", "#!/usr/bin/env python3\r\n", nil, "/usr/bin/env python3 -"},
		{"hostile", "#!/bin/sh\n", []string{"'; touch /tmp/pwned; '"}, `/bin/sh -s -- ''\''; touch /tmp/pwned; '\'''`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job, err := Script{}.Prepare(append([]string{"f"}, tt.args...), Options{ReadFile: func(string) ([]byte, error) { return []byte(tt.body), nil }})
			if err != nil {
				t.Fatal(err)
			}
			if got := job.(scriptJob).cmd; got != tt.want {
				t.Errorf("command = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestScriptErrors(t *testing.T) {
	read := func(string) ([]byte, error) { return []byte("#!\n"), nil }
	for _, args := range [][]string{nil, {"f"}} {
		_, err := Script{}.Prepare(args, Options{ReadFile: read})
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("Prepare(%q) = %v, want a *UsageError", args, err)
		}
	}
}

// readScript refuses what would be read without end or is too large, and
// reads a regular file.
func TestReadScript(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.sh")
	if err := os.WriteFile(ok, []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.sh")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxScriptSize+1); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := readScript(ok); err != nil || string(b) != "echo hi\n" {
		t.Errorf("regular file: %q, %v", b, err)
	}
	for name, want := range map[string]string{
		"/dev/zero": "is not a regular file (a character device)",
		dir:         "is not a regular file (a directory)",
		fifo:        "is not a regular file (a pipe)",
		big:         "a script may have at most 16777216",
	} {
		if _, err := readScript(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("readScript(%s) = %v, want %q", name, err, want)
		}
	}
}
