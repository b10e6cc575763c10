package hosts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseEC2(t *testing.T) {
	tests := []struct {
		in, filter, value string
	}{
		{"ec2:web-*", "tag:Name", "web-*"},
		{"ec2:tag=role=web", "tag:role", "web"},
		{"ec2:tag=team=a=b", "tag:team", "a=b"},
		{"ec2:sec=frontend", "instance.group-name", "frontend"},
		{"ec2:instance-type=t3.*", "instance-type", "t3.*"},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		e, ok := p.(EC2)
		if !ok || e.Filter != tt.filter || e.Value != tt.value || e.String() != tt.in {
			t.Errorf("%s = %#v", tt.in, p)
		}
	}
	for _, bad := range []string{"ec2:", "ec2:tag=role", "ec2:tag==x", "ec2:=x", "ec2:sec=", "ec2:tag=k="} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
	// Chains and unions split around ec2: like any key.
	p, err := ParsePattern("ec2:tag=role=web:tag:prod+ec2:db-*")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.String(); got != "ec2:tag=role=web:tag:prod+ec2:db-*" {
		t.Errorf("String() = %q", got)
	}
}

func TestSelectEC2(t *testing.T) {
	inv, err := ParseInventory(strings.NewReader("web1 linux\ndb9 linux\n"), "db")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	env := Env{Inv: inv, EC2: func(q EC2) ([]Host, error) {
		calls[q.Text]++
		switch q.Value {
		case "web":
			return []Host{
				{Hop: Hop{Name: "ec2-1.example"}, Tags: []string{"role=web", "web", "env=prod", "prod"}, Where: "ec2:i-1"},
				{Hop: Hop{Name: "ec2-2.example"}, Tags: []string{"role=web", "web", "env=dev", "dev"}, Where: "ec2:i-2"},
				{Hop: Hop{Name: "web1"}, Tags: []string{"role=web", "web", "env=prod", "prod"}, Where: "ec2:i-3"},
			}, nil
		case "broken":
			return nil, errors.New("no credentials")
		}
		return nil, nil
	}}
	tests := []struct {
		pattern string
		want    []string
	}{
		{"ec2:tag=role=web", []string{"web1 linux role=web web env=prod prod", "ec2-1.example role=web web env=prod prod", "ec2-2.example role=web web env=dev dev"}},
		{"ec2:tag=role=web:tag:prod", []string{"web1 linux role=web web env=prod prod", "ec2-1.example role=web web env=prod prod"}},
		{"ec2:tag=role=web:tag:env=dev", []string{"ec2-2.example role=web web env=dev dev"}},
		{"ec2:tag=role=web:tag:linux", []string{"web1 linux role=web web env=prod prod"}},
		{"ec2:tag=role=web:not:tag:prod", []string{"ec2-2.example role=web web env=dev dev"}},
		{"tag:linux:ec2:tag=role=web", []string{"web1 linux role=web web env=prod prod"}},
		{"ec2:tag=role=none", nil},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := Select(p, env)
		if err != nil {
			t.Fatalf("%s: %v", tt.pattern, err)
		}
		var got []string
		for _, h := range hs {
			got = append(got, strings.Join(append([]string{h.Name}, h.Tags...), " "))
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.pattern, got, tt.want)
		}
	}
	// The inventory is not changed by the tags an instance brings.
	if h, _ := inv.Lookup("web1"); !reflect.DeepEqual(h.Tags, []string{"linux"}) {
		t.Errorf("inventory web1 now has %q", h.Tags)
	}
	// One call per term per Select, however often it appears.
	calls = map[string]int{}
	p, _ := ParsePattern("ec2:tag=role=web+ec2:tag=role=web:tag:prod")
	if _, err := Select(p, env); err != nil || calls["tag=role=web"] != 1 {
		t.Errorf("calls %v, %v", calls, err)
	}
	p, _ = ParsePattern("ec2:tag=x=broken")
	if _, err := Select(p, env); err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("error: %v", err)
	}
	if _, err := Select(p, Env{Inv: inv}); err == nil {
		t.Error("ec2: without Env.EC2 selected something")
	}
}
