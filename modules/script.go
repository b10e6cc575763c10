package modules

import (
	"bytes"
	"context"
	"os"
	"path"
	"strings"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Script sends a local script to every host on stdin and runs it with its
// shebang interpreter.
type Script struct{}

// Name implements Module.
func (Script) Name() string { return "script" }

// Summary implements Module.
func (Script) Summary() string {
	return "run a local script file on every host (sent on stdin, args quoted)"
}

// Usage implements Module.
func (Script) Usage() string {
	return `dt PATTERN script FILE [ARGS...]

Reads the local FILE once and runs it on every host by sending it on the
interpreter's stdin; nothing is copied to disk. The interpreter comes from
the shebang line (default /bin/sh): shells run as "INTERP -s -- ARGS",
others (python3, perl, ruby...) as "INTERP - ARGS". Every ARG is shell-quoted,
so it reaches the script as exactly one argument, whatever it contains.

  dt tag:web script ./check-disk.sh /srv 90
  dt exp:^db script ./report.py --verbose

Since the script itself arrives on stdin, it cannot read stdin. FILE must
be a regular file of at most 16 MiB (not a pipe or a device).`
}

var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "ash": true, "mksh": true, "busybox": true}

// Prepare implements Module.
func (m Script) Prepare(args []string, opts Options) (Job, error) {
	if len(args) == 0 {
		return nil, usagef(m.Name(), "missing script file; usage: dt PATTERN script FILE [ARGS...]")
	}
	read := opts.ReadFile
	if read == nil {
		read = readScript
	}
	body, err := read(args[0])
	if err != nil {
		return nil, usagef(m.Name(), "%v", err)
	}
	interp, err := interpreter(body)
	if err != nil {
		return nil, usagef(m.Name(), "%s: %v", args[0], err)
	}
	return scriptJob{cmd: scriptCommand(interp, args[1:]), body: body}, nil
}

// MaxScriptSize is the largest script the script module sends. The script
// is held in memory once and sent to every host on stdin.
const MaxScriptSize = 16 << 20

// scriptFile is what the script module reads: a script is held in memory
// once and sent to every host on stdin.
var scriptFile = boundedFile{what: "a script", max: MaxScriptSize, limit: "16 MiB",
	hint: "save the script to a file first", large: "copy large files with the copy module instead"}

// readScript reads a script file: a regular file of at most MaxScriptSize
// bytes. A device, a pipe or /dev/zero would be read without end.
func readScript(name string) ([]byte, error) { return scriptFile.read(name) }

// fileKind names the type of a file that is not a regular one.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "not a plain file"
}

// interpreter returns the shebang's words, or /bin/sh without one.
func interpreter(body []byte) ([]string, error) {
	if !bytes.HasPrefix(body, []byte("#!")) {
		return []string{"/bin/sh"}, nil
	}
	line, _, _ := bytes.Cut(body[2:], []byte("\n"))
	words := strings.Fields(strings.TrimSuffix(string(line), "\r"))
	if len(words) == 0 {
		return nil, errEmptyShebang
	}
	return words, nil
}

type scriptError string

func (e scriptError) Error() string { return string(e) }

const errEmptyShebang = scriptError("empty shebang line")

// scriptCommand builds the remote command line, every word quoted.
func scriptCommand(interp, args []string) string {
	name := path.Base(interp[0])
	if name == "env" && len(interp) > 1 {
		name = path.Base(interp[len(interp)-1])
	}
	words := append([]string{}, interp...)
	if shells[name] {
		words = append(words, "-s", "--")
	} else {
		words = append(words, "-")
	}
	return QuoteAll(append(words, args...))
}

type scriptJob struct {
	cmd  string
	body []byte
}

func (j scriptJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	emit(h.Result(h.Run(ctx, runner.Command{Cmd: j.cmd, Stdin: bytes.NewReader(j.body)})))
}
