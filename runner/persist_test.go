package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dtools/dt/hosts"
)

func TestParseControlPersist(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"yes", PersistForever, false},
		{"YES", PersistForever, false},
		{"0", PersistForever, false},
		{"no", 0, false},
		{"60", time.Minute, false},
		{"10m", 10 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"1H30M", 90 * time.Minute, false},
		{"2d", 48 * time.Hour, false},
		{"1w", 7 * 24 * time.Hour, false},
		{"5s10", 0, true},
		{"m", 0, true},
		{"10x", 0, true},
		{"-5", 0, true},
		{"", 0, true},
		{"1.5h", 0, true},
	} {
		got, err := ParseControlPersist(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseControlPersist(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

// Config.Persist (--persist, DT_PERSIST) wins over ssh_config's
// ControlPersist; PersistSSHConfig takes each host's.
func TestResolvePersist(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfg, []byte("Host kept\n  ControlPersist 5m\nHost forever\n  ControlPersist yes\nHost bad\n  ControlPersist soon\n"), 0o600)
	for _, tt := range []struct {
		persist time.Duration
		host    string
		want    time.Duration
	}{
		{PersistSSHConfig, "kept", 5 * time.Minute},
		{PersistSSHConfig, "forever", PersistForever},
		{PersistSSHConfig, "other", 0},
		{0, "kept", 0},
		{time.Minute, "kept", time.Minute},
		{time.Minute, "other", time.Minute},
	} {
		r, err := NewResolver(Config{Home: "/home/me", LocalUser: "me", SSHConfigFiles: []string{cfg}, Persist: tt.persist})
		if err != nil {
			t.Fatal(err)
		}
		tg, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: tt.host}})
		if err != nil || tg.Persist != tt.want {
			t.Errorf("persist %v, host %s: %v %v, want %v", tt.persist, tt.host, tg, err, tt.want)
		}
	}
	r, _ := NewResolver(Config{Home: "/home/me", LocalUser: "me", SSHConfigFiles: []string{cfg}, Persist: PersistSSHConfig})
	if _, err := r.Resolve(hosts.Host{Hop: hosts.Hop{Name: "bad"}}); err == nil || !strings.Contains(err.Error(), "bad: ssh_config ControlPersist: \"soon\" is not a time") {
		t.Errorf("bad ControlPersist: %v", err)
	}
}
