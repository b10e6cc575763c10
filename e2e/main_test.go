// Package e2e drives the built dt binary against fleets of real OpenSSH
// sshd hosts on loopback addresses (see internal/fleet). Nothing here is
// faked: every record comes from a real SSH session.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
)

var dtBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dt-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dtBin = filepath.Join(dir, "dt")
	build := exec.Command("go", "build", "-o", dtBin, "../cmd/dt")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building dt:", err)
		os.Exit(1)
	}
	code := m.Run()
	stopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	sharedOnce  sync.Once
	sharedFleet *fleet.Fleet
	sharedErr   error
)

// shared returns a 12-host fleet used by the tests that do not change it.
func shared(t *testing.T) *fleet.Fleet {
	t.Helper()
	fleet.Require(t)
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dt-e2e-fleet-")
		if err != nil {
			sharedErr = err
			return
		}
		sharedFleet, sharedErr = fleet.Start(context.Background(), fleet.Options{Dir: dir, N: 12})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedFleet
}

func stopShared() {
	if sharedFleet != nil {
		sharedFleet.Stop()
		os.RemoveAll(sharedFleet.Dir)
	}
}

// run is one finished dt process.
type run struct {
	stdout, stderr string
	code           int
}

// dt runs the dt binary with the fleet's environment (HOME = the fleet's
// client home) plus extra KEY=VALUE pairs, and stdin.
func dt(t *testing.T, f *fleet.Fleet, extraEnv []string, stdin string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dtBin, args...)
	cmd.Env = append(f.Env(), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("dt %q: %v", args, err)
	}
	t.Logf("$ dt %s\n%s%s(exit %d)", strings.Join(args, " "), r.stdout, r.stderr, r.code)
	return r
}

// records parses every stdout line with output.Parse and indexes them by
// host; a host with two records fails the test.
func records(t *testing.T, stdout string) map[string]output.Record {
	t.Helper()
	recs := map[string]output.Record{}
	for _, line := range lines(stdout) {
		r, err := output.Parse(line)
		if err != nil {
			t.Fatalf("unparseable line %q: %v", line, err)
		}
		if _, dup := recs[r.Host]; dup {
			t.Fatalf("two records for host %s", r.Host)
		}
		recs[r.Host] = r
	}
	return recs
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// names returns the sorted host names of recs.
func names(recs map[string]output.Record) []string {
	var n []string
	for h := range recs {
		n = append(n, h)
	}
	sort.Strings(n)
	return n
}

func hostNames(f *fleet.Fleet, idx ...int) []string {
	var n []string
	for _, i := range idx {
		n = append(n, f.Hosts[i].Name)
	}
	sort.Strings(n)
	return n
}

func allNames(f *fleet.Fleet) []string {
	var n []string
	for _, h := range f.Hosts {
		n = append(n, h.Name)
	}
	sort.Strings(n)
	return n
}

// copyHome makes a private copy of the fleet's client home, for tests that
// change known_hosts, keys or config. It returns the new home.
func copyHome(t *testing.T, f *fleet.Fleet) string {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".dtdb", ".ssh/id_ed25519", ".ssh/id_ed25519.pub", ".ssh/wrong_ed25519", ".ssh/known_hosts"} {
		data, err := os.ReadFile(filepath.Join(f.Home, name))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(home, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(f.SSHConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.ReplaceAll(cfg, []byte(f.Home), []byte(home))
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// remoteDir makes a directory the fleet's login user can write to (under
// the fleet's dir, which it can reach), for commands that leave evidence.
func remoteDir(t *testing.T, f *fleet.Fleet) string {
	t.Helper()
	dir, err := os.MkdirTemp(f.Dir, "e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// writeFile writes a file a test needs, and fails the test when it cannot.
func writeFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}
