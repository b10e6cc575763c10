package output

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSpoolStaysInMemoryUpToLimit(t *testing.T) {
	s := NewSpool(10)
	s.Write([]byte("hello"))
	s.Write([]byte("world"))
	if s.Spilled() || s.Len() != 10 || string(s.Bytes()) != "helloworld" {
		t.Fatalf("spilled %v len %d bytes %q", s.Spilled(), s.Len(), s.Bytes())
	}
	s.Release()
}

func TestSpoolSpillsToAPrivateUnlinkedFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	s := NewSpool(8)
	want := []byte("0123456789abcdef")
	s.Write(want[:5])
	s.Write(want[5:])
	if !s.Spilled() || s.Len() != int64(len(want)) || s.Bytes() != nil && len(s.Bytes()) != 0 {
		t.Fatalf("spilled %v len %d mem %q", s.Spilled(), s.Len(), s.Bytes())
	}
	got, err := io.ReadAll(io.NewSectionReader(s, 0, s.Len()))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %q, %v", got, err)
	}
	// Nothing is left in the directory, not even while the spool is open.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool left %d files in TMPDIR", len(ents))
	}
	// The open file is 0600 and in TMPDIR.
	fd := findDeleted(t, dir)
	if fd == "" {
		t.Fatal("no open spool file found in /proc/self/fd")
	}
	fi, err := os.Stat(fd)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("spool file mode %v, want 0600", fi.Mode().Perm())
	}
	s.Retain()
	s.Release()
	if findDeleted(t, dir) == "" {
		t.Error("a retained spool closed its file")
	}
	s.Release()
	if findDeleted(t, dir) != "" {
		t.Error("the last Release left the file open")
	}
}

// findDeleted returns the /proc/self/fd entry of an open, deleted file in
// dir, or "".
func findDeleted(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal("no /proc/self/fd: ", err)
	}
	for _, e := range ents {
		p := filepath.Join("/proc/self/fd", e.Name())
		target, err := os.Readlink(p)
		if err == nil && strings.HasPrefix(target, dir+"/") && strings.HasSuffix(target, " (deleted)") {
			return p
		}
	}
	return ""
}

func TestSpoolWithoutTempDirDropsOutputAndSaysWhy(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	s := NewSpool(4)
	s.Write([]byte("abc"))
	if n, err := s.Write([]byte("defgh")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v; want the command to go on", n, err)
	}
	if s.Err() == nil || !strings.Contains(s.Err().Error(), "TMPDIR") {
		t.Errorf("Err = %v, want a hint about TMPDIR", s.Err())
	}
	if string(s.Bytes()) != "abc" {
		t.Errorf("kept %q, want the output before the failure", s.Bytes())
	}
}

func TestSpoolSealDropsLaterWrites(t *testing.T) {
	s := NewSpool(0)
	s.Write([]byte("a"))
	s.Seal()
	s.Write([]byte("b"))
	if string(s.Bytes()) != "a" {
		t.Errorf("Bytes = %q after Seal, want %q", s.Bytes(), "a")
	}
}

// spilledRecord returns r with its message moved into a spool: the first
// head bytes as Head, the last tail bytes as Tail, the rest spilled.
func spilledRecord(t testing.TB, r Record, head, tail int) Record {
	t.Helper()
	m := r.Message
	s := NewSpool(1)
	s.Write(m[head : len(m)-tail])
	s.Write(nil)
	if len(m)-tail-head > 1 && !s.Spilled() {
		t.Fatal("spool did not spill")
	}
	r.Spilled = &Spilled{Head: bytes.Clone(m[:head]), Spool: s, N: s.Len(), Tail: bytes.Clone(m[len(m)-tail:])}
	r.Message = nil
	return r
}

// randomMessage mixes what escaping must get right at every boundary:
// ASCII, newlines, backslashes, control bytes, UTF-8 of every length, C1
// controls in UTF-8, U+2028, and invalid bytes.
func randomMessage(r *rand.Rand) []byte {
	parts := []string{"a", "b", "\n", "\\", "\x1b", "\r", "\t", "\x00", "é", "€", "😀", "\u2028", "\u0085", "\u009b", "\x9b", "\xff", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\x80", ":", "\""}
	n := r.IntN(60)
	var b []byte
	for range n {
		b = append(b, parts[r.IntN(len(parts))]...)
	}
	if r.IntN(3) == 0 {
		b = append(b, '\n')
	}
	return b
}

// TestSpilledRecordsPrintLikeInMemoryOnes: a record prints the same bytes
// (OMNI, coloured OMNI, JSON, AppendLine, Message) whether its message is
// in memory or spilled, with pieces cut anywhere.
func TestSpilledRecordsPrintLikeInMemoryOnes(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	old := chunkSize
	defer func() { chunkSize = old }()
	rng := rand.New(rand.NewPCG(3, 4))
	stages := []struct {
		status Status
		stage  string
		exit   int
	}{{Okay, "", 0}, {Fail, StageExit, 1}, {Fail, StageExit, -1}, {Fail, StageTimeout, -1}, {Fail, StageModule, -1}, {Okay, StageExit, 0}}
	for i := range 2000 {
		chunkSize = 4 + rng.IntN(9) // at least a whole UTF-8 sequence
		st := stages[rng.IntN(len(stages))]
		msg := randomMessage(rng)
		if len(msg) < 2 {
			msg = append(msg, "xy"...)
		}
		r := Record{Status: st.status, Stage: st.stage, ExitCode: st.exit, Module: "ssh", Host: "h1",
			Message: msg, Started: time.Unix(1258412044, 0), Duration: time.Millisecond}
		head := rng.IntN(len(msg) / 2)
		tail := rng.IntN(len(msg) - head)
		sr := spilledRecord(t, r, head, tail)
		for _, mk := range []struct {
			name string
			w    func(io.Writer) Writer
		}{
			{"omni", func(w io.Writer) Writer { return NewOmni(w, false) }},
			{"omni color", func(w io.Writer) Writer { return NewOmni(w, true) }},
			{"json", func(w io.Writer) Writer { return NewJSON(w) }},
		} {
			var want, got bytes.Buffer
			mk.w(&want).Write(r)
			if err := mk.w(&got).Write(sr); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("case %d %s, message %q split %d/%d, chunk %d:\n got %q\nwant %q", i, mk.name, msg, head, tail, chunkSize, got.Bytes(), want.Bytes())
			}
		}
		if got, want := AppendLine(nil, sr), AppendLine(nil, r); !bytes.Equal(got, want) {
			t.Fatalf("AppendLine: got %q want %q", got, want)
		}
		if got, want := Message(sr), Message(r); !bytes.Equal(got, want) {
			t.Fatalf("Message: got %q want %q", got, want)
		}
		sr.Release()
	}
}

// TestSpoolDir: $TMPDIR when set; without it /var/tmp (disk on most
// systems), not /tmp (often a tmpfs, whose files are memory).
func TestSpoolDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	if got := SpoolDir(); got != dir {
		t.Errorf("with TMPDIR: %q, want %q", got, dir)
	}
	os.Unsetenv("TMPDIR")
	st, err := os.Stat("/var/tmp")
	if err != nil || !st.IsDir() {
		t.Fatalf("this test needs /var/tmp: %v", err)
	}
	if got := SpoolDir(); got != "/var/tmp" {
		t.Errorf("without TMPDIR: %q, want /var/tmp", got)
	}
	f, err := AnonymousFile("", "dt-test")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !strings.HasPrefix(f.Name(), "/var/tmp/") {
		t.Errorf("AnonymousFile in %q, want /var/tmp", f.Name())
	}
}
