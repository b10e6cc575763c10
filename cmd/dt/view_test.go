package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestViewCommand runs "dt view" and the view flags in process: no sshd,
// no root needed.
func TestViewCommand(t *testing.T) {
	dir := t.TempDir()
	saved := filepath.Join(dir, "run.log")
	os.WriteFile(saved, []byte("okay::dt:ssh:h1:Linux\nokay::dt:ssh:h2:Linux\n"+
		"fail::dt:ssh:h3:exit 1: no\\nsuch file\n"+
		"garbage here\n"+
		`{"host":"h4","module":"ssh","status":"okay","stage":"","exit_code":0,"output":"Linux\n","started":"2009-11-16T22:54:04Z","duration_ms":1}`+"\n"), 0o644)
	db := filepath.Join(dir, "dtdb")
	os.WriteFile(db, nil, 0o644)
	clean := filepath.Join(dir, "clean.log")
	os.WriteFile(clean, []byte("okay::dt:ssh:h1:a\nokay::dt:ssh:h2:a\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		stdin    string
		stdout   string
		stderr   string // substring
		code     int
		noStderr bool
	}{
		{name: "gather a file", args: []string{"view", "gather", saved},
			stdout: "fail  h3  (1 host)\n    exit 1: no\n    such file\n\nokay  h[1-2,4]  (3 hosts)\n    Linux\n",
			stderr: "dt: warning: " + saved + ":4: skipped: parse omni line \"garbage here\"", code: 1},
		{name: "clean file, stdin", args: []string{"view", "status"}, stdin: "okay::dt:ssh:h1:a\n",
			stdout: "okay  (1 host)\n  h1  a\n", code: 0, noStderr: true},
		{name: "dash is stdin", args: []string{"view", "compact", "-"}, stdin: "okay::dt:ssh:h1:a\n",
			stdout: ".\n", code: 0, noStderr: true},
		{name: "host view groups a host's records", args: []string{"view", "host"},
			stdin:  "okay::dt:ssh:h1:a\nokay::dt:ssh:h2:b\nfail::dt:ssh:h1:exit 2\n",
			stdout: "h1\n  okay  a\n  fail  exit 2\nh2\n  okay  b\n", code: 1},
		{name: "lines from json", args: []string{"view", "lines"},
			stdin:  `{"host":"h1","module":"ssh","status":"fail","stage":"exit","exit_code":3,"output":"x\n"}` + "\n",
			stdout: "fail::dt:ssh:h1:exit 3: x\n", code: 1},
		{name: "lines round trip", args: []string{"view", "lines", clean}, stdout: "okay::dt:ssh:h1:a\nokay::dt:ssh:h2:a\n", noStderr: true},
		{name: "missing view", args: []string{"view"}, stderr: "dt: error: missing VIEW", code: 2},
		{name: "unknown view", args: []string{"view", "fancy"}, stderr: `dt: error: unknown view "fancy"`, code: 2},
		{name: "missing file", args: []string{"view", "gather", filepath.Join(dir, "nope")}, stderr: "no such file", code: 2},
		{name: "too many", args: []string{"view", "gather", "a", "b"}, stderr: "too many arguments", code: 2},
		{name: "run flags on view", args: []string{"-b", "view", "gather", clean}, stderr: "dt view takes the view as its argument", code: 2},
		{name: "bad --view", args: []string{"--view", "fancy", "all:", "list"}, stderr: `--view "fancy": want one of lines, gather, host, status, compact`, code: 2},
		{name: "-b and another view", args: []string{"-b", "--view", "host", "all:", "list"}, stderr: "-b is --view gather", code: 2},
		{name: "json and a view", args: []string{"--json", "-b", "all:", "list"}, stderr: "--json prints records for scripts", code: 2},
		{name: "summary and quiet", args: []string{"--summary", "-q", "all:", "list"}, stderr: "contradict", code: 2},
		{name: "stream and interactive", args: []string{"--stream", "-i", "all:", "list"}, stderr: "--stream cannot go with -i", code: 2},
		{name: "stream a module without output", args: []string{"--stream", "-D", db, "sys:h1", "list"},
			stderr: `--stream: module "list" prints no command output to stream`, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runCLI(context.Background(), append([]string{"dt"}, tt.args...), strings.NewReader(tt.stdin), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, errb.String())
			}
			if tt.stdout != "" || tt.code == 2 {
				if out.String() != tt.stdout {
					t.Errorf("stdout\n%s\nwant\n%s", out.String(), tt.stdout)
				}
			}
			if !strings.Contains(errb.String(), tt.stderr) || tt.noStderr && errb.Len() > 0 {
				t.Errorf("stderr %q, want it to contain %q", errb.String(), tt.stderr)
			}
		})
	}
}
