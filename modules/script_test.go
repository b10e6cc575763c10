package modules

import (
	"errors"
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
