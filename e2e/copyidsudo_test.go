package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dtools/dt/internal/fleet"
)

// testSSHCopyIDSudo: under --sudo, ssh-copy-id adds the key to root's
// authorized_keys, even where sudoers keeps the login user's HOME (as
// Ubuntu's sudo did by default until 19.10): the login user's ~/.ssh is
// left alone, never given root-owned files.
func testSSHCopyIDSudo(t *testing.T, f *fleet.Fleet, asFleet string) {
	all := allNames(f)
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dt-sudo-test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	blob := strings.Fields(string(pub))[1]
	for _, h := range all {
		inside(t, f, h, `echo 'Defaults:`+fleet.SystemdUser+` env_keep += HOME' > /etc/sudoers.d/zz-dt-home && chmod 440 /etc/sudoers.d/zz-dt-home && visudo -c >/dev/null`)
	}
	defer func() {
		for _, h := range all {
			inside(t, f, h, "rm -f /etc/sudoers.d/zz-dt-home; f=/root/.ssh/authorized_keys; if [ -f $f ]; then grep -vF '"+blob+"' $f > $f.dt-tmp; cat $f.dt-tmp > $f; rm -f $f.dt-tmp; fi")
		}
	}()
	screen := dtAskingSudo(t, f, "-D", asFleet, "-K", "--sudo", "all:", "ssh-copy-id", key+".pub")
	for _, h := range all {
		if !strings.Contains(screen, "okay::dt:ssh-copy-id:"+h+":added ssh-ed25519 SHA256:") {
			t.Errorf("%s: not added:\n%s", h, screen)
		}
		root := inside(t, f, h, "grep -cF '"+blob+"' /root/.ssh/authorized_keys || true")
		user := inside(t, f, h, "home=$(getent passwd "+fleet.SystemdUser+" | cut -d: -f6); { cat $home/.ssh/authorized_keys 2>/dev/null || true; } | grep -cF '"+blob+"' || true; find $home -user root | head -3")
		if root != "1" || user != "0" {
			t.Errorf("%s: the key is %s times in root's authorized_keys, want 1; in the login user's: %q, want 0 and no root-owned files", h, root, user)
		}
	}
}
