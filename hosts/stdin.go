package hosts

import (
	"fmt"
	"io"
	"strings"

	"github.com/dtools/dt/output"
)

// stdinHost is one distinct host read for out:, from a plain name or from
// a dt output line of one status.
type stdinHost struct {
	hop    Hop
	status output.Status // the dt output line's status; "" for a plain name
	line   int           // the first line it was read from
}

// readStdinHosts reads the hosts for out:. Each non-blank line not
// starting with '#' is either a dt output line (see isOutputLine), parsed
// with output.Parse, or a single host written as in the inventory
// ([user@]host[:port]); anything else is a *ParseError.
//
// A host read again with the same status is kept once, at its first line,
// so memory stays bounded however long the input is: more than
// MaxRangeNames distinct hosts is a *ParseError at the line that went past
// it.
func readStdinHosts(r io.Reader) ([]stdinHost, error) {
	var out []stdinHost
	seen := make(map[stdinHost]bool) // with line 0
	names := make(map[string]bool)
	lr := newLineReader(r, maxForeignLine)
	for {
		b, long, err := lr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		line := strings.TrimSpace(string(b))
		if line == "" || line[0] == '#' {
			continue
		}
		h, msg := parseStdinLine(line, long)
		if msg != "" {
			return nil, &ParseError{File: "stdin", Line: lr.line, Msg: msg}
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		if !names[h.hop.Name] {
			if len(names) == MaxRangeNames {
				return nil, &ParseError{File: "stdin", Line: lr.line,
					Msg: fmt.Sprintf("more than %d distinct hosts, the most out: reads", MaxRangeNames)}
			}
			names[h.hop.Name] = true
		}
		h.line = lr.line
		out = append(out, h)
	}
}

// parseStdinLine parses one non-blank line for out:; long says the line
// was cut to maxForeignLine bytes. On failure it returns the message of
// the *ParseError.
func parseStdinLine(line string, long bool) (stdinHost, string) {
	if isOutputLine(line) {
		if long {
			line = trimCutEscape(line)
		}
		rec, err := output.Parse(line)
		if err != nil {
			return stdinHost{}, err.Error()
		}
		h, msg := parseHop(rec.Host)
		if msg != "" {
			return stdinHost{}, fmt.Sprintf("%s in dt output line %q", msg, clip(line))
		}
		return stdinHost{hop: h, status: rec.Status}, ""
	}
	h, msg := parseHop(line)
	if msg != "" {
		return stdinHost{}, fmt.Sprintf("%s in %q (want a host name or a dt output line)", msg, clip(line))
	}
	return stdinHost{hop: h}, ""
}

// isOutputLine says whether line is meant as a dt output line
// (STATUS:ENCODING:dt:MODULE:HOST:MESSAGE): its third ':'-separated field
// is "dt". No host name reads so ("dt" is not hex, so not in an IPv6
// address either), and output.Parse decides whether the line is good.
func isOutputLine(line string) bool {
	_, rest, ok := strings.Cut(line, ":")
	if !ok {
		return false
	}
	_, rest, ok = strings.Cut(rest, ":")
	return ok && (rest == "dt" || strings.HasPrefix(rest, "dt:"))
}

// trimCutEscape drops an escape sequence cut in two at the end of a dt
// output line that was cut short (a backslash, `\x` or `\xH` that starts
// an escape), so the part that was read still parses. Only the message,
// the last field, can have been cut.
func trimCutEscape(line string) string {
	for k := 0; k <= 2 && k < len(line); k++ {
		// k bytes follow the last backslash: "", "x" or "xH".
		i := len(line) - k // just after the backslash
		if k > 0 && line[i] != 'x' {
			continue
		}
		if n := backslashesBefore(line, i); n%2 == 1 {
			return line[:i-1]
		}
	}
	return line
}

// backslashesBefore counts the backslashes that end s[:i].
func backslashesBefore(s string, i int) int {
	n := 0
	for i > 0 && s[i-1] == '\\' {
		n++
		i--
	}
	return n
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
