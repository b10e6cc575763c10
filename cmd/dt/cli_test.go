package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestFlagErrors runs runCLI in-process on flag errors whose wording comes
// from Go's flag package, including values that need quoting, and checks
// the rewritten line, the hint, the empty stdout and exit status 2.
func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, `unknown flag "--nope"`},
		{[]string{"--nope=1", "all:", "list"}, `unknown flag "--nope"`},
		{[]string{"-n"}, `unknown flag "-n"`},
		{[]string{"--fanout", `"4"`, "all:", "list"}, `--fanout "\"4\"": want a whole number`},
		{[]string{"-C", "вісім", "all:", "list"}, `-C "вісім": want a whole number`},
		{[]string{"--json=yes please", "all:", "list"}, `--json "yes please": want true or false, or no value`},
		{[]string{"-N=2", "all:", "list"}, `-N "2": want true or false, or no value`},
		{[]string{"--config"}, `--config needs a value`},
		{[]string{"-T"}, `-T needs a value`},
		{[]string{"--=x"}, `bad flag syntax "--=x"`},
		{[]string{"--connect-timeout", "1y", "all:", "list"}, `--connect-timeout "1y": want a duration like 10s, 500ms or a number of seconds`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runCLI(context.Background(), append([]string{"dt"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			want := "dt: error: " + tt.want + "\ndt: hint: see dt --help\n"
			if code != exitUsage || stdout.Len() != 0 || stderr.String() != want {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant exit 2, no stdout, stderr %q", code, stdout.String(), stderr.String(), want)
			}
		})
	}
}
