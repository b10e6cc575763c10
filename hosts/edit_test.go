package hosts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const editSample = "# fleet\n" +
	"\n" +
	"web1   linux web   # the first one\n" +
	"root@db1:2222 linux db\n" +
	"\tweb2 linux web\n" +
	"web1 prod\n" +
	"# end\n"

func TestDocEdits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		edit func(d *Doc) error
		want string
	}{
		{
			name: "nothing",
			in:   editSample,
			edit: func(d *Doc) error { return nil },
			want: editSample,
		},
		{
			name: "add tags before the comment, on the first line",
			in:   editSample,
			edit: func(d *Doc) error { d.SetTags("web1", []string{"canary", "prod"}, nil); return nil },
			want: strings.Replace(editSample, "web1   linux web   # the first one", "web1   linux web canary   # the first one", 1),
		},
		{
			name: "remove a tag from every line",
			in:   editSample,
			edit: func(d *Doc) error { d.SetTags("web1", nil, []string{"prod", "web"}); return nil },
			want: strings.Replace(strings.Replace(editSample, "web1   linux web   #", "web1   linux   #", 1), "web1 prod\n", "web1\n", 1),
		},
		{
			name: "add and remove",
			in:   editSample,
			edit: func(d *Doc) error { d.SetTags("db1", []string{"x", "y"}, []string{"linux"}); return nil },
			want: strings.Replace(editSample, "root@db1:2222 linux db", "root@db1:2222 db x y", 1),
		},
		{
			name: "delete every line of a host",
			in:   editSample,
			edit: func(d *Doc) error { d.Delete("web1"); return nil },
			want: "# fleet\n\nroot@db1:2222 linux db\n\tweb2 linux web\n# end\n",
		},
		{
			name: "add a new host at the end",
			in:   editSample,
			edit: func(d *Doc) error {
				_, err := d.Add(Host{Hop: Hop{User: "admin", Name: "db9", Port: "22"}, Jump: []Hop{{Name: "bastion"}}}, []string{"db", "new"})
				return err
			},
			want: editSample + "admin@db9:22|bastion db new\n",
		},
		{
			name: "add to a file without a final newline",
			in:   "web1 a",
			edit: func(d *Doc) error { _, err := d.Add(Host{Hop: Hop{Name: "web2"}}, nil); return err },
			want: "web1 a\nweb2\n",
		},
		{
			name: "CRLF file keeps CRLF",
			in:   "web1 a\r\nweb2 b\r\n",
			edit: func(d *Doc) error {
				d.SetTags("web2", []string{"c"}, nil)
				_, err := d.Add(Host{Hop: Hop{Name: "web3"}}, []string{"d"})
				return err
			},
			want: "web1 a\r\nweb2 b c\r\nweb3 d\r\n",
		},
		{
			name: "existing host merges tags",
			in:   editSample,
			edit: func(d *Doc) error {
				added, err := d.Add(Host{Hop: Hop{Name: "web2"}}, []string{"web", "new"})
				if added {
					return errors.New("web2 reported as added")
				}
				return err
			},
			want: strings.Replace(editSample, "\tweb2 linux web\n", "\tweb2 linux web new\n", 1),
		},
		{
			name: "BOM stays",
			in:   "\ufeffweb1 a\n",
			edit: func(d *Doc) error { d.SetTags("web1", []string{"b"}, []string{"a"}); return nil },
			want: "\ufeffweb1 b\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDoc([]byte(tt.in), "db")
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.edit(d); err != nil {
				t.Fatal(err)
			}
			if got := string(d.Bytes()); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			if d.Changed() != (tt.in != tt.want) {
				t.Errorf("Changed() = %v", d.Changed())
			}
			if _, err := ParseInventory(strings.NewReader(string(d.Bytes())), "out"); err != nil {
				t.Errorf("result does not parse: %v", err)
			}
		})
	}
}

func TestDocLookupAndConflicts(t *testing.T) {
	d, err := ParseDoc([]byte(editSample), "db")
	if err != nil {
		t.Fatal(err)
	}
	h, ok := d.Lookup("web1")
	if !ok || strings.Join(h.Tags, " ") != "linux web prod" || h.Where != "db:3" {
		t.Errorf("Lookup(web1) = %+v, %v", h, ok)
	}
	if _, ok := d.Lookup("nope"); ok {
		t.Error("Lookup(nope) found a host")
	}
	if _, err := d.Add(Host{Hop: Hop{Name: "db1", Port: "22"}}, nil); err == nil || !strings.Contains(err.Error(), `as "root@db1:2222" at db:4`) {
		t.Errorf("port conflict: %v", err)
	}
	if _, err := d.Add(Host{Hop: Hop{Name: "web9"}}, []string{"bad tag"}); err == nil {
		t.Error("a bad tag was accepted")
	}
	if d.SetTags("nope", []string{"x"}, nil) || d.Delete("nope") {
		t.Error("an absent host was edited")
	}
	if d.Changed() {
		t.Error("failed edits changed the doc")
	}
}

func TestParseDocRejectsMalformed(t *testing.T) {
	_, err := ParseDoc([]byte("web1 ok\nweb2:99999 x\n"), "db")
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("err = %v, want a ParseError at line 2", err)
	}
}

func TestUpdateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dtdb")
	writeTestFile(t, path, editSample, 0o640)

	err := UpdateFile(path, false, func(d *Doc) error {
		d.SetTags("web2", []string{"new"}, nil)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := strings.Replace(editSample, "\tweb2 linux web\n", "\tweb2 linux web new\n", 1); string(got) != want {
		t.Errorf("file is\n%q\nwant\n%q", got, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}

	// An edit's error: nothing written.
	before, _ := os.ReadFile(path)
	boom := errors.New("boom")
	if err := UpdateFile(path, false, func(d *Doc) error { d.Delete("web1"); return boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a failed edit wrote the file")
	}

	// Missing file: ErrNoInventory, or created.
	missing := filepath.Join(dir, "none")
	if err := UpdateFile(missing, false, func(*Doc) error { return nil }); !errors.Is(err, ErrNoInventory) {
		t.Errorf("missing file: %v", err)
	}
	err = UpdateFile(missing, true, func(d *Doc) error {
		_, err := d.Add(Host{Hop: Hop{Name: "h1"}}, []string{"a"})
		return err
	})
	if got, _ := os.ReadFile(missing); err != nil || string(got) != "h1 a\n" {
		t.Errorf("created %q, %v", got, err)
	}
}

func TestUpdateFileMalformedUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dtdb")
	bad := "web1 a\n# comment\nweb2 b$d\n"
	writeTestFile(t, path, bad, 0o600)
	st0, _ := os.Stat(path)
	err := UpdateFile(path, false, func(d *Doc) error { d.SetTags("web1", []string{"x"}, nil); return nil })
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 3 {
		t.Fatalf("err = %v, want a ParseError at line 3", err)
	}
	st1, _ := os.Stat(path)
	if got, _ := os.ReadFile(path); string(got) != bad || !os.SameFile(st0, st1) {
		t.Error("a malformed inventory was rewritten")
	}
}

func TestUpdateFileFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	writeTestFile(t, real, "web1 a\n", 0o600)
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	if err := UpdateFile(link, false, func(d *Doc) error { d.SetTags("web1", []string{"b"}, nil); return nil }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if got, _ := os.ReadFile(real); string(got) != "web1 a b\n" {
		t.Errorf("real file: %q", got)
	}
}

// TestUpdateFileConcurrent: editors that each add their own tag to every
// host, all at once, lose none of them (each UpdateFile opens the file
// anew, so flock serialises them as it would separate processes).
func TestUpdateFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dtdb")
	writeTestFile(t, path, "# hosts\nh1 a\nh2 b # two\nh3\n", 0o600)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = UpdateFile(path, false, func(d *Doc) error {
				for _, h := range []string{"h1", "h2", "h3"} {
					d.SetTags(h, []string{fmt.Sprintf("t%d", i)}, nil)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	inv, err := ParseInventory(strings.NewReader(string(data)), "dtdb")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range inv.Hosts {
		for i := range errs {
			if !h.HasTag(fmt.Sprintf("t%d", i)) {
				t.Errorf("%s lost t%d: %q", h.Name, i, data)
			}
		}
	}
	if !strings.HasPrefix(string(data), "# hosts\n") || !strings.Contains(string(data), " # two\n") {
		t.Errorf("comments lost: %q", data)
	}
}

func TestUpdateFileRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dtdb")
	writeTestFile(t, path, "h1\n", 0o600)
	stale := filepath.Join(dir, ".dtdb"+tempInfix+"123")
	writeTestFile(t, stale, "half a fi", 0o600)
	if err := UpdateFile(path, false, func(d *Doc) error { d.SetTags("h1", []string{"x"}, nil); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file still there: %v", err)
	}
}

func writeTestFile(t *testing.T, path, data string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// FuzzDocEdits: for any inventory that parses, edits leave a file that
// parses, with exactly the changes asked for; no edit leaves it byte for
// byte as it was.
func FuzzDocEdits(f *testing.F) {
	f.Add(editSample, "web1", "x", "web")
	f.Add("a b\r\nb c # d\n\n# e\na f", "a", "g", "b")
	f.Add("\ufeffh1\th2x  # c\nh1 t", "h1", "t", "h2x")
	f.Fuzz(func(t *testing.T, in, host, add, remove string) {
		d, err := ParseDoc([]byte(in), "f")
		if err != nil {
			return
		}
		if string(d.Bytes()) != in {
			t.Fatalf("unedited doc differs: %q", d.Bytes())
		}
		before, _ := ParseInventory(strings.NewReader(in), "f")
		if validTag(add) && validTag(remove) && add != remove {
			d.SetTags(host, []string{add}, []string{remove})
		}
		out := string(d.Bytes())
		after, err := ParseInventory(strings.NewReader(out), "f")
		if err != nil {
			t.Fatalf("edited file does not parse: %v\n%q", err, out)
		}
		if len(after.Hosts) != len(before.Hosts) {
			t.Fatalf("%d hosts, want %d", len(after.Hosts), len(before.Hosts))
		}
		for i, h := range after.Hosts {
			b := before.Hosts[i]
			if h.Name != b.Name || h.Hop != b.Hop {
				t.Fatalf("host %d: %v, was %v", i, h.Hop, b.Hop)
			}
			if h.Name != host || !validTag(add) || !validTag(remove) || add == remove {
				if strings.Join(h.Tags, " ") != strings.Join(b.Tags, " ") {
					t.Fatalf("%s: tags %q, were %q", h.Name, h.Tags, b.Tags)
				}
				continue
			}
			if !h.HasTag(add) || h.HasTag(remove) {
				t.Fatalf("%s: tags %q after +%s -%s", h.Name, h.Tags, add, remove)
			}
		}
		if d.Delete(host) {
			if _, err := ParseInventory(strings.NewReader(string(d.Bytes())), "f"); err != nil {
				t.Fatalf("after delete: %v", err)
			}
			if h, ok := d.Lookup(host); ok {
				t.Fatalf("%s still there: %v", host, h)
			}
		}
	})
}
