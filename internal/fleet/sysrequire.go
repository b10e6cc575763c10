package fleet

import (
	"context"
	"os"
	"testing"
)

// RequireSystemd skips t if AvailableSystemd reports that no systemd fleet
// can run here, or fails it if DT_REQUIRE_SYSTEMD is set (CI sets it, so
// that missing systemd-nspawn or debootstrap is a failure and never a
// silent skip).
func RequireSystemd(t testing.TB) {
	t.Helper()
	require(t, AvailableSystemd, "DT_REQUIRE_SYSTEMD")
}

// StartSystemdTest is StartSystemd for tests: it calls RequireSystemd,
// defaults o.Dir to a new temp dir (removed at the end) and o.Log to t.Log,
// fails t on error, and stops the fleet in t.Cleanup.
func StartSystemdTest(t testing.TB, o SystemdOptions) *Fleet {
	t.Helper()
	RequireSystemd(t)
	if o.Dir == "" {
		// Not t.TempDir(): its name may hold characters that overlayfs
		// options cannot.
		dir, err := os.MkdirTemp("", "dt-sysd-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) }) // runs after Stop
		o.Dir = dir
	}
	if o.Log == nil {
		o.Log = testLog{t}
	}
	return stopAtCleanup(t, func() (*Fleet, error) { return StartSystemd(context.Background(), o) })
}
