package output

import (
	"bytes"
	"crypto/sha256"
	"io"
	"strconv"
)

// This file holds what every view for people shares: how a record's
// message is shown to a person, the colours, and the order of statuses.

// statusRank is s's position in Statuses (failures first, then skip,
// then okay), the order views and summaries list statuses in; unknown
// statuses go last.
func statusRank(s Status) int {
	for i, o := range Statuses {
		if o == s {
			return i
		}
	}
	return len(Statuses)
}

// people is the printing half of a view: a writer, colours, host folding,
// and a buffer that goes out in pieces of flushAt bytes.
type people struct {
	w    io.Writer
	opts ViewOptions
	buf  []byte
	err  error
}

// flush writes out the buffer; the first error sticks.
func (p *people) flush() error {
	if p.err == nil && len(p.buf) > 0 {
		p.err = writeAll(p.w, p.buf)
	}
	p.buf = p.buf[:0]
	if cap(p.buf) > maxKeptBuf {
		p.buf = nil
	}
	return p.err
}

func (p *people) flushIfFull() error {
	if len(p.buf) < flushAt {
		return p.err
	}
	return p.flush()
}

// paint appends s in colour c when colours are on.
func (p *people) paint(c, s string) {
	if p.opts.Color {
		p.buf = append(p.buf, c...)
		p.buf = append(p.buf, s...)
		p.buf = append(p.buf, colorReset...)
		return
	}
	p.buf = append(p.buf, s...)
}

// status appends the status word, coloured.
func (p *people) status(s Status) { p.paint(statusColor(s), string(s)) }

// host appends a host name (or folded set) escaped like the OMNI HOST field
// and coloured.
func (p *people) host(h string) {
	p.paint(colorHost, string(appendEscaped(nil, h, 0)))
}

// fold writes a host set with the caller's folding, or joins it.
func (p *people) fold(names []string) string {
	if p.opts.Fold != nil {
		return p.opts.Fold(names)
	}
	var b []byte
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, n...)
	}
	return string(b)
}

// text appends r's message as a person reads it, Message(r) with its stage
// prefix: lines after the first start with indent, every line ends with
// '\n', and control bytes other than newline and tab are escaped exactly
// as in the OMNI line, so remote output cannot drive the terminal. A
// backslash is shown as itself. A spilled message is streamed.
func (p *people) text(r Record, indent string) error {
	err := eachText(r, func(piece []byte) error {
		for {
			i := bytes.IndexByte(piece, '\n')
			if i < 0 {
				p.buf = appendForPeople(p.buf, piece)
				return p.flushIfFull()
			}
			p.buf = appendForPeople(p.buf, piece[:i])
			p.buf = append(p.buf, '\n')
			p.buf = append(p.buf, indent...)
			piece = piece[i+1:]
			if err := p.flushIfFull(); err != nil {
				return err
			}
		}
	})
	p.buf = append(p.buf, '\n')
	if err != nil && p.err == nil {
		p.err = err
	}
	return err
}

// appendForPeople appends b (without newlines) escaped by the OMNI rules,
// except that a backslash stays a backslash: cutting at a backslash, an
// ASCII byte, changes nothing in how the rest is escaped.
func appendForPeople(dst, b []byte) []byte {
	for {
		i := bytes.IndexByte(b, '\\')
		if i < 0 {
			return appendEscaped(dst, b, 0)
		}
		dst = appendEscaped(dst, b[:i], 0)
		dst = append(dst, '\\')
		b = b[i+1:]
	}
}

// eachText calls fn with Message(r) in pieces, without reading a spilled
// message into memory.
func eachText(r Record, fn func([]byte) error) error {
	limit := textLimit(r)
	if prefixed(r) {
		hdr := r
		hdr.Message, hdr.Spilled = nil, nil
		pre := appendPrefix(nil, hdr)
		if limit == 0 {
			pre = pre[:len(pre)-2]
		}
		if err := fn(pre); err != nil {
			return err
		}
	}
	if limit == 0 {
		return nil
	}
	return eachChunk(r, limit, fn)
}

// textLimit is how much of r's message Message(r) shows: all but one
// trailing newline.
func textLimit(r Record) int64 {
	if r.Spilled != nil {
		return spilledLimit(r)
	}
	return int64(len(trimNewline(r.Message)))
}

// textKey identifies what a person sees of r apart from its host: status,
// module and Message(r). Two records with the same key print the same.
func textKey(r Record) ([32]byte, error) {
	h := sha256.New()
	h.Write([]byte(r.Status))
	h.Write([]byte{0})
	h.Write([]byte(r.Module))
	h.Write([]byte{0})
	err := eachText(r, func(p []byte) error {
		h.Write(p)
		return nil
	})
	var k [32]byte
	h.Sum(k[:0])
	return k, err
}

// plural writes "1 host", "3 hosts".
func plural(n int, word string) string {
	s := strconv.Itoa(n) + " " + word
	if n != 1 {
		s += "s"
	}
	return s
}

// countHosts is how many distinct names there are.
func countHosts(names []string) int {
	seen := make(map[string]struct{}, len(names))
	for _, n := range names {
		seen[n] = struct{}{}
	}
	return len(seen)
}
