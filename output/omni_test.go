package output

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"plain", "Mon Nov 16 23:54:04 CET 2009", "Mon Nov 16 23:54:04 CET 2009"},
		{"colon stays", "dial tcp 127.0.0.3:22: refused", "dial tcp 127.0.0.3:22: refused"},
		{"newline", "a\nb\n", `a\nb\n`},
		{"cr", "a\r\nb", `a\r\nb`},
		{"nul", "a\x00b", `a\x00b`},
		{"esc", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"del", "a\x7fb", `a\x7fb`},
		{"other controls", "\x01\x08\x0b\x0c\x1f", `\x01\x08\x0b\x0c\x1f`},
		{"backslash", `C:\temp`, `C:\\temp`},
		{"literal backslash n", `a\nb`, `a\\nb`},
		{"tab stays", "a\tb", "a\tb"},
		{"utf-8", "café ✓", "café ✓"},
		{"invalid utf-8 raw", "a\xffb\xc3", "a\xffb\xc3"},
		{"all at once", "\\\n\r\t\x00\x7f\x80", `\\\n\r` + "\t" + `\x00\x7f\x80`},
		{"c1 as utf-8 and raw", "A\xc2\x9b2JB\x9bC", `A\xc2\x9b2JB\x9bC`},
		{"c1 range edges", "\xc2\x80\xc2\x9f\xc2\xa0", `\xc2\x80\xc2\x9f` + "\xc2\xa0"},
		{"continuation bytes of valid utf-8 stay", "€ é ✓ \U0001F600", "€ é ✓ \U0001F600"},
		{"stray bytes in c1 range", "\xe0\x9b\x9b\xff\x85", "\xe0" + `\x9b\x9b` + "\xff" + `\x85`},
		{"truncated sequence", "a\xc2", "a\xc2"},
		{"surrogate half is invalid", "\xed\xa0\x80", "\xed\xa0" + `\x80`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Escape([]byte(tt.in))
			if got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if n := escapedLen([]byte(tt.in), 0); n != len(tt.want) {
				t.Errorf("escapedLen(%q) = %d, want %d", tt.in, n, len(tt.want))
			}
			if app := string(appendEscaped([]byte("x"), tt.in, 0)); app != "x"+tt.want {
				t.Errorf("appendEscaped(%q) = %q, want %q", tt.in, app, "x"+tt.want)
			}
			back, err := Unescape(got)
			if err != nil {
				t.Fatalf("Unescape(%q): %v", got, err)
			}
			if string(back) != tt.in {
				t.Errorf("Unescape(%q) = %q, want %q", got, back, tt.in)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string // substring of the error; "" means no error
	}{
		{in: "", want: ""},
		{in: "plain: text", want: "plain: text"},
		{in: `\x1B\x1b`, want: "\x1b\x1b"}, // either hex case
		{in: `\xff`, want: "\xff"},
		{in: `\x41`, want: "A"}, // not canonical, still accepted
		{in: "raw\x00ctl\ttab", want: "raw\x00ctl\ttab"},
		{in: `\\\\`, want: `\\`},
		{in: `abc\`, wantErr: "unescape: trailing backslash at offset 3"},
		{in: `a\tb`, wantErr: `unescape: unknown escape "\\t" at offset 1`},
		{in: `\q`, wantErr: `unknown escape "\\q"`},
		{in: `\x4`, wantErr: `truncated escape "\\x4" at offset 0`},
		{in: `\x`, wantErr: `truncated escape`},
		{in: `ok\xg0`, wantErr: `bad hex escape "\\xg0" at offset 2`},
		{in: `\n\x0z`, wantErr: `bad hex escape "\\x0z" at offset 2`},
	}
	for _, tt := range tests {
		got, err := Unescape(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Unescape(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("Unescape(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		name string
		r    Record
		want string
	}{
		{"okay drops one newline", Record{Status: Okay, Message: []byte("up\n\n")}, "up\n"},
		{"okay crlf keeps cr", Record{Status: Okay, Message: []byte("up\r\n")}, "up\r"},
		{"okay no newline", Record{Status: Okay, Message: []byte("up")}, "up"},
		{"okay empty", Record{Status: Okay}, ""},
		{"okay ignores stage", Record{Status: Okay, Stage: StageExit, Message: []byte("x")}, "x"},
		{"fail exit code", Record{Status: Fail, Stage: StageExit, ExitCode: 1, Message: []byte("grep: no\n")}, "exit 1: grep: no"},
		{"fail exit 255", Record{Status: Fail, Stage: StageExit, ExitCode: 255, Message: []byte("x")}, "exit 255: x"},
		{"fail exit no output", Record{Status: Fail, Stage: StageExit, ExitCode: 2}, "exit 2"},
		{"fail killed", Record{Status: Fail, Stage: StageExit, ExitCode: -1, Message: []byte("killed by signal TERM")}, "exit: killed by signal TERM"},
		{"fail connect", Record{Status: Fail, Stage: StageConnect, ExitCode: -1, Message: []byte("dial tcp 127.0.0.3:22: connection refused")}, "connect: dial tcp 127.0.0.3:22: connection refused"},
		{"fail timeout", Record{Status: Fail, Stage: StageTimeout, ExitCode: -1, Message: []byte("after 10s\n")}, "timeout: after 10s"},
		{"fail module verdict", Record{Status: Fail, Stage: StageModule, ExitCode: -1, Message: []byte("nginx.service failed (failed)")}, "nginx.service failed (failed)"},
		{"fail no stage", Record{Status: Fail, ExitCode: 3, Message: []byte("bad\n")}, "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Message(tt.r)
			if string(got) != tt.want {
				t.Errorf("Message = %q, want %q", got, tt.want)
			}
			// The line's MESSAGE field is exactly Escape(Message(r)).
			line := FormatLine(Record{Status: tt.r.Status, Module: "m", Host: "h", Message: tt.r.Message, Stage: tt.r.Stage, ExitCode: tt.r.ExitCode})
			prefix := string(tt.r.Status) + "::dt:m:h:"
			if want := prefix + Escape(got) + "\n"; line != want {
				t.Errorf("FormatLine = %q, want %q", line, want)
			}
		})
	}
}

func TestMessageDoesNotClobber(t *testing.T) {
	orig := []byte("up\n")
	m := Message(Record{Status: Okay, Message: orig})
	_ = append(m, 'X')
	if string(orig) != "up\n" {
		t.Fatalf("appending to Message result changed r.Message to %q", orig)
	}
}

func TestFormatLine(t *testing.T) {
	tests := []struct {
		name string
		r    Record
		want string
	}{
		{"seed", Record{Status: Okay, Module: "ssh", Host: "myhostlinux1.domain", Message: []byte("Mon Nov 16 23:54:04 CET 2009\n")},
			"okay::dt:ssh:myhostlinux1.domain:Mon Nov 16 23:54:04 CET 2009\n"},
		{"ipv6 bracketed", Record{Status: Okay, Module: "ssh", Host: "::1", Message: []byte("x")},
			"okay::dt:ssh:[::1]:x\n"},
		{"already bracketed", Record{Status: Okay, Module: "ssh", Host: "[fe80::1%eth0]", Message: []byte("x")},
			"okay::dt:ssh:[fe80::1%eth0]:x\n"},
		{"leading bracket no colon", Record{Status: Okay, Module: "ssh", Host: "[a", Message: []byte("x")},
			"okay::dt:ssh:[[a]:x\n"},
		{"bracket inside ipv6-ish", Record{Status: Okay, Module: "ssh", Host: "a]:b", Message: []byte("x")},
			"okay::dt:ssh:[a\\x5d:b]:x\n"},
		{"colon in module escaped", Record{Status: Okay, Module: "a:b", Host: "h", Message: []byte("x")},
			"okay::dt:a\\x3ab:h:x\n"},
		{"newline in host escaped", Record{Status: Okay, Module: "m", Host: "h\n", Message: []byte("x")},
			"okay::dt:m:h\\n:x\n"},
		{"connect", Record{Status: Fail, Module: "ssh", Host: "127.0.0.3", Stage: StageConnect, ExitCode: -1, Message: []byte("dial tcp 127.0.0.3:22: connection refused")},
			"fail::dt:ssh:127.0.0.3:connect: dial tcp 127.0.0.3:22: connection refused\n"},
		{"odd stage escaped", Record{Status: Fail, Module: "m", Host: "h", Stage: "a\nb", Message: []byte("x")},
			"fail::dt:m:h:a\\nb: x\n"},
		{"zero record still one line", Record{}, "::dt:::\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatLine(tt.r); got != tt.want {
				t.Errorf("FormatLine = %q, want %q", got, tt.want)
			}
			if got := string(AppendLine([]byte("prev\n"), tt.r)); got != "prev\n"+tt.want {
				t.Errorf("AppendLine = %q, want %q", got, "prev\n"+tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		line              string
		status            Status
		module, host, msg string
	}{
		{"okay::dt:ssh:myhostlinux1.domain:Mon Nov 16 23:54:04 CET 2009\n", Okay, "ssh", "myhostlinux1.domain", "Mon Nov 16 23:54:04 CET 2009"},
		{"okay::dt:ssh:web1:no newline", Okay, "ssh", "web1", "no newline"},
		{"okay::dt:ssh:web1:crlf\r\n", Okay, "ssh", "web1", "crlf"},
		{"fail::dt:ssh:127.0.0.3:connect: dial tcp 127.0.0.3:22: connection refused", Fail, "ssh", "127.0.0.3", "connect: dial tcp 127.0.0.3:22: connection refused"},
		{"okay::dt:ssh:[::1]:x", Okay, "ssh", "::1", "x"},
		{"okay::dt:ssh:[::1]:", Okay, "ssh", "::1", ""},
		{"okay::dt:ssh:[fe80::1%eth0]:a:b", Okay, "ssh", "fe80::1%eth0", "a:b"},
		{"okay::dt:ssh:web1:", Okay, "ssh", "web1", ""},
		{"okay::dt:::", Okay, "", "", ""},
		{`okay::dt:a\x3ab:h\nx:m\\n\n\x1b`, Okay, "a:b", "h\nx", "m\\n\n\x1b"},
		{"okay::dt:ssh:web1:tab\there é \xff", Okay, "ssh", "web1", "tab\there é \xff"},
		{"skip::dt:systemctl:web9:not started: 7 hosts failed, more than --max-fail 6 (stopped after batch 3 of 10)", Skip, "systemctl", "web9", "not started: 7 hosts failed, more than --max-fail 6 (stopped after batch 3 of 10)"},
	}
	for _, tt := range tests {
		r, err := Parse(tt.line)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.line, err)
			continue
		}
		if r.Status != tt.status || r.Module != tt.module || r.Host != tt.host || string(r.Message) != tt.msg {
			t.Errorf("Parse(%q) = %q %q %q %q; want %q %q %q %q", tt.line,
				r.Status, r.Module, r.Host, r.Message, tt.status, tt.module, tt.host, tt.msg)
		}
		if r.Stage != "" || r.ExitCode != -1 || !r.Started.IsZero() || r.Duration != 0 {
			t.Errorf("Parse(%q): Stage %q ExitCode %d Started %v Duration %v; want \"\" -1 zero 0",
				tt.line, r.Stage, r.ExitCode, r.Started, r.Duration)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line string
		want string // the whole error message
	}{
		{"", `parse omni line "": empty line`},
		{"\n", `parse omni line "\n": empty line`},
		{"okay", `parse omni line "okay": missing ':' after status`},
		{"okay:", `parse omni line "okay:": missing encoding field`},
		{"okay::", `parse omni line "okay::": missing "dt" tag`},
		{"okay::xx:ssh:h:m", `parse omni line "okay::xx:ssh:h:m": missing "dt" tag`},
		{"okay::dt", `parse omni line "okay::dt": missing "dt" tag`},
		{"okay::dt:ssh", `parse omni line "okay::dt:ssh": missing host field`},
		{"okay::dt:ssh:web1", `parse omni line "okay::dt:ssh:web1": missing message field`},
		{"OKAY::dt:ssh:h:m", `parse omni line "OKAY::dt:ssh:h:m": bad status "OKAY" (want "okay", "fail" or "skip")`},
		{"warn::dt:ssh:h:m", `parse omni line "warn::dt:ssh:h:m": bad status "warn" (want "okay", "fail" or "skip")`},
		{"okay:b64:dt:ssh:h:bQ==", `parse omni line "okay:b64:dt:ssh:h:bQ==": unknown encoding "b64" (only the empty encoding is supported)`},
		{`okay::dt:ssh:h:bad \q`, `parse omni line "okay::dt:ssh:h:bad \\q": message: unknown escape "\\q" at offset 4`},
		{`okay::dt:ssh:h:trailing \`, `parse omni line "okay::dt:ssh:h:trailing \\": message: trailing backslash at offset 9`},
		{`okay::dt:s\sh:h:m`, `parse omni line "okay::dt:s\\sh:h:m": module: unknown escape "\\s" at offset 1`},
		{`okay::dt:ssh:h\:m`, `parse omni line "okay::dt:ssh:h\\:m": host: trailing backslash at offset 1`},
		{"okay::dt:ssh:[::1", `parse omni line "okay::dt:ssh:[::1": bracketed host has no closing ']'`},
		{"okay::dt:ssh:[::1]", `parse omni line "okay::dt:ssh:[::1]": bracketed host not followed by ':'`},
		{"okay::dt:ssh:[::1]x:m", `parse omni line "okay::dt:ssh:[::1]x:m": bracketed host not followed by ':'`},
		{"okay::dt:ssh:h:a\nokay::dt:ssh:h:b\n", `parse omni line "okay::dt:ssh:h:a\nokay::dt:ssh:h:b\n": newline inside the line (more than one line?)`},
		{"okay::dt:ssh:h" + strings.Repeat("x", 100), // long lines are quoted in part
			`parse omni line "okay::dt:ssh:h` + strings.Repeat("x", 64-14) + `"...: missing message field`},
	}
	for _, tt := range tests {
		r, err := Parse(tt.line)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error %q", tt.line, r, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q) error\n got: %s\nwant: %s", tt.line, err, tt.want)
		}
	}
}

// TestRoundTrip checks Parse(FormatLine(r)) for records that round-trip
// exactly: Okay, Stage "", Message not ending in "\n".
func TestRoundTrip(t *testing.T) {
	hosts := []string{"web1", "myhostlinux1.domain", "127.0.0.3", "::1", "fe80::1%eth0", "", "h\\x", "tab\there"}
	msgs := []string{"", "x", "a:b:c", "line1\nline2", "C:\\\\x\\n", "\x00\x1b\x7f\xff", "é\r", ":"}
	for _, h := range hosts {
		for _, m := range msgs {
			r := Record{Status: Okay, Module: "ssh", Host: h, Message: []byte(m)}
			line := FormatLine(r)
			if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") || strings.Contains(line, "\r") {
				t.Errorf("FormatLine(%+v) = %q: not one line", r, line)
			}
			got, err := Parse(line)
			if err != nil {
				t.Errorf("Parse(%q): %v", line, err)
				continue
			}
			if got.Status != Okay || got.Module != "ssh" || got.Host != h || !bytes.Equal(got.Message, []byte(m)) {
				t.Errorf("Parse(FormatLine(%+v)) = %+v", r, got)
			}
		}
	}
}

// hostAfterParse is what Parse gives back for a Record.Host: an already
// bracketed host loses its brackets.
func hostAfterParse(h string) string {
	if isBracketed(h) {
		return h[1 : len(h)-1]
	}
	return h
}

func FuzzEscapeRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", "a\nb\r\n", "\x00\x1b[0m\x7f", `\\n\x41`, "tab\t", "café", "\xff\xfe", ":", "\xc2\x9b2J\x9b€"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e := Escape(b)
		for i := 0; i < len(e); i++ {
			if c := e[i]; (c < 0x20 && c != '\t') || c == 0x7f {
				t.Fatalf("Escape(%q) = %q contains byte %#x", b, e, c)
			}
		}
		// No C1 control reaches a terminal: not as a character, not as a
		// byte outside a valid UTF-8 sequence.
		for rest := e; rest != ""; {
			r, size := utf8.DecodeRuneInString(rest)
			if r >= 0x80 && r <= 0x9f || r == utf8.RuneError && size == 1 && rest[0] >= 0x80 && rest[0] <= 0x9f {
				t.Fatalf("Escape(%q) = %q contains a C1 control at %q", b, e, rest)
			}
			rest = rest[size:]
		}
		if got := string(appendEscaped(nil, b, 0)); got != e {
			t.Fatalf("appendEscaped(%q) = %q, Escape = %q", b, got, e)
		}
		back, err := Unescape(e)
		if err != nil {
			t.Fatalf("Unescape(Escape(%q)) = %v", b, err)
		}
		if !bytes.Equal(back, b) {
			t.Fatalf("Unescape(Escape(%q)) = %q", b, back)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"okay::dt:ssh:myhostlinux1.domain:Mon Nov 16 23:54:04 CET 2009\n",
		"fail::dt:ssh:127.0.0.3:connect: dial tcp 127.0.0.3:22: connection refused",
		"okay::dt:ssh:[::1]:x",
		"okay::dt:ssh:[::1]",
		`okay::dt:a\x3ab:h:m\\n\n\x1b`,
		"okay:b64:dt:ssh:h:bQ==",
		"okay::dt:ssh:h:bad \\q",
		"okay::dt:ssh:h:x\r\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := Parse(line)
		if err != nil {
			return
		}
		if _, ok := ParseStatus(string(r.Status)); !ok {
			t.Fatalf("Parse(%q) status %q", line, r.Status)
		}
		// Re-formatting gives a line that parses to the same record, except
		// that one trailing "\n" of the message is dropped when formatting.
		r.Status = Okay
		l2 := FormatLine(r)
		r2, err := Parse(l2)
		if err != nil {
			t.Fatalf("Parse(FormatLine(Parse(%q))) = %v (line %q)", line, err, l2)
		}
		wantMsg := trimNewline(r.Message)
		if r2.Module != r.Module || r2.Host != hostAfterParse(r.Host) || !bytes.Equal(r2.Message, wantMsg) {
			t.Fatalf("round trip of %q: got %+v, want %+v (line %q)", line, r2, r, l2)
		}
		if l3 := FormatLine(r2); len(wantMsg) == len(r.Message) && l3 != l2 {
			t.Fatalf("FormatLine not stable: %q then %q", l2, l3)
		}
	})
}

// FuzzFormatRoundTrip checks that any record, however odd its fields,
// formats to one line that parses back.
func FuzzFormatRoundTrip(f *testing.F) {
	f.Add("ssh", "web1", []byte("up\n"))
	f.Add("a:b", "::1", []byte("x\x00y"))
	f.Add("m", "[::1]", []byte(""))
	f.Add("m", "[a]b]:", []byte("\\"))
	f.Add("", "[", []byte("\n\n"))
	f.Fuzz(func(t *testing.T, module, host string, msg []byte) {
		r := Record{Status: Okay, Module: module, Host: host, Message: msg}
		line := FormatLine(r)
		if strings.IndexByte(line, '\n') != len(line)-1 || strings.IndexByte(line, '\r') >= 0 {
			t.Fatalf("FormatLine(%+v) = %q: not one line", r, line)
		}
		got, err := Parse(line)
		if err != nil {
			t.Fatalf("Parse(FormatLine(%+v)) = %v (line %q)", r, err, line)
		}
		if got.Module != module || got.Host != hostAfterParse(host) || !bytes.Equal(got.Message, trimNewline(msg)) {
			t.Fatalf("Parse(FormatLine(%+v)) = %+v (line %q)", r, got, line)
		}
	})
}

// mixedText is 1 KiB of mostly plain text with some bytes to escape.
var mixedText = func() []byte {
	chunk := "Nov 16 23:54:04 web1 sshd[4242]: Accepted publickey for root\tfrom 10.0.0.1 port 51234 ssh2: ED25519 café\r\n\x1b[0m C:\\x\n"
	return []byte(strings.Repeat(chunk, 1024/len(chunk)+1)[:1024])
}()

func BenchmarkEscape(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(mixedText)))
	for b.Loop() {
		_ = Escape(mixedText)
	}
}

func BenchmarkParse(b *testing.B) {
	line := FormatLine(Record{Status: Fail, Module: "ssh", Host: "myhostlinux1.domain", Stage: StageExit, ExitCode: 1, Message: mixedText})
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}
