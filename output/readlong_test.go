package output

import (
	"bytes"
	"io"
	"math/rand"
	"strings"
	"testing"
)

// TestReadRecordsLongLines: a line over maxLine is read back as the same
// record (its message spilled, every escape cut by a read boundary
// undone), a bad one is reported with its number without eating the next
// line, and lines that are no record are skipped without being kept.
func TestReadRecordsLongLines(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	msg := make([]byte, 3*maxLine)
	for i := range msg {
		msg[i] = byte(rnd.Intn(256)) // many control bytes: many escapes
	}
	long := []Record{
		{Status: Okay, Module: "ssh", Host: "h1", Message: msg},
		{Status: Fail, Module: "ssh", Host: "::1", Stage: StageExit, ExitCode: 2, Message: msg[:maxLine+7]},
	}
	var in bytes.Buffer
	for _, r := range long {
		in.WriteString(FormatLine(r))
	}
	in.WriteString("okay::dt:ssh:h3:" + strings.Repeat("a", maxLine) + `\q` + "\n")
	in.WriteString("okay::dt:ssh:h4:after a bad one\n")
	in.WriteString(strings.Repeat("garbage", maxLine) + "\n")
	in.WriteString("{" + strings.Repeat(" ", maxJSONLine) + "}\n")
	in.WriteString("okay::dt:ssh:h5:" + strings.Repeat("b", maxLine) + `\`)

	var got []Record
	var bad []int
	err := ReadRecords(&in, func(r Record) error {
		r.Retain()
		got = append(got, r)
		return nil
	}, func(n int, err error) { bad = append(bad, n) })
	if err != nil || len(got) != 3 {
		t.Fatalf("%d records, %v", len(got), err)
	}
	for i, r := range long {
		g := got[i]
		if g.Spilled == nil {
			t.Errorf("record %d: not spilled", i)
		}
		m, _ := io.ReadAll(g.Spilled.Reader())
		if g.Host != r.Host || g.Status != r.Status || g.Stage != r.Stage || g.ExitCode != r.ExitCode || !bytes.Equal(m, append(bytes.Clone(r.Message), '\n')) {
			t.Errorf("record %d: %s %s %s %d, message equal %v", i, g.Status, g.Host, g.Stage, g.ExitCode, bytes.Equal(m, r.Message))
		}
		g.Release()
	}
	if got[2].Host != "h4" {
		t.Errorf("third record %q, want h4", got[2].Host)
	}
	if want := []int{3, 5, 6, 7}; len(bad) != len(want) || bad[0] != 3 || bad[1] != 5 || bad[2] != 6 || bad[3] != 7 {
		t.Errorf("bad lines %v, want %v", bad, want)
	}
}
