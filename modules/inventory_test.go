package modules

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
)

// runBatch runs a BatchJob's edit over names, without connecting.
func runBatch(t *testing.T, job Job, names ...string) []output.Record {
	t.Helper()
	var hs []*Host
	for _, n := range names {
		hs = append(hs, &Host{Entry: hosts.Host{Hop: hosts.Hop{Name: n}}, Module: "m"})
	}
	var recs []output.Record
	job.(BatchJob).RunBatch(context.Background(), hs, func(func(context.Context, *Host)) { t.Fatal("connected") }, func(r output.Record) { recs = append(recs, r) })
	return recs
}

func TestTagAndDel(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dtdb")
	if err := os.WriteFile(file, []byte("# mine\nweb1 linux web  # first\nweb2 linux web\ndb1 linux db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	job, err := Tag{}.Prepare([]string{"+prod", "-web", "new"}, Options{Inventory: file})
	if err != nil {
		t.Fatal(err)
	}
	recs := runBatch(t, job, "web1", "nohost")
	if string(recs[0].Message) != "linux prod new" || recs[0].Status != output.Okay {
		t.Errorf("web1: %s %q", recs[0].Status, recs[0].Message)
	}
	if recs[1].Status != output.Fail || !strings.Contains(string(recs[1].Message), "not in the inventory") {
		t.Errorf("nohost: %s %q", recs[1].Status, recs[1].Message)
	}
	job, _ = Del{}.Prepare(nil, Options{Inventory: file})
	if err := job.(HostsChecker).CheckHosts(make([]hosts.Host, 2)); err == nil {
		t.Error("deleting two hosts without --yes or a terminal was allowed")
	}
	no := func(string) (bool, error) { return false, nil }
	job, _ = Del{}.Prepare(nil, Options{Inventory: file, Confirm: no})
	if err := job.(HostsChecker).CheckHosts(make([]hosts.Host, 2)); !errors.Is(err, ErrDeclined) {
		t.Errorf("declined: %v", err)
	}
	recs = runBatch(t, job, "db1")
	if recs[0].Status != output.Okay {
		t.Errorf("del db1: %q", recs[0].Message)
	}
	got, _ := os.ReadFile(file)
	if want := "# mine\nweb1 linux prod new  # first\nweb2 linux web\n"; string(got) != want {
		t.Errorf("file:\n%q\nwant\n%q", got, want)
	}
}

func TestAddNoKeyscan(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "dtdb")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	job, err := Add{}.Prepare([]string{"--no-keyscan", "web", "env=prod"}, Options{Inventory: file})
	if err != nil {
		t.Fatal(err)
	}
	recs := runBatch(t, job, "web1", "web2")
	for _, r := range recs {
		if r.Status != output.Okay || !strings.HasPrefix(string(r.Message), "added (tags: web env=prod); host key not fetched") {
			t.Errorf("%s: %s %q", r.Host, r.Status, r.Message)
		}
	}
	job, _ = Add{}.Prepare([]string{"--no-keyscan", "web", "db"}, Options{Inventory: file})
	recs = runBatch(t, job, "web1")
	if want := "present (tags: web env=prod db; new: db)"; !strings.HasPrefix(string(recs[0].Message), want) {
		t.Errorf("again: %q, want %q...", recs[0].Message, want)
	}
	got, _ := os.ReadFile(file)
	if want := "web1 web env=prod db\nweb2 web env=prod\n"; string(got) != want {
		t.Errorf("file %q, want %q", got, want)
	}
}

func TestLocalCommand(t *testing.T) {
	tests := []struct{ cmd, host, want string }{
		{"echo", "web1", "echo web1"},
		{"dig +short {host}", "web1", "dig +short web1"},
		{"echo {host}-{host}", "db1", "echo db1-db1"},
		{"echo", "fe80::1%eth0", "echo fe80::1%eth0"},
		{"echo {host}", "a b'c", `echo 'a b'\''c'`}, // never a valid name, but quoted all the same
	}
	for _, tt := range tests {
		if got := localCommand(tt.cmd, tt.host); got != tt.want {
			t.Errorf("localCommand(%q, %q) = %q, want %q", tt.cmd, tt.host, got, tt.want)
		}
	}
}

func TestParsePublicKeys(t *testing.T) {
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsHm3dMPMDBvPGS7PN/5KgHBQr5Gq52iNc9qBnjZ6hB me@box"
	keys, err := parsePublicKeys("k.pub", []byte("# mine\n\n"+pub+"\n"))
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if keys[0].blob != "AAAAC3NzaC1lZDI1NTE5AAAAIOsHm3dMPMDBvPGS7PN/5KgHBQr5Gq52iNc9qBnjZ6hB" || !strings.HasSuffix(keys[0].desc, " me@box") {
		t.Errorf("key %+v", keys[0])
	}
	if _, err := parsePublicKeys("id", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("private key: %v", err)
	}
	if _, err := parsePublicKeys("x", []byte("hello\n")); err == nil {
		t.Error("garbage accepted")
	}
}
