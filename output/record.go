package output

import "time"

// Status is the outcome of one record: Okay, Fail or Skip.
type Status string

// The statuses a record can carry.
const (
	Okay Status = "okay"
	Fail Status = "fail"
	// Skip is a selected host that was never started: a rolling run
	// stopped (--max-fail) or was interrupted before its batch.
	Skip Status = "skip"
)

// Statuses are the valid statuses, in the order people read them: the
// failures first.
var Statuses = []Status{Fail, Skip, Okay}

// ParseStatus returns the Status named s, or false when s is none.
func ParseStatus(s string) (Status, bool) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
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
	StageGate      = "gate"      // the module's work was done, but the health gate (--gate) did not pass in time
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
