package fleet

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// writeShadow makes the hosts' /etc/shadow: the machine's, with a random
// password for the login user (Fleet.Password). The hosts mount it over
// /etc/shadow in their own mount namespaces; the machine's file is not
// touched.
func (f *Fleet) writeShadow() error {
	f.Password = "pw-" + randomID() + randomID()
	hash, err := cryptPassword(f.Password)
	if err != nil {
		return err
	}
	data, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	var out bytes.Buffer
	found := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Split(line, ":")
		if len(fields) > 2 && fields[0] == f.login.name {
			fields[1] = hash
			fields[2] = "" // no "must change" dates
			line = strings.Join(fields, ":")
			found = true
		}
		out.WriteString(line + "\n")
	}
	if !found {
		return fmt.Errorf("fleet: no %s in /etc/shadow", f.login.name)
	}
	f.shadow = filepath.Join(f.Dir, "shadow")
	return writeFile(f.shadow, out.Bytes(), 0o600)
}

// cryptPassword hashes pw for /etc/shadow (SHA-512 crypt), with openssl.
func cryptPassword(pw string) (string, error) {
	cmd := exec.Command("openssl", "passwd", "-6", "-stdin")
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("fleet: openssl passwd (package openssl): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// authorizedKeysFiles is sshd's AuthorizedKeysFile: the fleet's shared
// file and, with a private home, the user's own (relative to the home).
func (f *Fleet) authorizedKeysFiles() string {
	var files []string
	if !f.opts.NoSharedKey {
		files = append(files, f.AuthorizedKeys)
	}
	if f.opts.PrivateHome || len(files) == 0 {
		files = append(files, ".ssh/authorized_keys")
	}
	return strings.Join(files, " ")
}

// hostAuthConfig is the sshd_config that Options.Password asks for on
// host i: password authentication, or keyboard-interactive through PAM.
func (f *Fleet) hostAuthConfig(i int) string {
	if !f.opts.Password {
		return ""
	}
	if f.opts.KbdInteractive != nil && f.opts.KbdInteractive(i) {
		return "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n"
	}
	return "PasswordAuthentication yes\n"
}

// HomePath is where path p in the login user's home on the host is seen
// from outside the host (Options.PrivateHome): through the /proc root of
// its sshd, which lives in the host's mount namespace.
func (h *Host) HomePath(f *Fleet, p string) string {
	return filepath.Join(fmt.Sprintf("/proc/%d/root", h.PID), f.login.home, p)
}
