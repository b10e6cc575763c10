package output

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// A saved line is read into memory whole only up to maxLine bytes, the
// output a live run keeps in memory per host (SpoolLimit). Past that, an
// OMNI line's message is unescaped as it is read into a Spool (spilled to
// a private temporary file), so a record of any size is shown in bounded
// memory, as it was live, and a view that holds many records (host,
// status, gather) holds no more of each than a live run does; a JSON line
// is read up to maxJSONLine and skipped past it; anything else is skipped
// as soon as it is known not to be a record, without keeping it.
const (
	maxLine     = SpoolLimit
	maxJSONLine = 32 << 20
)

// readUpTo reads one line from br, up to max bytes. complete says the
// line ended (a newline, or the end of the input) within them; else the
// line goes on in br. The slice is the caller's.
func readUpTo(br *bufio.Reader, max int) (line []byte, complete bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		switch {
		case err == nil:
			return line, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(line) >= max {
				return line, false, nil
			}
		case err == io.EOF:
			return line, true, io.EOF
		default:
			return line, false, err
		}
	}
}

// skipLine discards the rest of the current line. It returns io.EOF when
// the input ends.
func skipLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// readLong reads a line whose first maxLine bytes are head and whose rest
// is in br. It returns the record, or bad's error for the line (the rest
// of the line then skipped), or a read error. An OMNI record's message is
// spilled: the caller releases it.
func readLong(br *bufio.Reader, head []byte) (rec Record, bad, err error) {
	if head[0] == '{' {
		line, complete, err := readUpTo(br, maxJSONLine-len(head))
		if err != nil && err != io.EOF {
			return Record{}, nil, err
		}
		if !complete {
			return Record{}, fmt.Errorf("json record over %d MiB: not read (dt view reads records of any size from dt's lines)", maxJSONLine>>20), skipLine(br)
		}
		head = append(head, line...)
		text := string(bytes.TrimRight(head, "\r\n"))
		rec, perr := readRecord(text)
		return rec, perr, err
	}
	start, ok := omniMessageStart(head)
	if !ok {
		// No record: Parse says why (its message quotes the start).
		_, perr := Parse(string(head))
		return Record{}, perr, skipLine(br)
	}
	hdr, perr := Parse(string(head[:start]))
	if perr != nil {
		return Record{}, perr, skipLine(br)
	}
	return spillMessage(br, hdr, head[start:])
}

// omniMessageStart returns where the MESSAGE of an OMNI line starts: after
// STATUS:ENC:TAG:MODULE:HOST: (HOST may be bracketed).
func omniMessageStart(line []byte) (int, bool) {
	i := 0
	for range 4 {
		j := bytes.IndexByte(line[i:], ':')
		if j < 0 {
			return 0, false
		}
		i += j + 1
	}
	if i < len(line) && line[i] == '[' {
		j := bytes.IndexByte(line[i:], ']')
		if j < 0 || i+j+1 >= len(line) || line[i+j+1] != ':' {
			return 0, false
		}
		return i + j + 2, true
	}
	j := bytes.IndexByte(line[i:], ':')
	if j < 0 {
		return 0, false
	}
	return i + j + 1, true
}

// spillMessage unescapes an OMNI message, whose start is first and whose
// rest is in br up to the newline, into a Spool, and returns hdr with it
// as readRecord would: the stage read from a failure's prefix, and the
// newline the line dropped. A bad message skips the rest of its line.
func spillMessage(br *bufio.Reader, hdr Record, first []byte) (rec Record, bad, err error) {
	sp := NewSpool(SpoolLimit)
	var (
		u     unescaper
		out   []byte
		carry []byte
		began bool
		end   bool // the line's end was read
	)
	fail := func(b error) (Record, error, error) {
		sp.Release()
		if !end {
			return Record{}, b, skipLine(br)
		}
		return Record{}, b, nil
	}
	rec = hdr
	rec.Stage, rec.ExitCode = "", 0
	chunk := first
	for {
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk, end = bytes.TrimSuffix(chunk[:i], []byte{'\r'}), true
		}
		carry = append(carry, chunk...)
		var uerr error
		out, carry, uerr = u.unescape(out[:0], carry, end)
		if uerr != nil {
			return fail(fmt.Errorf("message: %v", uerr))
		}
		if !began {
			began = true
			if rec.Status == Fail {
				rec.ExitCode = -1
				rec.Stage, rec.ExitCode, out = stageFromPrefix(out)
			}
		}
		sp.Write(out)
		if end {
			break
		}
		var rerr error
		chunk, rerr = br.ReadSlice('\n')
		if rerr == io.EOF {
			if len(chunk) == 0 || chunk[len(chunk)-1] != '\n' {
				chunk = append(bytes.Clone(chunk), '\n')
			}
		} else if rerr != nil && !errors.Is(rerr, bufio.ErrBufferFull) {
			sp.Release()
			return Record{}, nil, rerr
		}
	}
	sp.Seal()
	if serr := sp.Err(); serr != nil {
		return fail(serr)
	}
	rec.Message = nil
	rec.Spilled = &Spilled{Spool: sp, N: sp.Len(), Tail: []byte{'\n'}}
	return rec, nil, nil
}

// unescaper undoes Escape piece by piece: an escape cut by the end of a
// piece is carried to the next.
type unescaper struct {
	off int64 // bytes of the message before the current piece
}

// unescape appends src unescaped to dst, and returns what it could not
// finish yet (an escape cut short) unless final.
func (u *unescaper) unescape(dst, src []byte, final bool) (out, rest []byte, err error) {
	i := 0
	for i < len(src) {
		j := bytes.IndexByte(src[i:], '\\')
		if j < 0 {
			dst = append(dst, src[i:]...)
			i = len(src)
			break
		}
		dst = append(dst, src[i:i+j]...)
		i += j
		need := 2
		if i+1 < len(src) && src[i+1] == 'x' {
			need = 4
		}
		if i+need > len(src) {
			if !final {
				break
			}
			return nil, nil, fmt.Errorf("truncated escape %q at offset %d", src[i:], u.off+int64(i))
		}
		switch src[i+1] {
		case '\\':
			dst = append(dst, '\\')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 'x':
			hi, ok1 := unhex(src[i+2])
			lo, ok2 := unhex(src[i+3])
			if !ok1 || !ok2 {
				return nil, nil, fmt.Errorf("bad hex escape %q at offset %d", src[i:i+4], u.off+int64(i))
			}
			dst = append(dst, hi<<4|lo)
		default:
			return nil, nil, fmt.Errorf("unknown escape %q at offset %d", src[i:i+2], u.off+int64(i))
		}
		i += need
	}
	u.off += int64(i)
	rest = append(src[:0:0], src[i:]...)
	return dst, rest, nil
}
