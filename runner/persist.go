package runner

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseControlPersist parses an ssh_config ControlPersist value as
// OpenSSH reads it: "yes" or 0 keep the connection until it is closed
// (PersistForever), "no" does not keep it (0), and a time is a number of
// seconds or OpenSSH's time format ("10m", "1h30m", units s m h d w).
func ParseControlPersist(v string) (time.Duration, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "0":
		return PersistForever, nil
	case "no":
		return 0, nil
	}
	d, err := ParseSSHTime(v)
	if err != nil {
		return 0, err
	}
	if d == 0 {
		return PersistForever, nil
	}
	return d, nil
}

// ParseSSHTime parses OpenSSH's time format (sshd_config(5) TIME FORMATS):
// a number of seconds, or numbers each followed by a unit (s, m, h, d, w),
// case-insensitive, added up: "90", "1h30m", "2w".
func ParseSSHTime(v string) (time.Duration, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	if s == "" {
		return 0, fmt.Errorf("%q is not a time: want seconds or a time like 10m or 1h30m", v)
	}
	if n, err := strconv.ParseUint(s, 10, 31); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) || i > 9 {
			return 0, fmt.Errorf("%q is not a time: want seconds or a time like 10m or 1h30m", v)
		}
		unit, ok := units[s[i]]
		if !ok {
			return 0, fmt.Errorf("%q is not a time: unknown unit %q (s, m, h, d, w)", v, s[i])
		}
		n, _ := strconv.Atoi(s[:i])
		total += time.Duration(n) * unit
		s = s[i+1:]
	}
	return total, nil
}
