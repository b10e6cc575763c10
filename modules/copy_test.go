package modules

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseSums(t *testing.T) {
	a := strings.Repeat("ab", 32)
	b := strings.Repeat("0f", 32)
	for _, tt := range []struct {
		name string
		out  string
		n    int
		want []string
	}{
		{"sha256sum and openssl lines", a + "  -\n" + b + " *stdin\n", 2, []string{a, b}},
		{"unreadable file", a + "  -\n-\n", 2, []string{a, ""}},
		{"upper case hex", strings.ToUpper(a) + "  -\n", 1, []string{a}},
		{"a line missing: trust nothing", a + "  -\n", 2, []string{"", ""}},
		{"garbage: trust nothing", a + "  -\n" + strings.Repeat("zz", 32) + "  -\n", 2, []string{"", ""}},
		{"no output", "", 1, []string{""}},
	} {
		got := make([]string, tt.n)
		parseSums([]byte(tt.out), got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseOwner(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want *ownerSpec
	}{
		{"app", &ownerSpec{user: "app"}},
		{"app:www-data", &ownerSpec{user: "app", group: "www-data"}},
		{":adm", &ownerSpec{group: "adm"}},
		{"1000:1000", &ownerSpec{user: "1000", group: "1000"}},
		{"host$", &ownerSpec{user: "host$"}},
		{"", nil}, {":", nil}, {"-rf", nil}, {"a b", nil}, {"root;id", nil}, {"$x", nil}, {"a:b:c", nil}, {"'", nil},
	} {
		got, err := parseOwner(tt.in)
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("parseOwner(%q) = %+v, want an error", tt.in, got)
		case tt.want != nil && (err != nil || *got != *tt.want):
			t.Errorf("parseOwner(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestCopyArgs(t *testing.T) {
	dir := tree(t, "a.conf", "d/x")
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{dir + "/a.conf"}, "missing SRC or DEST"},
		{[]string{dir + "/a.conf", ""}, "empty DEST"},
		{[]string{"--mode", "rw", dir + "/a.conf", "/x"}, "octal mode"},
		{[]string{"--mode", "17777", dir + "/a.conf", "/x"}, "octal mode"},
		{[]string{"--owner", "a b", dir + "/a.conf", "/x"}, "USER, USER:GROUP"},
		{[]string{dir + "/nope", "/x"}, "no such file"},
		{[]string{dir + "/d", "/x"}, "use -r"},
		{[]string{"--bogus", dir + "/a.conf", "/x"}, "flag provided but not defined"},
	} {
		_, err := Copy{}.Prepare(tt.args, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("copy %q: %v, want %q", tt.args, err, tt.err)
		}
	}
	if _, err := (Copy{}).Prepare([]string{dir + "/a.conf", "/x"}, Options{Interactive: true}); err == nil {
		t.Error("copy with -i: no error")
	}
	// {host} sources are checked per host, not at Prepare.
	if _, err := (Copy{}).Prepare([]string{dir + "/{host}.conf", "/x"}, Options{}); err != nil {
		t.Errorf("copy {host}: %v", err)
	}
}

func TestFetchArgs(t *testing.T) {
	file := tree(t, "f") + "/f"
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"/etc/hosts"}, "missing REMOTE or LOCALDIR"},
		{[]string{"/etc/hosts", file}, "not a directory"},
		{[]string{"/", "out"}, "name a file or directory"},
		{[]string{"/etc/..", "out"}, "name a file or directory"},
		{[]string{"/etc/hosts", "/srv/hosts", "out"}, "would both be fetched"},
	} {
		_, err := Fetch{}.Prepare(tt.args, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("fetch %q: %v, want %q", tt.args, err, tt.err)
		}
	}
}

// TestInput: small input stays in memory, large input is spooled to a file
// nobody else can open; every Reader gives all of it from the start.
func TestInput(t *testing.T) {
	for _, size := range []int{0, 10, inputMemMax, inputMemMax + 1, 3 * inputMemMax} {
		data := make([]byte, size)
		rand.Read(data)
		dir := t.TempDir()
		var in Input
		if err := in.Load(bytes.NewReader(data), dir); err != nil {
			t.Fatal(err)
		}
		if in.Size() != int64(size) || in.Spooled() != (size > inputMemMax) {
			t.Errorf("size %d: Size %d Spooled %v", size, in.Size(), in.Spooled())
		}
		for i := 0; i < 2; i++ {
			got, err := io.ReadAll(in.Reader())
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("size %d, reader %d: %d bytes, %v", size, i, len(got), err)
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("size %d: spool file visible in %s", size, dir)
		}
		in.Close()
	}
}
