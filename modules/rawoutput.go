package modules

import (
	"bytes"
	"sync"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// OutputJob is implemented by jobs whose records carry their commands' raw
// output, for people to read (ssh, script, sudo), as opposed to output a
// module parses (systemctl show, sv status). For them Execute keeps at most
// output.SpoolLimit bytes of a command's output in memory and spills the
// rest to a file, and --stream prints the output line by line as it
// arrives.
type OutputJob interface {
	RawOutput() bool
}

// RawOutput implements OutputJob.
func (commandJob) RawOutput() bool { return true }

// RawOutput implements OutputJob.
func (scriptJob) RawOutput() bool { return true }

// RawOutput implements OutputJob.
func (sudoJob) RawOutput() bool { return true }

// rawOutput is how a host's commands keep their output when they leave
// it to the host (Command.Stdout unset): spilled past spillAfter bytes,
// or, when stream is set, cut into lines that are records of their own.
type rawOutput struct {
	spillAfter int
	stream     *lineStream
}

// apply sets cmd's output handling unless cmd chose its own.
func (o rawOutput) apply(cmd runner.Command) runner.Command {
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return cmd
	}
	if o.stream != nil {
		cmd.Stdout, cmd.Stderr = o.stream.stdout, o.stream.stderr
		return cmd
	}
	if cmd.SpillAfter == 0 {
		cmd.SpillAfter = o.spillAfter
	}
	return cmd
}

// flush emits what is left of a streamed command's last lines.
func (o rawOutput) flush() {
	if o.stream != nil {
		o.stream.stdout.flush()
		o.stream.stderr.flush()
	}
}

// lineStream turns a host's output into one record per line (--stream).
// stdout and stderr are cut separately, so a line is never made of both.
type lineStream struct {
	stdout, stderr *lineCutter
}

func newLineStream(h *Host, emit func(output.Record)) *lineStream {
	mk := func() *lineCutter { return &lineCutter{h: h, emit: emit} }
	return &lineStream{stdout: mk(), stderr: mk()}
}

// lineCutter emits each complete line written to it as a record: Okay,
// Line, ExitCode -1, the line with its newline as message. A line longer
// than output.SpoolLimit goes out in pieces of that size, so memory stays
// bounded; a last line without a newline goes out at flush.
type lineCutter struct {
	mu   sync.Mutex
	h    *Host
	emit func(output.Record)
	buf  []byte
}

func (c *lineCutter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		end, whole := len(p), false
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			end, whole = i+1, true
		}
		if room := output.SpoolLimit - len(c.buf); end > room {
			end, whole = room, true
		}
		c.buf = append(c.buf, p[:end]...)
		p = p[end:]
		if whole {
			c.send()
		}
	}
	return n, nil
}

func (c *lineCutter) send() {
	rec := c.h.Record(output.Okay, "", bytes.Clone(c.buf), -1)
	rec.Line = true
	c.buf = c.buf[:0]
	c.emit(rec)
}

func (c *lineCutter) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) > 0 {
		c.send()
	}
}
