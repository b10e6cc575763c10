package fleet

import (
	"context"
	"os"
	"strings"
	"testing"
)

// Require skips t if Available reports that no fleet can run here, or fails
// it if DT_REQUIRE_SSHD is set (CI sets it, so that a missing sshd is a
// failure and never a silent skip).
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("DT_REQUIRE_SSHD") != "" {
			t.Fatalf("DT_REQUIRE_SSHD is set: %v", err)
		}
		t.Skip(err)
	}
}

// StartTest is Start for tests: it calls Require, defaults o.Dir to
// t.TempDir() and o.Log to t.Log, fails t on error, and stops the fleet in
// t.Cleanup.
func StartTest(t testing.TB, o Options) *Fleet {
	t.Helper()
	Require(t)
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Log == nil {
		o.Log = testLog{t}
	}
	f, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// testLog is an io.Writer that logs to a test.
type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
