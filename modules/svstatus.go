package modules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SVStatus is the state of one runit service as runit's "sv status" reports
// it, for example "run: web: (pid 7536) 6s, normally down; run: log: (pid
// 7535) 6s".
type SVStatus struct {
	// Name is the service as sv printed it: the argument it was given.
	Name string
	// State is "run", "down" or "finish" (./finish is running).
	State string
	// PID is the process of ./run (or ./finish); 0 when down.
	PID int
	// Uptime is how long the service has been in State, to the second.
	Uptime time.Duration
	// Normally is "up" or "down": down when the service directory has a
	// ./down file, so runsv does not start it by itself.
	Normally string
	// Want is "up" or "down" when sv reports that the service is not yet
	// in the state it was asked for, else "".
	Want string
	// Paused: the service was sent STOP (sv pause).
	Paused bool
	// GotTERM: the service was sent TERM and has not stopped yet.
	GotTERM bool
	// Log is the appendant log service (NAME/log), if sv reported one.
	Log *SVStatus
}

// Running reports whether the service's ./run process is up.
func (s SVStatus) Running() bool { return s.State == "run" }

// Fields formats the state the way the runit module prints it, without the
// name:
//
//	STATE [pid=N] uptime=Ns normally=up|down [want=up|down] [paused=yes] [got=TERM] [; log: STATE ...]
//
// pid is present exactly when STATE is run or finish; the optional keys
// appear only when sv reports them, always in this order.
func (s SVStatus) Fields() string {
	var b strings.Builder
	b.WriteString(s.State)
	if s.State != "down" {
		fmt.Fprintf(&b, " pid=%d", s.PID)
	}
	fmt.Fprintf(&b, " uptime=%ds normally=%s", int64(s.Uptime/time.Second), s.Normally)
	if s.Want != "" {
		b.WriteString(" want=" + s.Want)
	}
	if s.Paused {
		b.WriteString(" paused=yes")
	}
	if s.GotTERM {
		b.WriteString(" got=TERM")
	}
	if s.Log != nil {
		b.WriteString("; log: " + s.Log.Fields())
	}
	return b.String()
}

// SVProblem classifies an sv status line that reports a problem instead of
// a state.
type SVProblem int

// The problems sv reports.
const (
	// SVOther is any other problem; SVError.Msg has sv's words.
	SVOther SVProblem = iota
	// SVNoService: "unable to change to service directory: file does not
	// exist"; the service (or the service directory) does not exist.
	SVNoService
	// SVNotSupervised: "runsv not running" or "unable to open
	// supervise/ok: file does not exist"; no runsv supervises the service.
	SVNotSupervised
	// SVDenied: sv could not read or control the service ("access
	// denied"); runsv runs as another user.
	SVDenied
)

// SVError is an sv status line of the form "fail: NAME: MSG" or "warning:
// NAME: MSG".
type SVError struct {
	Name    string
	Problem SVProblem
	Msg     string // sv's text after the name
}

func (e *SVError) Error() string { return e.Name + ": " + e.Msg }

// ParseSVStatus parses one line printed by "sv status NAME" (runit 2.1):
//
//	run: NAME: (pid 7536) 6s
//	down: NAME: 6s, normally up, want up
//	finish: NAME: (pid 80) 2s, normally down
//	run: NAME: (pid 7) 5s, paused; down: log: 3s, normally up
//
// A line reporting a problem ("fail: NAME: ..." or "warning: NAME: ...")
// gives an *SVError; anything else an error saying the line is not sv's.
// A name that itself contains ": " is split at the first place where the
// rest parses.
func ParseSVStatus(line string) (SVStatus, error) {
	return parseSVLine(strings.TrimSuffix(line, "\n"), "")
}

// parseSVStatusOf parses the status line of the service it was given as
// name, which may contain anything (": ", "; ", newlines).
func parseSVStatusOf(line, name string) (SVStatus, error) {
	return parseSVLine(strings.TrimSuffix(line, "\n"), name)
}

