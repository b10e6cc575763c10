package modules

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dtools/dt/runner"
)

// fakeSudo stands in for sudo in TestSudoWrapShell. Modes: "cached" and
// "nopasswd" never read a password; "needs" reads one line and accepts
// only "s3cret"; "nocache" (timestamp_timeout=0) accepts it too but keeps
// no credential, so every run asks again, through askpass under -A. It
// resets no environment, so the wrapper must clean it. The real sudo is
// tested end to end in e2e.
const fakeSudo = `#!/bin/sh
state="$FAKE_SUDO_STATE"
# Like sudo without a terminal, the credential is kept for the parent
# process only.
[ "$1" = -k ] && { rm -f "$state/ok"; exit 0; }
cached() { [ "$(cat "$state/ok" 2>/dev/null)" = "$PPID" ]; }
if [ "$1" = -S ]; then
	case "$FAKE_SUDO_MODE" in
	cached|nopasswd) exit 0 ;;
	esac
	IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
	[ "$pw" = s3cret ] || { echo "sudo: 1 incorrect password attempt" >&2; exit 1; }
	[ "$FAKE_SUDO_MODE" = nocache ] || echo "$PPID" > "$state/ok"
	exit 0
fi
case "$1" in
-n) [ "$2" = -- ] || { echo "fake sudo: unexpected args $*" >&2; exit 2; }
	shift 2
	case "$FAKE_SUDO_MODE" in
	cached|nopasswd) ;;
	*) cached || { echo "sudo: a password is required" >&2; exit 1; } ;;
	esac ;;
-A) [ "$2" = -p ] && [ "$4" = -- ] || { echo "fake sudo: unexpected args $*" >&2; exit 2; }
	prompt=$3
	shift 4
	case "$FAKE_SUDO_MODE" in
	cached|nopasswd) ;;
	*) cached || [ "$("$SUDO_ASKPASS" "$prompt")" = s3cret ] || { echo "sudo: 1 incorrect password attempt" >&2; exit 1; } ;;
	esac ;;
*) echo "fake sudo: unexpected args $*" >&2; exit 2 ;;
esac
exec "$@"
`

// argvSpy stands in for the programs a shell without builtins would run
// to hand the password on (printf, cat, env, stty...): it records its
// arguments, then runs the real program.
const argvSpy = `#!/bin/sh
printf '%s\n' "$0 $*" >> "$FAKE_SUDO_STATE/argv"
name=${0##*/}
for d in /usr/bin /bin; do [ -x "$d/$name" ] && exec "$d/$name" "$@"; done
exit 127
`

