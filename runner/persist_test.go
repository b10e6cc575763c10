package runner

import (
	"testing"
	"time"
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
