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
	require(t, Available, "DT_REQUIRE_SSHD")
}

// require skips t when available fails, or fails t when the environment
// variable demand is set.
func require(t testing.TB, available func() error, demand string) {
	t.Helper()
	if err := available(); err != nil {
		if os.Getenv(demand) != "" {
			t.Fatalf("%s is set: %v", demand, err)
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
	return stopAtCleanup(t, func() (*Fleet, error) { return Start(context.Background(), o) })
}

// stopAtCleanup starts a fleet, fails t if that fails, and stops the fleet
// when t ends.
func stopAtCleanup(t testing.TB, start func() (*Fleet, error)) *Fleet {
	t.Helper()
	f, err := start()
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