// TestSudoWrapShell runs the wrapped command through real shells (sh,
// bash, dash, mksh, posh, zsh: those installed) with a fake sudo on PATH:
// the command's stdin never contains the password, whether sudo reads it
// or not; no program gets it as an argument (printf is not a builtin of
// mksh and posh); a rejected password is reported with the wrapper's line.
func TestSudoWrapShell(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	// External printf, print and cat would be found here first; /bin/sh
	// is called by absolute path so it is not spied on itself.
	for _, name := range []string{"printf", "print", "cat", "env", "printenv", "stty", "id"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(argvSpy), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		mode     string
		password []byte
		wantOut  string
		wantExit int
	}{
		{"needs", []byte("s3cret"), "stdin:data\n", 0},
		{"cached", []byte("s3cret"), "stdin:data\n", 0},
		{"nopasswd", []byte("s3cret"), "stdin:data\n", 0},
		{"nocache", []byte("s3cret"), "stdin:data\n", 0},
		{"nocache", []byte("wrong"), "sudo: 1 incorrect password attempt\n" + sudoRejected + "\n", 1},
		{"needs", []byte("wrong"), "sudo: 1 incorrect password attempt\n" + sudoRejected + "\n", 1},
		{"needs", nil, "sudo: a password is required\n", 1},
		{"nopasswd", nil, "stdin:data\n", 0},
	}
	shells := 0
	for _, shell := range []string{"/bin/sh", "/bin/bash", "/bin/dash", "/bin/mksh", "/bin/posh", "/bin/zsh"} {
		if _, err := os.Stat(shell); err != nil {
			continue
		}
		shells++
		for _, tt := range tests {
			state := t.TempDir()
			// The command prints its stdin, and anything in its environment
			// that holds the password.
			c := sudoWrap(runner.Command{Cmd: `printf 'stdin:'; cat; env | grep 's3cre[t]'; true`, Stdin: strings.NewReader("data\n")}, tt.password)
			if bytes.Contains([]byte(c.Cmd), []byte("s3cret")) {
				t.Fatalf("password on the command line: %s", c.Cmd)
			}
			cmd := exec.Command(shell, "-c", c.Cmd)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_SUDO_MODE="+tt.mode, "FAKE_SUDO_STATE="+state)
			if c.Stdin == nil {
				c.Stdin = strings.NewReader("")
			}
			cmd.Stdin = c.Stdin
			out, err := cmd.CombinedOutput()
			if _, err := os.Stat(filepath.Join(state, "ok")); err == nil {
				t.Errorf("%s mode %s: the sudo credential was left cached", shell, tt.mode)
			}
			exit := 0
			if ee, ok := err.(*exec.ExitError); ok {
				exit = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.wantOut || exit != tt.wantExit {
				t.Errorf("%s mode %s password %q: exit %d output %q, want exit %d %q", shell, tt.mode, tt.password, exit, out, tt.wantExit, tt.wantOut)
			}
			argv, _ := os.ReadFile(filepath.Join(state, "argv"))
			if tt.password != nil && bytes.Contains(argv, tt.password) {
				t.Errorf("%s mode %s: the password was a program's argument:\n%s", shell, tt.mode, argv)
			}
			if _, rejected := sudoValidationFailed(runner.Result{Output: out, ExitCode: exit}); rejected != (exit == 1 && tt.password != nil) {
				t.Errorf("%s mode %s password %q: sudoValidationFailed = %v", shell, tt.mode, tt.password, rejected)
			}
		}
	}
	if shells < 2 {
		t.Errorf("only %d shell(s) to test with", shells)
	}
}

// With a PTY the password line must not be echoed: the terminal starts
// with echo off and the wrapper turns it on after reading the password.
func TestSudoWrapPTY(t *testing.T) {
	c := sudoWrap(runner.Command{Cmd: "id", PTY: true}, []byte("pw"))
	if !c.NoEcho {
		t.Error("PTY requested with echo on")
	}
	read := strings.Index(c.Cmd, "IFS= read -r")
	stty := strings.Index(c.Cmd, "stty echo")
	if read < 0 || stty < read {
		t.Errorf("echo not restored after the password is read:\n%s", c.Cmd)
	}
	if c := sudoWrap(runner.Command{Cmd: "id"}, []byte("pw")); c.NoEcho || strings.Contains(c.Cmd, "stty") {
		t.Errorf("no PTY, but the terminal is touched:\n%s", c.Cmd)
	}
}

func TestSudoWrapNoPassword(t *testing.T) {
	c := sudoWrap(runner.Command{Cmd: "id -u; echo 'hi'"}, nil)
	if c.Cmd != `sudo -n -- env SVDIR="${SVDIR-}" sh -c 'id -u; echo '\''hi'\'''` || c.Stdin != nil {
		t.Errorf("got %q stdin %v", c.Cmd, c.Stdin)
	}
	c = sudoWrap(runner.Command{Cmd: "true"}, []byte("pw"))
	b, _ := io.ReadAll(c.Stdin)
	if string(b) != "pw\n" {
		t.Errorf("stdin %q", b)
	}
}

func TestSudoHint(t *testing.T) {
	for out, want := range map[string]string{
		"sudo: a password is required":                     "-K/--ask-sudo-pass",
		"sudo: 1 incorrect password attempt":               "rejected the password",
		"fleet is not in the sudoers file.":                "may not run",
		"sh: 1: sudo: not found":                           "not installed",
		"Job for x.service failed because of something.\n": "",
	} {
		if got := sudoHint([]byte(out)); (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("sudoHint(%q) = %q, want it to mention %q", out, got, want)
		}
	}
}
