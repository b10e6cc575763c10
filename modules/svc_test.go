package modules

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSvcPrepare(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"status", "app"}, ""},
		{[]string{"--settle", "0", "restart", "a", "b"}, ""},
		{[]string{"reload", "app"}, `unknown verb "reload"; verbs: restart, start, status, stop`},
		{[]string{"status"}, "missing service name"},
		{[]string{"status", "../etc"}, "no path"},
		{[]string{"status", "a/b"}, "no path"},
	} {
		_, err := Svc{}.Prepare(tt.args, Options{})
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Prepare(%q): %v", tt.args, err)
			}
			continue
		}
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Prepare(%q) = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
}

// TestSvcNormalized: a running systemd unit and a running runit service
// print the same fields in the same order.
func TestSvcNormalized(t *testing.T) {
	unit := unitState{"Id": "app.service", "LoadState": "loaded", "ActiveState": "active", "SubState": "running",
		"MainPID": "1234", "NRestarts": "2", "ActiveEnterTimestampMonotonic": "1000000", keyUptime: "7.50"}
	got := normalizeUnit(unit, "app")
	if want := "app state=running pid=1234 uptime=6s restarts=2 manager=systemd"; got != want {
		t.Errorf("systemd:\n got %s\nwant %s", got, want)
	}
	got = "app " + normalizeSV(SVStatus{Name: "app", State: "run", PID: 7536, Uptime: 6 * time.Second, Normally: "up"})
	if want := "app state=running pid=7536 uptime=6s restarts=- manager=runit"; got != want {
		t.Errorf("runit:\n got %s\nwant %s", got, want)
	}
	failed := unitState{"LoadState": "loaded", "ActiveState": "failed", "MainPID": "0", "NRestarts": "0"}
	if got, want := normalizeUnit(failed, "app"), "app state=failed pid=- uptime=- restarts=0 manager=systemd"; got != want {
		t.Errorf("failed unit: %s", got)
	}
	if got, want := normalizeSV(SVStatus{State: "down", Uptime: 3 * time.Second}), "state=stopped pid=- uptime=3s restarts=- manager=runit"; got != want {
		t.Errorf("down service: %s", got)
	}
}

// TestSvcDetectShell runs the detection command through a real /bin/sh
// with a fake systemctl: a loaded unit wins, then a directory in $SVDIR,
// else none; hostile names stay data.
func TestSvcDetectShell(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	svdir := filepath.Join(dir, "service")
	for _, d := range []string{bin, filepath.Join(svdir, "sleeper"), filepath.Join(svdir, "x; touch pwned")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fake := "#!/bin/sh\n[ \"$6\" = nginx ] && echo loaded || echo not-found\n"
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := detectCmd([]string{"nginx", "sleeper", "nosuch", "x; touch pwned"})
	// /run/systemd/system does not exist on this machine (PID 1 is not
	// systemd), so point the check at a directory that does.
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		cmd = strings.ReplaceAll(cmd, "/run/systemd/system", dir)
	}
	c := exec.Command("/bin/sh", "-c", cmd)
	c.Dir = dir
	c.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SVDIR="+svdir)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got, want := string(out), "systemd\nrunit\nnone\nrunit\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("a service name was executed")
	}
}
