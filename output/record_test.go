package output

import "testing"

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in   string
		want Status
		ok   bool
	}{
		{"okay", Okay, true},
		{"fail", Fail, true},
		{"skip", Skip, true},
		{"OKAY", "", false},
		{"Fail", "", false},
		{"", "", false},
		{"warn", "", false},
	}
	for _, tt := range tests {
		if got, ok := ParseStatus(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("ParseStatus(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	// Parse accepts exactly the statuses ParseStatus does.
	for _, st := range Statuses {
		if _, err := Parse(string(st) + "::dt:m:h:x"); err != nil {
			t.Errorf("Parse rejects status %q: %v", st, err)
		}
	}
}
