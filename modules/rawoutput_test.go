package modules

import (
	"strings"
	"testing"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

func TestLineCutter(t *testing.T) {
	long := strings.Repeat("x", output.SpoolLimit+10)
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"lines in one write", []string{"a\nb\n"}, []string{"a\n", "b\n"}},
		{"a line across writes", []string{"ab", "c\nd", "e\n"}, []string{"abc\n", "de\n"}},
		{"last line without newline", []string{"a\nb"}, []string{"a\n", "b"}},
		{"empty lines", []string{"\n\n"}, []string{"\n", "\n"}},
		{"a line longer than the limit is cut", []string{long + "\n"}, []string{long[:output.SpoolLimit], long[output.SpoolLimit:] + "\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{Entry: hosts.Host{Hop: hosts.Hop{Name: "h1"}}, Module: "ssh"}
			var got []output.Record
			c := &lineCutter{h: h, emit: func(r output.Record) { got = append(got, r) }}
			for _, w := range tt.writes {
				if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			c.flush()
			if len(got) != len(tt.want) {
				t.Fatalf("%d records, want %d", len(got), len(tt.want))
			}
			for i, r := range got {
				if string(r.Message) != tt.want[i] || !r.Line || r.Status != output.Okay || r.ExitCode != -1 || r.Host != "h1" {
					t.Errorf("record %d: %+v, want line %q", i, r, tt.want[i])
				}
			}
		})
	}
}
