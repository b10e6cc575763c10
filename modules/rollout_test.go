package modules

import (
	"fmt"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Size
		err  bool
	}{
		{"10", Size{N: 10}, false},
		{"0", Size{N: 0}, false},
		{"10%", Size{N: 10, Percent: true}, false},
		{"100%", Size{N: 100, Percent: true}, false},
		{"101%", Size{}, true},
		{"-1", Size{}, true},
		{"ten", Size{}, true},
		{"", Size{}, true},
		{"%", Size{}, true},
	} {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSize(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestBatches(t *testing.T) {
	pct := func(n int) Size { return Size{N: n, Percent: true} }
	for _, tt := range []struct {
		r    Rollout
		n    int
		want string
	}{
		{Rollout{}, 5, "[[0 5]]"},
		{Rollout{}, 0, "[]"},
		{Rollout{Batch: Size{N: 2}}, 5, "[[0 2] [2 4] [4 5]]"},
		{Rollout{Batch: pct(10)}, 300, "[[0 30] [30 60] [60 90] [90 120] [120 150] [150 180] [180 210] [210 240] [240 270] [270 300]]"},
		{Rollout{Batch: pct(10)}, 5, "[[0 1] [1 2] [2 3] [3 4] [4 5]]"}, // rounded down, at least 1
		{Rollout{Batch: pct(40)}, 7, "[[0 2] [2 4] [4 6] [6 7]]"},
		{Rollout{Canary: 1, Batch: Size{N: 3}}, 7, "[[0 1] [1 4] [4 7]]"},
		{Rollout{Canary: 2}, 7, "[[0 2] [2 7]]"},
		{Rollout{Canary: 9, Batch: Size{N: 3}}, 7, "[[0 7]]"},
	} {
		if got := fmt.Sprint(tt.r.batches(tt.n)); got != tt.want {
			t.Errorf("%+v over %d hosts: %s, want %s", tt.r, tt.n, got, tt.want)
		}
	}
}

func TestBudget(t *testing.T) {
	for _, tt := range []struct {
		max  *Size
		n    int
		want int
		text string
	}{
		{nil, 300, -1, ""},
		{&Size{N: 0}, 300, 0, "0"},
		{&Size{N: 5}, 300, 5, "5"},
		{&Size{N: 2, Percent: true}, 300, 6, "2% (6 hosts)"},
		{&Size{N: 2, Percent: true}, 10, 0, "2% (0 hosts)"},
		{&Size{N: 10, Percent: true}, 12, 1, "10% (1 host)"},
	} {
		r := Rollout{MaxFail: tt.max}
		if got := r.budget(tt.n); got != tt.want {
			t.Errorf("budget %v of %d = %d, want %d", tt.max, tt.n, got, tt.want)
		}
		if tt.max != nil {
			if got := r.budgetText(tt.n); got != tt.text {
				t.Errorf("budgetText %v of %d = %q, want %q", tt.max, tt.n, got, tt.text)
			}
		}
	}
}
