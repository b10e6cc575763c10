package output

import (
	"strconv"
	"testing"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in   string
		want Status
		ok   bool
	}{
		{"okay", Okay, true},
		{"fail", Fail, true},
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
	for _, st := range statuses {
		if got, ok := ParseStatus(string(st)); !ok || got != st {
			t.Errorf("ParseStatus(%q) = %q, %v", st, got, ok)
		}
		if _, err := Parse(string(st) + "::dt:m:h:x"); err != nil {
			t.Errorf("Parse rejects status %q: %v", st, err)
		}
	}
}

func TestStatusChoices(t *testing.T) {
	if got, want := StatusChoices(strconv.Quote), `"okay" or "fail"`; got != want {
		t.Errorf("StatusChoices(Quote) = %s, want %s", got, want)
	}
	out := func(s string) string { return "out:" + s }
	if got, want := StatusChoices(out), "out:okay or out:fail"; got != want {
		t.Errorf("StatusChoices(out) = %s, want %s", got, want)
	}
}
