package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ReadRecords reads saved dt output, OMNI lines or JSON lines (--json),
// told apart line by line, and calls fn with each record in order. A line
// that is neither goes to bad with its 1-based number and is skipped;
// blank lines are skipped. It returns fn's first error or a read error.
//
// The records are the ones a view needs to print what it printed live, so
// that Message(r) is exactly what the run's view showed:
//
//   - From a JSON line, every field as written; the message from
//     output_b64 when present, else output. An okay record with exit_code
//     -1 is a --stream line (Line).
//   - From an OMNI line, Parse's record, with the stage read back from the
//     MESSAGE's prefix ("exit N: ", "connect: ", ...; a failure without one
//     gets StageModule) and Message the rest of MESSAGE plus the newline
//     the line format dropped.
//
// Memory stays bounded whatever the input: a line over 64 KiB is not held
// (see maxLine); an OMNI record that long comes with its message spilled
// (Record.Spilled), which ReadRecords releases once fn returns: fn
// Retains it to keep it.
func ReadRecords(r io.Reader, fn func(Record) error, bad func(line int, err error)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, complete, err := readUpTo(br, maxLine)
		if !complete && err == nil {
			rec, berr, rerr := readLong(br, line)
			switch {
			case berr != nil:
				bad(n, berr)
			case rerr == nil || rerr == io.EOF:
				ferr := fn(rec)
				rec.Release()
				if ferr != nil {
					return ferr
				}
			}
			if rerr == io.EOF {
				return nil
			}
			if rerr != nil {
				return rerr
			}
			continue
		}
		if len(line) > 0 {
			text := strings.TrimRight(string(line), "\r\n")
			if strings.TrimSpace(text) != "" {
				rec, perr := readRecord(text)
				if perr != nil {
					bad(n, perr)
				} else if ferr := fn(rec); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readRecord reads one non-blank line.
func readRecord(line string) (Record, error) {
	if strings.HasPrefix(line, "{") {
		return parseJSONRecord(line)
	}
	r, err := Parse(line)
	if err != nil {
		return Record{}, err
	}
	r.Stage, r.ExitCode = "", 0
	if r.Status == Fail {
		r.ExitCode = -1
		r.Stage, r.ExitCode, r.Message = stageFromPrefix(r.Message)
	}
	r.Message = append(r.Message, '\n')
	return r, nil
}

// stageFromPrefix splits a failure's MESSAGE into the stage its prefix
// names and the rest: "exit 2: x" is StageExit, 2, "x"; "exit: killed by
// signal TERM" StageExit, -1; "exit 2" StageExit, 2, ""; "connect: x"
// StageConnect. Anything else is StageModule with the whole message.
func stageFromPrefix(m []byte) (stage string, exit int, rest []byte) {
	head, tail, colon := bytes.Cut(m, []byte(": "))
	if !colon {
		head, tail = m, nil
	}
	h := string(head)
	switch {
	case h == "exit" && colon:
		return StageExit, -1, tail
	case strings.HasPrefix(h, "exit "):
		if n, err := strconv.Atoi(h[len("exit "):]); err == nil && n >= 0 && strconv.Itoa(n) == h[len("exit "):] {
			return StageExit, n, tail
		}
	case colon:
		switch h {
		case StageResolve, StageConnect, StageHandshake, StageHostKey, StageAuth, StageSession, StageTimeout, StageInterrupt:
			return h, -1, tail
		}
	}
	return StageModule, -1, m
}

// jsonIn is a JSON record as read back; pointers tell missing fields.
type jsonIn struct {
	Host       *string  `json:"host"`
	Module     *string  `json:"module"`
	Status     *string  `json:"status"`
	Stage      string   `json:"stage"`
	ExitCode   *int     `json:"exit_code"`
	Output     string   `json:"output"`
	OutputB64  []byte   `json:"output_b64"`
	Started    string   `json:"started"`
	DurationMS *float64 `json:"duration_ms"`
}

// parseJSONRecord reads one --json line.
func parseJSONRecord(line string) (Record, error) {
	var in jsonIn
	dec := json.NewDecoder(strings.NewReader(line))
	if err := dec.Decode(&in); err != nil {
		return Record{}, fmt.Errorf("json record: %v", err)
	}
	if dec.More() {
		return Record{}, errors.New("json record: more than one value on the line")
	}
	switch {
	case in.Host == nil:
		return Record{}, errors.New(`json record: no "host"`)
	case in.Module == nil:
		return Record{}, errors.New(`json record: no "module"`)
	case in.Status == nil:
		return Record{}, errors.New(`json record: no "status"`)
	case in.ExitCode == nil:
		return Record{}, errors.New(`json record: no "exit_code"`)
	}
	st, ok := ParseStatus(*in.Status)
	if !ok {
		return Record{}, fmt.Errorf("json record: bad status %q", *in.Status)
	}
	r := Record{Status: st, Module: *in.Module, Host: *in.Host, Stage: in.Stage, ExitCode: *in.ExitCode,
		Message: []byte(in.Output)}
	if in.OutputB64 != nil {
		r.Message = in.OutputB64
	}
	if in.Started != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Started)
		if err != nil {
			return Record{}, fmt.Errorf("json record: started: %v", err)
		}
		r.Started = t
	}
	if in.DurationMS != nil {
		r.Duration = time.Duration(*in.DurationMS * float64(time.Millisecond))
	}
	r.Line = r.Status == Okay && r.ExitCode < 0 && r.Stage == ""
	return r, nil
}
