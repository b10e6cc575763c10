package modules

import (
	"os/exec"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"plain", "plain"},
		{"/srv/app-1.2_x", "/srv/app-1.2_x"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"'; touch /tmp/pwned; '", `''\''; touch /tmp/pwned; '\'''`},
		{"$(id)", "'$(id)'"},
		{"`id`", "'`id`'"},
		{"a\nb", "'a\nb'"},
		{"*", "'*'"},
		{"--now", "--now"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestQuoteShell checks with a real /bin/sh that every quoted word arrives
// as exactly the original bytes.
func TestQuoteShell(t *testing.T) {
	words := []string{"", "a b", "it's", "'; touch /tmp/pwned; '", "$(id)", "`id`", "a\nb", "*", "~", "$HOME", `\`, `"`, "é", "-n"}
	out, err := exec.Command("/bin/sh", "-c", "set -- "+QuoteAll(words)+`; for a in "$@"; do printf '%s\0' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(words) {
		t.Fatalf("got %d words %q, want %d", len(got), got, len(words))
	}
	for i := range words {
		if got[i] != words[i] {
			t.Errorf("word %d: got %q, want %q", i, got[i], words[i])
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "x", "it's", "'; rm -rf /; '", "$(id)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			return // not representable in argv
		}
		out, err := exec.Command("/bin/sh", "-c", "printf '%s' "+Quote(s)).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if string(out) != s {
			t.Fatalf("Quote(%q) reached the shell as %q", s, out)
		}
	})
}
