package modules

import (
	"errors"
	"strings"
	"testing"
)

// TestTable is the conformance test every module passes.
func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Table {
		name := m.Name()
		if name == "" || strings.ContainsAny(name, ": \t\n") {
			t.Errorf("module name %q is empty or has a separator", name)
		}
		if seen[name] {
			t.Errorf("module %q registered twice", name)
		}
		seen[name] = true
		if m.Summary() == "" || strings.Contains(m.Summary(), "\n") {
			t.Errorf("%s: Summary must be one non-empty line", name)
		}
		if !strings.HasPrefix(m.Usage(), "dt PATTERN "+name) {
			t.Errorf("%s: Usage must start with the synopsis, got %q", name, firstLine(m.Usage()))
		}
		got, err := Lookup(name)
		if err != nil || got.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, got, err)
		}
	}
}

// TestBadArgs: wrong arguments give a *UsageError, never a panic.
func TestBadArgs(t *testing.T) {
	bad := map[string][]string{
		"ssh":         {},
		"script":      {},
		"list":        {"extra"},
		"sudo":        {},
		"systemctl":   {"frobnicate", "nginx"},
		"journal":     {"--bogus"},
		"runit":       {"status"},
		"svc":         {"reload", "app"},
		"copy":        {"only-one-arg"},
		"deploy":      {"app.conf"},
		"fetch":       {"/etc/hosts"},
		"local":       {},
		"ping":        {"-c", "3"},
		"ssh-copy-id": {},
		"add":         {"bad$tag"},
		"tag":         {"+ok", "-bad tag"},
		"del":         {"extra"},
	}
	for _, m := range Table {
		args, ok := bad[m.Name()]
		if !ok {
			t.Errorf("no bad-argument case for module %s", m.Name())
			continue
		}
		_, err := m.Prepare(args, Options{})
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%s.Prepare(%q) = %v, want *UsageError", m.Name(), args, err)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("shh")
	if err == nil || !strings.Contains(err.Error(), `unknown module "shh"`) || !strings.Contains(err.Error(), "ssh") {
		t.Errorf("Lookup(shh) = %v, want an error listing valid modules", err)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
