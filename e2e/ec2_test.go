package e2e

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/dtools/dt/internal/ec2replay"
)

// TestEC2Pattern runs dt, with the real AWS SDK inside, against a local
// stand-in for the EC2 API that replays DescribeInstances pages (three
// pages; a stopped instance, one without a public address, one with a
// public IP only). Nothing leaves the machine, and nothing is dialed:
// list connects to no host.
func TestEC2Pattern(t *testing.T) {
	srv := ec2replay.Start()
	defer srv.Close()
	home := t.TempDir()
	writeFile(t, home+"/.dtdb", []byte("web9 linux\n"), 0o600)
	env := func(key string) []string { return srv.Env(key) }

	r := dtEnv(t, home, env("AKIDREPLAYOK00000000"), "ec2:tag=role=web:tag:prod", "list")
	want := []string{
		"okay::dt:list:198.51.100.7:Name=web-5 web-5 Owner=Jane_Doe Jane_Doe backup env=prod prod role=web web",
		"okay::dt:list:ec2-203-0-113-10.eu-west-1.compute.amazonaws.com:Name=web-1 web-1 env=prod prod role=web web",
		"okay::dt:list:ec2-203-0-113-13.eu-west-1.compute.amazonaws.com:Name=web-4 web-4 env=prod prod role=web web",
	}
	got := lines(r.stdout)
	sort.Strings(got)
	if r.code != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("exit %d\n%s\nwant\n%s", r.code, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(r.stderr, "dt: warning: ec2: instance i-0aaa000000000web3 (web-3) has no public DNS name or IP address; left out") {
		t.Errorf("no warning about web-3: %q", r.stderr)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 || !reflect.DeepEqual(reqs[0].Filters, map[string][]string{"instance-state-name": {"running"}, "tag:role": {"web"}}) {
		t.Errorf("requests %+v", reqs)
	}

	// Private addresses; dtools' forms; unions with the inventory.
	r = dtEnv(t, home, env("AKIDREPLAYOK00000000"), "--ec2-private", "-p", "ec2:web-*+sys:web9", "list")
	if want := "web9\n10.0.1.10\n10.0.1.12\n10.0.1.14\n10.0.1.13\n"; r.code != 0 || r.stdout != want {
		t.Errorf("private: exit %d %q, want %q", r.code, r.stdout, want)
	}
	for pattern, filter := range map[string]string{"ec2:web-*": "tag:Name", "ec2:sec=frontend": "instance.group-name", "ec2:vpc-id=vpc-1": "vpc-id"} {
		before := len(srv.Requests())
		r = dtEnv(t, home, env("AKIDREPLAYOK00000000"), "-p", pattern, "list")
		reqs := srv.Requests()[before:]
		if r.code != 0 || len(reqs) == 0 || len(reqs[0].Filters[filter]) != 1 {
			t.Errorf("%s: exit %d, requests %+v, want filter %s", pattern, r.code, reqs, filter)
		}
	}

	// Credential problems and API refusals: exit 2, one error, a hint.
	cases := []struct {
		env  []string
		want string
	}{
		{without(env(""), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "dt: error: ec2: no usable AWS credentials"},
		{without(env("AKIDREPLAYOK00000000"), "AWS_REGION"), "dt: error: ec2: no AWS region\ndt: hint: set AWS_REGION"},
		{env(ec2replay.BadAccessKeyID), "dt: error: ec2: DescribeInstances with tag:role=web: AuthFailure: AWS was not able to validate the provided access credentials\ndt: hint: set AWS_ACCESS_KEY_ID"},
	}
	for _, c := range cases {
		r = dtEnv(t, home, c.env, "ec2:tag=role=web", "list")
		if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, c.want) || len(lines(r.stderr)) != 2 {
			t.Errorf("exit %d, stderr %q, want exit 2 and %q...", r.code, r.stderr, c.want)
		}
	}
	if e := srv.Errors(); len(e) > 0 {
		t.Errorf("malformed requests: %q", e)
	}
}

// dtEnv runs dt with HOME=home, PATH and env only.
func dtEnv(t *testing.T, home string, env []string, args ...string) run {
	t.Helper()
	return dtLocalEnv(t, home, env, "", args...)
}

// without blanks the variables keys in env.
func without(env []string, keys ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range keys {
			keep = keep && k != d
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