// svRest is what follows "STATE: NAME: " in a status line.
var svRest = regexp.MustCompile(`^(?:\(pid (\d+)\) )?(\d+)s((?:, (?:normally up|normally down|want up|want down|paused|got TERM))*)(?:; (.*))?$`)

func parseSVLine(line, name string) (SVStatus, error) {
	kind, rest, ok := strings.Cut(line, ": ")
	if !ok {
		return SVStatus{}, badSVLine(line)
	}
	switch kind {
	case "fail", "warning":
		n, msg, ok := splitSVError(rest, name)
		if !ok {
			return SVStatus{}, badSVLine(line)
		}
		return SVStatus{}, &SVError{Name: n, Problem: svProblem(msg), Msg: msg}
	case "run", "down", "finish":
	default:
		return SVStatus{}, badSVLine(line)
	}
	if name != "" {
		r, ok := strings.CutPrefix(rest, name+": ")
		if !ok {
			return SVStatus{}, badSVLine(line)
		}
		s, ok := parseSVState(kind, name, r)
		if !ok {
			return SVStatus{}, badSVLine(line)
		}
		return s, nil
	}
	for i := 0; ; {
		j := strings.Index(rest[i:], ": ")
		if j < 0 {
			return SVStatus{}, badSVLine(line)
		}
		i += j
		if s, ok := parseSVState(kind, rest[:i], rest[i+2:]); ok {
			return s, nil
		}
		i += 2
	}
}

// parseSVState parses rest, the text after "STATE: NAME: ".
func parseSVState(state, name, rest string) (SVStatus, bool) {
	m := svRest.FindStringSubmatch(rest)
	if m == nil || (m[1] == "") != (state == "down") {
		return SVStatus{}, false
	}
	s := SVStatus{Name: name, State: state}
	if m[1] != "" {
		pid, err := strconv.Atoi(m[1])
		if err != nil {
			return SVStatus{}, false
		}
		s.PID = pid
	}
	secs, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil || secs > int64(1<<63-1)/int64(time.Second) {
		return SVStatus{}, false
	}
	s.Uptime = time.Duration(secs) * time.Second
	// sv mentions "normally" only when it differs from the state.
	s.Normally = "up"
	if state == "down" {
		s.Normally = "down"
	}
	for _, flag := range strings.Split(m[3], ", ")[1:] {
		switch flag {
		case "normally up":
			s.Normally = "up"
		case "normally down":
			s.Normally = "down"
		case "want up":
			s.Want = "up"
		case "want down":
			s.Want = "down"
		case "paused":
			s.Paused = true
		case "got TERM":
			s.GotTERM = true
		}
	}
	if len(m) > 4 && m[4] != "" {
		log, err := parseSVLine(m[4], "log")
		if err != nil {
			return SVStatus{}, false
		}
		s.Log = &log
	}
	return s, true
}

// svMessages start the texts sv prints after "fail: NAME: " or "warning:
// NAME: "; they locate the end of a name that contains ": ".
var svMessages = []string{"unable to ", "runsv not running"}

func splitSVError(rest, name string) (n, msg string, ok bool) {
	if name != "" {
		msg, ok = strings.CutPrefix(rest, name+": ")
		return name, msg, ok
	}
	best := -1
	for _, m := range svMessages {
		if i := strings.Index(rest, ": "+m); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	if best < 0 {
		best = strings.Index(rest, ": ")
	}
	if best < 0 {
		return "", "", false
	}
	return rest[:best], rest[best+2:], true
}

func svProblem(msg string) SVProblem {
	switch {
	case msg == "unable to change to service directory: file does not exist":
		return SVNoService
	case msg == "runsv not running", msg == "unable to open supervise/ok: file does not exist":
		return SVNotSupervised
	case strings.HasSuffix(msg, ": access denied"):
		return SVDenied
	}
	return SVOther
}

func badSVLine(line string) error {
	return fmt.Errorf("not an sv status line: %q", line)
}
