package output

import (
	"bytes"
	"io"
)

// Spilled is a record message too large to keep in memory: Head, then the
// first N bytes of Spool, then Tail. Head and Tail are the few words a
// module puts around a command's output ("killed by signal TERM\n",
// " (hint: ...)"); the output itself stays in the Spool's file.
//
// The writers stream such a message from the file, so a record prints
// complete and lossless whatever its size, in as little memory as a small
// one. Record.Retain and Record.Release count who still needs the file.
type Spilled struct {
	Head  []byte
	Spool *Spool
	N     int64
	Tail  []byte
}

// Len is the message's length in bytes.
func (s *Spilled) Len() int64 { return int64(len(s.Head)) + s.N + int64(len(s.Tail)) }

// Reader returns a reader of the whole message.
func (s *Spilled) Reader() io.Reader {
	return io.MultiReader(bytes.NewReader(s.Head), io.NewSectionReader(s.Spool, 0, s.N), bytes.NewReader(s.Tail))
}

// lastByte returns the message's last byte (0 when it is empty).
func (s *Spilled) lastByte() byte {
	switch {
	case len(s.Tail) > 0:
		return s.Tail[len(s.Tail)-1]
	case s.N > 0:
		var b [1]byte
		if _, err := s.Spool.ReadAt(b[:], s.N-1); err == nil {
			return b[0]
		}
		return 0
	case len(s.Head) > 0:
		return s.Head[len(s.Head)-1]
	}
	return 0
}

// Retain keeps r's spilled message available after Write returns, for a
// writer that holds records (a view that prints at the end). Each Retain
// needs one Release. Records without a Spilled message need neither.
func (r Record) Retain() {
	if r.Spilled != nil && r.Spilled.Spool != nil {
		r.Spilled.Spool.Retain()
	}
}

// Release says r's spilled message is no longer needed by its holder; the
// file is closed when nobody needs it.
func (r Record) Release() {
	if r.Spilled != nil && r.Spilled.Spool != nil {
		r.Spilled.Spool.Release()
	}
}

// MessageLen is the length of r's message, in memory or spilled.
func (r Record) MessageLen() int64 {
	if r.Spilled != nil {
		return r.Spilled.Len()
	}
	return int64(len(r.Message))
}

// chunkSize is how much of a spilled message the writers handle at once.
// Tests make it small (at least 4, the longest UTF-8 sequence) to cross
// every boundary.
var chunkSize = 32 << 10

// eachChunk calls fn with the bytes of r's message up to limit, in order,
// in pieces cut where no UTF-8 sequence spans the cut (see safeCut), so
// that escaping the pieces one by one gives the same bytes as escaping the
// whole. The slice passed to fn is reused.
func eachChunk(r Record, limit int64, fn func([]byte) error) error {
	if r.Spilled == nil {
		m := r.Message
		if int64(len(m)) > limit {
			m = m[:limit]
		}
		return fn(m)
	}
	src := io.LimitReader(r.Spilled.Reader(), limit)
	buf := make([]byte, chunkSize+4)
	have := 0
	for {
		n, err := io.ReadFull(src, buf[have:have+chunkSize])
		have += n
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if have > 0 {
				return fn(buf[:have])
			}
			return nil
		}
		if err != nil {
			return err
		}
		cut := safeCut(buf[:have])
		if err := fn(buf[:cut]); err != nil {
			return err
		}
		have = copy(buf, buf[cut:have])
	}
}

// safeCut returns where to cut b so that no valid UTF-8 sequence of the
// whole stream spans the cut, whatever follows b: after an ASCII byte, or
// before a byte that is not a continuation byte, looking at the last three
// bytes. When those are all continuation bytes, any sequence they belong
// to ends inside b, so b is cut at its end. The result is never 0 for a
// non-empty b.
func safeCut(b []byte) int {
	n := len(b)
	if n == 0 || b[n-1] < 0x80 {
		return n
	}
	for c := n - 1; c >= n-3 && c > 0; c-- {
		if b[c] < 0x80 || b[c] >= 0xc0 {
			return c
		}
	}
	return n
}
