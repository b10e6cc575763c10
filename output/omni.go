package output

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// tag is the literal third field of every OMNI line.
const tag = "dt"

const hexDigits = "0123456789abcdef"

// escExtra[c] is how many bytes escaping c adds: 1 for backslash, LF and
// CR (`\\`, `\n`, `\r`), 3 for the other control bytes except TAB (`\xHH`),
// 0 for bytes kept as they are.
var escExtra = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = 3
	}
	t['\t'] = 0
	t[0x7f] = 3
	t['\\'], t['\n'], t['\r'] = 1, 1, 1
	return t
}()

// highRun looks at the start of s, whose first byte is >= 0x80: it returns
// the length of the UTF-8 sequence there (1 for a byte that starts no valid
// sequence) and whether it must be escaped. Escaped are the C1 control
// characters, U+0080-U+009F, and stray bytes 0x80-0x9f: a terminal in
// 8-bit mode takes 0x9b for CSI, as 7-bit ones take ESC [. Every other
// byte >= 0x80, valid UTF-8 or not, is kept as it is.
func highRun[S ~string | ~[]byte](s S) (n int, esc bool) {
	c := s[0]
	size, lo, hi := 0, byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		size = 2
	case c == 0xe0:
		size, lo = 3, 0xa0
	case c >= 0xe1 && c <= 0xef && c != 0xed:
		size = 3
	case c == 0xed:
		size, hi = 3, 0x9f
	case c == 0xf0:
		size, lo = 4, 0x90
	case c >= 0xf1 && c <= 0xf3:
		size = 4
	case c == 0xf4:
		size, hi = 4, 0x8f
	}
	if size == 0 || len(s) < size || s[1] < lo || s[1] > hi {
		return 1, c <= 0x9f
	}
	for k := 2; k < size; k++ {
		if s[k] < 0x80 || s[k] > 0xbf {
			return 1, c <= 0x9f
		}
	}
	return size, c == 0xc2 && s[1] <= 0x9f
}

// escapedLen returns the length of s after escaping, treating extra as one
// more byte to escape as \xHH (pass 0 for none; NUL is escaped anyway).
func escapedLen[S ~string | ~[]byte](s S, extra byte) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == extra:
			n += 3
		case c < 0x80:
			n += int(escExtra[c])
		default:
			size, esc := highRun(s[i:])
			if esc {
				n += 3 * size
			}
			i += size - 1
		}
	}
	return n
}

// appendEscaped appends s to dst escaped as described for Escape; extra is
// one more byte to write as \xHH (0 for none).
func appendEscaped[S ~string | ~[]byte](dst []byte, s S, extra byte) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			size, esc := highRun(s[i:])
			if esc {
				dst = append(dst, s[start:i]...)
				for k := i; k < i+size; k++ {
					dst = append(dst, '\\', 'x', hexDigits[s[k]>>4], hexDigits[s[k]&0xf])
				}
				start = i + size
			}
			i += size - 1
			continue
		}
		if escExtra[c] == 0 && c != extra {
			continue
		}
		dst = append(dst, s[start:i]...)
		start = i + 1
		switch c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	return append(dst, s[start:]...)
}

// Escape returns b as one line of text, losslessly: backslash becomes
// `\\`, LF `\n`, CR `\r`, and the other control bytes (0x00-0x1f except
// TAB, and 0x7f) become `\xHH` with lower-case hex. So do the C1 control
// characters: U+0080-U+009F as UTF-8 (`\xc2\x9b`) and bytes 0x80-0x9f
// that are not part of valid UTF-8 (`\x9b`), which a terminal in 8-bit
// mode would obey. TAB is not escaped, because it is printable for humans.
// Every other byte >= 0x80 is kept raw, so UTF-8 stays readable and
// invalid UTF-8 survives too. ':' is not escaped. Unescape reverses it.
//
// The only allocation is the result string.
func Escape(b []byte) string {
	n := escapedLen(b, 0)
	if n == len(b) {
		return string(b)
	}
	buf := appendEscaped(make([]byte, 0, n), b, 0)
	return unsafe.String(unsafe.SliceData(buf), len(buf)) // buf is not used again
}

