package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// UserHome writes a second fake home directory, Dir/home-USER, that is like
// Home except that its ~/.ssh/config logs in as user by default, and
// returns its path. It shares Home's client key, known_hosts and ~/.dtdb,
// so the same host names and patterns work:
//
//	home, _ := f.UserHome(fleet.SystemdUser)
//	env := f.EnvAs(home) // HOME=home for dt
//	ssh -F home/.ssh/config c001 systemctl --user is-active demo-ok
//
// (A "fleet@c001" host pattern with the normal Home works too.)
func (f *Fleet) UserHome(user string) (string, error) {
	if !nameRE.MatchString(user) {
		return "", fmt.Errorf("fleet: bad user name %q", user)
	}
	cfg, err := os.ReadFile(f.SSHConfig)
	if err != nil {
		return "", fmt.Errorf("fleet: %w", err)
	}
	home := filepath.Join(f.Dir, "home-"+user)
	if err := mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
		return "", fmt.Errorf("fleet: %w", err)
	}
	if err := mkdir(home, 0o755); err != nil {
		return "", fmt.Errorf("fleet: %w", err)
	}
	text := strings.ReplaceAll(string(cfg), "\n  User "+f.User+"\n", "\n  User "+user+"\n")
	if n := strings.Count(text, "\n  User "+user+"\n"); n != len(f.Hosts)+1 {
		return "", fmt.Errorf("fleet: %s: found %d User lines, want %d", f.SSHConfig, n, len(f.Hosts)+1)
	}
	text = strings.Replace(text, "# ssh_config of dt test fleet", "# ssh_config (logging in as "+user+") of dt test fleet", 1)
	copies := map[string]string{
		filepath.Join(home, ".ssh", "config"): text,
	}
	for _, p := range []string{f.KnownHosts, f.DB, f.ClientKey, f.ClientKey + ".pub"} {
		data, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("fleet: %w", err)
		}
		rel, err := filepath.Rel(f.Home, p)
		if err != nil {
			return "", fmt.Errorf("fleet: %w", err)
		}
		copies[filepath.Join(home, rel)] = string(data)
	}
	for p, data := range copies {
		perm := os.FileMode(0o600)
		if strings.HasSuffix(p, ".pub") {
			perm = 0o644
		}
		if err := writeFile(p, []byte(data), perm); err != nil {
			return "", fmt.Errorf("fleet: %w", err)
		}
	}
	return home, nil
}

// EnvAs returns Env with HOME set to home (usually from UserHome).
func (f *Fleet) EnvAs(home string) []string {
	env := f.Env()
	for i, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			env[i] = "HOME=" + home
		}
	}
	return env
}
