package output

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"unicode/utf8"
)

// This file streams records whose message is Spilled: the OMNI line and
// the JSON object come out exactly as they would for the same message in
// memory, written piece by piece from the spool file.

// spilledLimit is how much of r's spilled message its OMNI line shows:
// all of it but one trailing newline (see Message).
func spilledLimit(r Record) int64 {
	n := r.Spilled.Len()
	if n > 0 && r.Spilled.lastByte() == '\n' {
		n--
	}
	return n
}

// appendSpilledHeader appends r's OMNI line up to its escaped output: the
// fields, and the stage prefix when there is output after it.
func appendSpilledHeader(dst []byte, r Record, color, more bool) []byte {
	hdr := r
	hdr.Message, hdr.Spilled = nil, nil
	dst = appendLine(dst, hdr, color) // with no message: "...:exit 2\n"
	dst = dst[:len(dst)-1]
	if more && prefixed(r) {
		dst = append(dst, ": "...)
	}
	return dst
}

// appendSpilledLine is AppendLine for a spilled record: the whole line in
// memory, for callers that asked for it.
func appendSpilledLine(dst []byte, r Record, color bool) []byte {
	limit := spilledLimit(r)
	dst = appendSpilledHeader(dst, r, color, limit > 0)
	_ = eachChunk(r, limit, func(p []byte) error {
		dst = appendEscaped(dst, p, 0)
		return nil
	})
	return append(dst, '\n')
}

// spilledMessage is Message for a spilled record, read into memory.
func spilledMessage(r Record) []byte {
	limit := spilledLimit(r)
	var out []byte
	if prefixed(r) {
		hdr := r
		hdr.Spilled = nil
		out = appendPrefix(nil, hdr)
		if limit == 0 {
			return out[:len(out)-2]
		}
	}
	out = append(out, make([]byte, 0, limit)...)
	_ = eachChunk(r, limit, func(p []byte) error {
		out = append(out, p...)
		return nil
	})
	return out
}

// flushAt is how full a writer's buffer gets before a spilled record's
// next piece is written out.
const flushAt = 32 << 10

// writeSpilled writes r's OMNI line in pieces; the caller holds o.mu, so
// no other record comes between them.
func (o *Omni) writeSpilled(r Record) error {
	limit := spilledLimit(r)
	o.buf = appendSpilledHeader(o.buf[:0], r, o.color, limit > 0)
	err := eachChunk(r, limit, func(p []byte) error {
		o.buf = appendEscaped(o.buf, p, 0)
		if len(o.buf) < flushAt {
			return nil
		}
		err := writeAll(o.w, o.buf)
		o.buf = o.buf[:0]
		return err
	})
	if err == nil {
		o.buf = append(o.buf, '\n')
		err = writeAll(o.w, o.buf)
	}
	if cap(o.buf) > maxKeptBuf {
		o.buf = nil
	}
	return err
}

// outputField is where the message goes in the JSON object of a record
// encoded with an empty output. Strings inside the object have their
// quotes escaped, so the first match is the field.
var outputField = []byte(`,"output":""`)

// writeSpilled writes r's JSON object in pieces; the caller holds j.mu.
// "output" is streamed through appendJSONChars and, when the message is
// not valid UTF-8, "output_b64" through a base64 encoder, reading the
// message a second time.
func (j *JSON) writeSpilled(r Record, v *jsonRecord) error {
	j.buf.Reset()
	if err := j.enc.Encode(v); err != nil {
		return err
	}
	line := j.buf.Bytes()
	at := bytes.Index(line, outputField)
	if at < 0 {
		return fmt.Errorf("json: no output field in %q", line)
	}
	head := escapeC1(line[:at+len(outputField)-1])
	tail := bytes.Clone(line[at+len(outputField)-1:]) // `","started":...}` + "\n" after the quote
	w := &chunkWriter{w: j.w}
	w.write(head)
	valid := true
	err := eachChunk(r, r.Spilled.Len(), func(p []byte) error {
		if valid && !utf8.Valid(p) {
			valid = false
		}
		w.buf = appendJSONChars(w.buf, p)
		return w.flushIfFull()
	})
	if err == nil && !valid {
		w.write([]byte(`","output_b64":"`))
		enc := base64.NewEncoder(base64.StdEncoding, w)
		err = eachChunk(r, r.Spilled.Len(), func(p []byte) error {
			_, err := enc.Write(p)
			return err
		})
		if err == nil {
			err = enc.Close()
		}
	}
	if err != nil {
		return err
	}
	w.write(tail)
	return w.flush()
}

// chunkWriter gathers small writes and passes them on in large pieces.
type chunkWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func (c *chunkWriter) write(p []byte) { c.buf = append(c.buf, p...) }

// Write implements io.Writer, for the base64 encoder.
func (c *chunkWriter) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	return len(p), c.flushIfFull()
}

func (c *chunkWriter) flushIfFull() error {
	if len(c.buf) < flushAt {
		return c.err
	}
	return c.flush()
}

func (c *chunkWriter) flush() error {
	if c.err == nil && len(c.buf) > 0 {
		c.err = writeAll(c.w, c.buf)
	}
	c.buf = c.buf[:0]
	return c.err
}