// Unescape reverses Escape. It accepts `\\`, `\n`, `\r` and `\xHH` (either
// case of hex digit); any other backslash sequence, or a backslash at the
// end, is an error. Bytes that are not part of an escape are copied as they
// are, so Unescape also accepts text Escape would not have produced.
func Unescape(s string) ([]byte, error) {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return []byte(s), nil
	}
	out := make([]byte, 0, len(s))
	out = append(out, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("unescape: trailing backslash at offset %d", i)
		}
		switch s[i+1] {
		case '\\':
			out = append(out, '\\')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'x':
			if i+4 > len(s) {
				return nil, fmt.Errorf("unescape: truncated escape %q at offset %d", s[i:], i)
			}
			hi, ok1 := unhex(s[i+2])
			lo, ok2 := unhex(s[i+3])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("unescape: bad hex escape %q at offset %d", s[i:i+4], i)
			}
			out = append(out, hi<<4|lo)
			i += 2
		default:
			return nil, fmt.Errorf("unescape: unknown escape %q at offset %d", s[i:i+2], i)
		}
		i++
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// trimNewline drops one trailing '\n' (only one, and not a '\r' before it).
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// appendPrefix appends the failure prefix of r (see Message), unescaped.
func appendPrefix(dst []byte, r Record) []byte {
	if !prefixed(r) {
		return dst
	}
	if r.Stage == StageExit {
		if r.ExitCode < 0 {
			return append(dst, "exit: "...)
		}
		dst = append(dst, "exit "...)
		dst = strconv.AppendInt(dst, int64(r.ExitCode), 10)
		return append(dst, ": "...)
	}
	dst = append(dst, r.Stage...)
	return append(dst, ": "...)
}

// prefixed says whether r's message gets a stage prefix.
func prefixed(r Record) bool {
	return r.Status == Fail && r.Stage != "" && r.Stage != StageModule
}

// Message returns the MESSAGE field of r's OMNI line before escaping:
// r.Message with one trailing "\n" dropped (only one; a "\r" before it
// stays), preceded for failures by a prefix naming the stage:
//
//   - Status Fail and Stage StageExit: "exit N: " with N = ExitCode; when
//     ExitCode < 0 (killed by a signal, which the message says) just
//     "exit: ".
//   - Status Fail and any other non-empty Stage: Stage + ": ", for example
//     "connect: dial tcp 127.0.0.3:22: connection refused".
//   - Status Okay, Stage "" or Stage StageModule (the module wrote the
//     whole message, e.g. "nginx.service failed (failed) ..."): no prefix.
//
// A failure without output has the prefix without its ": " ("exit 2").
//
// When there is no prefix the result shares memory with r.Message (with its
// capacity clipped, so appending to it does not write into r.Message).
func Message(r Record) []byte {
	m := trimNewline(r.Message)
	if !prefixed(r) {
		return m[:len(m):len(m)]
	}
	out := appendPrefix(make([]byte, 0, len(r.Stage)+24+len(m)), r)
	if len(m) == 0 {
		return out[:len(out)-2] // "exit 2", not "exit 2: "
	}
	return append(out, m...)
}

// ANSI SGR sequences used by Omni when colour is on.
const (
	colorReset  = "\x1b[0m"
	colorOkay   = "\x1b[32m" // green
	colorFail   = "\x1b[31m" // red
	colorSkip   = "\x1b[35m" // magenta
	colorModule = "\x1b[36m" // cyan
	colorHost   = "\x1b[33m" // yellow
)

// isBracketed reports whether h is already written as "[...]" with no other
// ']' inside, so that Parse finds the closing bracket at the end.
func isBracketed(h string) bool {
	n := len(h)
	return n >= 2 && h[0] == '[' && h[n-1] == ']' && strings.IndexByte(h[1:n-1], ']') < 0
}

// appendHost appends the HOST field: bracketed when h contains ':' (an IPv6
// literal) or starts with '[', and kept as is when it is already bracketed.
func appendHost(dst []byte, h string) []byte {
	switch {
	case isBracketed(h):
		dst = append(dst, '[')
		dst = appendEscaped(dst, h[1:len(h)-1], ']')
		return append(dst, ']')
	case strings.IndexByte(h, ':') >= 0 || strings.HasPrefix(h, "["):
		dst = append(dst, '[')
		dst = appendEscaped(dst, h, ']')
		return append(dst, ']')
	default:
		return appendEscaped(dst, h, ':')
	}
}

// appendLine appends r's OMNI line, with ANSI colours on status, module and
// host when color is true.
func appendLine(dst []byte, r Record, color bool) []byte {
	if color {
		switch r.Status {
		case Okay:
			dst = append(dst, colorOkay...)
		case Skip:
			dst = append(dst, colorSkip...)
		default:
			dst = append(dst, colorFail...)
		}
	}
	dst = appendEscaped(dst, string(r.Status), ':')
	if color {
		dst = append(dst, colorReset...)
	}
	dst = append(dst, "::"+tag+":"...)
	if color {
		dst = append(dst, colorModule...)
	}
	dst = appendEscaped(dst, r.Module, ':')
	if color {
		dst = append(dst, colorReset...)
	}
	dst = append(dst, ':')
	if color {
		dst = append(dst, colorHost...)
	}
	dst = appendHost(dst, r.Host)
	if color {
		dst = append(dst, colorReset...)
	}
	dst = append(dst, ':')
	msg := trimNewline(r.Message)
	if prefixed(r) {
		if r.Stage == StageExit {
			// Only digits, '-', ' ', ':' and letters: nothing to escape.
			dst = appendPrefix(dst, r)
		} else {
			dst = appendEscaped(dst, r.Stage, 0)
			dst = append(dst, ": "...)
		}
		if len(msg) == 0 {
			dst = dst[:len(dst)-2] // "exit 2", not "exit 2: "
		}
	}
	dst = appendEscaped(dst, msg, 0)
	return append(dst, '\n')
}

