package runner

import (
	"context"
	"strings"
	"testing"

	"github.com/dtools/dt/output"
)

// TestRunRefusesCommandAndSubsystem: a Command is an exec or a subsystem,
// never both (sudo's wrapper must not turn a subsystem into a command
// line); the check comes before any session is opened.
func TestRunRefusesCommandAndSubsystem(t *testing.T) {
	_, err := Run(context.Background(), nil, Command{Cmd: "sudo -n -- sh -c ''", Subsystem: "sftp"})
	if err == nil || Stage(err) != output.StageSession || !strings.Contains(err.Error(), `subsystem "sftp"`) {
		t.Errorf("Run = %v, want a session error naming the subsystem", err)
	}
}
