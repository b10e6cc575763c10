package mux

import (
	"errors"
	"io"
)

// maxMessage bounds one JSON value of a dial conversation (a question, an
// answer). Real ones are small (a host key, a few public keys, a
// signature); a peer sending more is cut off rather than making the other
// side hold all of it.
const maxMessage = 1 << 20

// errTooLarge: a message of the conversation is over maxMessage.
var errTooLarge = errors.New("message over 1 MiB: conversation ended")

// limitReader reads from r at most maxMessage bytes after each reset: a
// json.Decoder over it holds at most that much for one value.
type limitReader struct {
	r    io.Reader
	left int
}

func newLimitReader(r io.Reader) *limitReader { return &limitReader{r: r, left: maxMessage} }

// reset allows maxMessage more bytes: call it before each value is read.
func (l *limitReader) reset() { l.left = maxMessage }

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errTooLarge
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	return n, err
}