// AppendLine appends r's OMNI line, including the trailing '\n' and without
// colours, to dst and returns the extended slice:
//
//	STATUS::dt:MODULE:HOST:MESSAGE\n
//
// MESSAGE is Escape(Message(r)). See the package documentation for how
// MODULE and HOST are written.
func AppendLine(dst []byte, r Record) []byte {
	return appendLine(dst, r, false)
}

// FormatLine returns r's OMNI line, including the trailing '\n'.
func FormatLine(r Record) string {
	return string(AppendLine(make([]byte, 0, 32+len(r.Module)+len(r.Host)+len(r.Stage)+len(r.Message)), r))
}

// maxQuoted is how much of a bad line a Parse error quotes.
const maxQuoted = 64

// parseError builds a Parse error that quotes (the start of) line.
func parseError(line, format string, args ...any) error {
	q := strconv.Quote(line)
	if len(line) > maxQuoted {
		q = strconv.Quote(line[:maxQuoted]) + "..."
	}
	return fmt.Errorf("parse omni line %s: %s", q, fmt.Sprintf(format, args...))
}

// Parse parses one OMNI line, with or without its trailing "\n" or "\r\n".
// It is the inverse of FormatLine as far as the line allows: the Record has
// Status, Module, Host and Message (the unescaped MESSAGE, including any
// "exit N: " or "stage: " prefix, which Parse cannot tell from output),
// Stage "" and ExitCode -1; Started and Duration are zero. A bracketed HOST
// loses its brackets: "[::1]" parses as "::1".
//
// The grammar: STATUS up to the first ':', which must be "okay" or "fail";
// ENCODING up to the next ':', which must be empty; the literal "dt"; MODULE
// up to the next ':'; HOST, which runs to the matching ']' when it starts
// with '[' (the ']' must be followed by ':') and otherwise to the next ':';
// MESSAGE, the rest of the line. MODULE, HOST and MESSAGE are unescaped
// with Unescape.
func Parse(line string) (Record, error) {
	orig := line
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if line == "" {
		return Record{}, parseError(orig, "empty line")
	}
	if strings.IndexByte(line, '\n') >= 0 {
		return Record{}, parseError(orig, "newline inside the line (more than one line?)")
	}

	status, rest, ok := strings.Cut(line, ":")
	if !ok {
		return Record{}, parseError(orig, "missing ':' after status")
	}
	if _, ok := ParseStatus(status); !ok {
		return Record{}, parseError(orig, "bad status %q (want %q, %q or %q)", status, Okay, Fail, Skip)
	}
	enc, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return Record{}, parseError(orig, "missing encoding field")
	}
	if enc != "" {
		return Record{}, parseError(orig, "unknown encoding %q (only the empty encoding is supported)", enc)
	}
	t, rest, ok := strings.Cut(rest, ":")
	if !ok || t != tag {
		return Record{}, parseError(orig, "missing %q tag", tag)
	}
	mod, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return Record{}, parseError(orig, "missing host field")
	}

	var host, msg string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Record{}, parseError(orig, "bracketed host has no closing ']'")
		}
		if end+1 >= len(rest) || rest[end+1] != ':' {
			return Record{}, parseError(orig, "bracketed host not followed by ':'")
		}
		host, msg = rest[1:end], rest[end+2:]
	} else {
		host, msg, ok = strings.Cut(rest, ":")
		if !ok {
			return Record{}, parseError(orig, "missing message field")
		}
	}

	r := Record{Status: Status(status), ExitCode: -1}
	var err error
	var b []byte
	if b, err = Unescape(mod); err != nil {
		return Record{}, parseError(orig, "module: %v", unwrapUnescape(err))
	}
	r.Module = string(b)
	if b, err = Unescape(host); err != nil {
		return Record{}, parseError(orig, "host: %v", unwrapUnescape(err))
	}
	r.Host = string(b)
	if r.Message, err = Unescape(msg); err != nil {
		return Record{}, parseError(orig, "message: %v", unwrapUnescape(err))
	}
	return r, nil
}

// unwrapUnescape strips Unescape's "unescape: " prefix for nesting in a
// Parse error.
func unwrapUnescape(err error) error {
	if s, ok := strings.CutPrefix(err.Error(), "unescape: "); ok {
		return errors.New(s)
	}
	return err
}
