package output

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
	"unicode/utf8"
)

// jsonRecord is the JSON form of a Record; field order is output order.
type jsonRecord struct {
	Host       string  `json:"host"`
	Module     string  `json:"module"`
	Status     Status  `json:"status"`
	Stage      string  `json:"stage"`
	ExitCode   int     `json:"exit_code"`
	Output     string  `json:"output"`
	OutputB64  []byte  `json:"output_b64,omitempty"` // encoded as base64
	Started    string  `json:"started"`
	DurationMS float64 `json:"duration_ms"`
}

// escapeC1 rewrites the C1 control characters (U+0080-U+009F) in an
// encoded JSON line as \u0080-\u009f, which encoding/json leaves raw:
// a line printed on a terminal then cannot drive it. They can only occur
// inside strings (JSON's own syntax is ASCII), where the escape means the
// same character.
func escapeC1(line []byte) []byte {
	if bytes.IndexByte(line, 0xc2) < 0 {
		return line
	}
	var out []byte
	start := 0
	for i := 0; i+1 < len(line); i++ {
		// 0xc2 is never a continuation byte: this is a character.
		if c := line[i+1]; line[i] == 0xc2 && c >= 0x80 && c <= 0x9f {
			out = append(out, line[start:i]...)
			out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			start = i + 2
			i++
		}
	}
	if out == nil {
		return line
	}
	return append(out, line[start:]...)
}

// JSON is a Writer that prints each record as one JSON object on its own
// line ("JSON lines"), for example
//
//	{"host":"web1","module":"ssh","status":"okay","stage":"","exit_code":0,"output":"up 3 days\n","started":"2009-11-16T22:54:04.5Z","duration_ms":12.5}
//
// The fields are, in this order:
//
//   - host: Record.Host as given (no brackets are added).
//   - module: Record.Module.
//   - status: "okay", "fail" or "skip".
//   - stage: Record.Stage; "" when the record succeeded.
//   - exit_code: Record.ExitCode; -1 when no command finished.
//   - output: Record.Message as a string, raw: no "exit N: " or stage
//     prefix (stage and exit_code carry that), trailing newline kept.
//     Invalid UTF-8 in it is replaced with U+FFFD. Control characters,
//     C1 (U+0080-U+009F) included, are written as \u escapes.
//   - output_b64: present only when Message is not valid UTF-8; the exact
//     bytes in standard base64, so nothing is lost.
//   - started: Record.Started in UTC, RFC 3339 with nanoseconds.
//   - duration_ms: Record.Duration in milliseconds, fractional (12.5).
//
// HTML characters are not escaped. JSON is safe for concurrent use: each
// line is written with a single Write call under a mutex.
type JSON struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

// NewJSON returns a JSON writer writing to w.
func NewJSON(w io.Writer) *JSON {
	j := &JSON{w: w}
	j.enc = json.NewEncoder(&j.buf)
	j.enc.SetEscapeHTML(false)
	return j
}

// Write writes r as one JSON line. It returns the underlying writer's
// error, or io.ErrShortWrite if it wrote less than the whole line without
// one.
func (j *JSON) Write(r Record) error {
	v := jsonRecord{
		Host:       r.Host,
		Module:     r.Module,
		Status:     r.Status,
		Stage:      r.Stage,
		ExitCode:   r.ExitCode,
		Output:     string(r.Message),
		Started:    r.Started.UTC().Format(time.RFC3339Nano),
		DurationMS: float64(r.Duration) / float64(time.Millisecond),
	}
	if !utf8.Valid(r.Message) {
		v.OutputB64 = r.Message
	}

	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf.Reset()
	if err := j.enc.Encode(&v); err != nil { // Encode adds the '\n'
		return err
	}
	err := writeAll(j.w, escapeC1(j.buf.Bytes()))
	if j.buf.Cap() > maxKeptBuf {
		j.buf = bytes.Buffer{} // j.enc keeps pointing at j.buf
	}
	return err
}
