package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dtools/dt/internal/fleet"
)

// testCopySudo: a non-root login copies into a root-owned directory of
// the systemd containers with --sudo (the host's sftp-server runs as root
// through sudo, -K gives the password), with --owner resolved on the host.
// Without --sudo the same copy is refused, with a hint.
func testCopySudo(t *testing.T, f *fleet.Fleet, asFleet string) {
	all := allNames(f)
	for _, h := range all {
		inside(t, f, h, "rm -rf /etc/dt-copy && mkdir /etc/dt-copy && chmod 755 /etc/dt-copy")
	}
	data := []byte("owned by root's copy\n")
	src := filepath.Join(t.TempDir(), "app.conf")
	if err := os.WriteFile(src, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o640); err != nil {
		t.Fatal(err)
	}

	r := dt(t, f, nil, "", "-D", asFleet, "all:", "copy", src, "/etc/dt-copy/")
	if r.code != 1 || strings.Count(r.stdout, "permission denied: cannot create files in /etc/dt-copy") != len(all) || !strings.Contains(r.stdout, "--sudo writes as root") {
		t.Errorf("without --sudo: exit %d:\n%s", r.code, r.stdout)
	}

	sudoCopy := func(want string) string {
		t.Helper()
		screen := dtAskingSudo(t, f, "-D", asFleet, "-K", "--sudo", "all:", "copy", "--owner", fleet.SystemdUser+":root", src, "/etc/dt-copy/")
		line := regexp.MustCompile(`okay::dt:copy:(c00\d):/etc/dt-copy/app.conf ` + want + ` 21 bytes sha256=` + sum(data) + ` mode=0640 owner=1000:0`)
		if n := len(line.FindAllString(screen, -1)); n != len(all) {
			t.Errorf("%d %s lines, want %d:\n%s", n, want, len(all), screen)
		}
		return screen
	}
	sudoCopy("changed")
	for _, h := range all {
		if got := inside(t, f, h, "stat -c '%U:%G %a' /etc/dt-copy/app.conf && cat /etc/dt-copy/app.conf && ls -A /etc/dt-copy | wc -l"); got != fleet.SystemdUser+":root 640\n"+strings.TrimSpace(string(data))+"\n1" {
			t.Errorf("%s: %q", h, got)
		}
	}
	sudoCopy("unchanged")
}
