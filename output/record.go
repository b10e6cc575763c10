package output

import (
	"strings"
	"time"
)

// Status is the outcome of one record: Okay or Fail.
type Status string

// The statuses a record can carry. A new one goes here and in statuses.
const (
	Okay Status = "okay"
	Fail Status = "fail"
)

// statuses lists every Status, in the order messages name them. It is the
// one list Parse, ParseStatus and StatusChoices (and so out:) check
// against.
var statuses = []Status{Okay, Fail}

// ParseStatus returns s as a Status, and false when s is not one (the
// comparison is exact: "OKAY" is not a status).
func ParseStatus(s string) (Status, bool) {
	for _, st := range statuses {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// StatusChoices lists the statuses for a message, each quoted by quote:
// with quote = strconv.Quote, `"okay" or "fail"`.
func StatusChoices(quote func(string) string) string {
	var b strings.Builder
	for i, st := range statuses {
		switch {
		case i == 0:
		case i == len(statuses)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(quote(string(st)))
	}
	return b.String()
}

// Stage names where a failure happened. A record for a command that ran to
// completion has Stage "exit" when it failed and "" when it succeeded.
const (
	StageResolve   = "resolve"   // ssh_config / inventory resolution
	StageConnect   = "connect"   // TCP connect, including jump hosts
	StageHandshake = "handshake" // SSH protocol handshake
	StageHostKey   = "hostkey"   // host key unknown or changed
	StageAuth      = "auth"      // authentication
	StageSession   = "session"   // opening a channel or starting the command
	StageExit      = "exit"      // the command exited non-zero or by signal
	StageTimeout   = "timeout"   // --timeout expired; the remote command was stopped
	StageInterrupt = "interrupt" // Ctrl-C / SIGTERM stopped the run
	StageModule    = "module"    // the host answered, but not what was asked (a unit not active, a service missing); the message has no prefix
)

// Record is one result line: what one module reports for one host (or one
// unit, service or log line on that host).
type Record struct {
	Status   Status
	Module   string
	Host     string
	Message  []byte        // command output or failure description, raw bytes
	Stage    string        // one of the Stage constants, "" on success
	ExitCode int           // remote exit status, -1 when no command finished
	Started  time.Time     // when work on this host began
	Duration time.Duration // how long it took
}

// Writer receives records as they are produced. Implementations must be
// safe for concurrent use and write each record atomically.
type Writer interface {
	Write(r Record) error
}
