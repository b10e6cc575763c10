package ec2

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/internal/ec2replay"
)

// setEnv points the SDK at srv (see ec2replay.Server.Env) for one test,
// with nothing else of AWS from the environment.
func setEnv(t *testing.T, env []string) {
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func TestHostsRecorded(t *testing.T) {
	srv := ec2replay.Start()
	defer srv.Close()
	setEnv(t, srv.Env("AKIDREPLAYOK00000000"))
	var warnings []string
	c := New(Options{Warn: func(s string) { warnings = append(warnings, s) }})
	hs, err := c.Hosts(context.Background(), hosts.EC2{Text: "tag=role=web", Filter: "tag:role", Value: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hs {
		got = append(got, h.Name+" "+strings.Join(h.Tags, " ")+" @"+h.Where)
	}
	want := []string{
		"ec2-203-0-113-10.eu-west-1.compute.amazonaws.com Name=web-1 web-1 env=prod prod role=web web @ec2:i-0aaa000000000web1",
		"198.51.100.7 Name=web-5 web-5 Owner=Jane_Doe Jane_Doe backup env=prod prod role=web web @ec2:i-0aaa000000000web5",
		"ec2-203-0-113-13.eu-west-1.compute.amazonaws.com Name=web-4 web-4 env=prod prod role=web web @ec2:i-0aaa000000000web4",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hosts:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "i-0aaa000000000web3 (web-3) has no public DNS name or IP address") {
		t.Errorf("warnings %q", warnings)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 || reqs[1].NextToken == "" || reqs[2].NextToken == "" {
		t.Fatalf("requests %+v, want three pages", reqs)
	}
	for _, r := range reqs {
		if !reflect.DeepEqual(r.Filters, map[string][]string{"instance-state-name": {"running"}, "tag:role": {"web"}}) || r.Region != "eu-west-1" {
			t.Errorf("request %+v", r)
		}
	}
	if e := srv.Errors(); len(e) > 0 {
		t.Errorf("malformed requests: %q", e)
	}

	// The private addresses, with --ec2-private.
	c = New(Options{Private: true})
	hs, err = c.Hosts(context.Background(), hosts.EC2{Filter: "instance.group-name", Value: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hs {
		names = append(names, h.Name)
	}
	if want := []string{"10.0.1.10", "10.0.1.12", "10.0.1.14", "10.0.1.13"}; !reflect.DeepEqual(names, want) {
		t.Errorf("private names %q, want %q", names, want)
	}
}

func TestHostsErrors(t *testing.T) {
	srv := ec2replay.Start()
	defer srv.Close()
	q := hosts.EC2{Filter: "tag:Name", Value: "web-*"}
	tests := []struct {
		name string
		env  []string
		q    hosts.EC2
		want string
	}{
		{"no credentials", without(srv.Env(""), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), q, "ec2: no usable AWS credentials"},
		{"no region", without(srv.Env("AKIDREPLAYOK00000000"), "AWS_REGION"), q, "ec2: no AWS region"},
		{"refused key", srv.Env(ec2replay.BadAccessKeyID), q, "ec2: DescribeInstances with tag:Name=web-*: AuthFailure: AWS was not able to validate"},
		{"bad filter", srv.Env("AKIDREPLAYOK00000000"), hosts.EC2{Filter: "colour", Value: "red"}, "ec2: DescribeInstances with colour=red: InvalidParameterValue: The filter 'colour' is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			_, err := New(Options{}).Hosts(context.Background(), tt.q)
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q...", err, tt.want)
			}
			if tt.name != "bad filter" && e.Hint == "" {
				t.Error("no hint")
			}
		})
	}
}

func without(env []string, keys ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, d := range keys {
			drop = drop || k == d
		}
		if drop {
			out = append(out, k+"=")
		} else {
			out = append(out, kv)
		}
	}
	return out
}

func TestTags(t *testing.T) {
	got := Tags([]types.Tag{
		{Key: aws.String("team"), Value: aws.String("a/b c")},
		{Key: aws.String("Name"), Value: aws.String("-web")},
		{Key: aws.String("flag"), Value: aws.String("")},
		{Key: aws.String("env"), Value: aws.String("prod")},
		{Key: aws.String("stage"), Value: aws.String("prod")},
	})
	want := []string{"Name=-web", "_web", "env=prod", "prod", "flag", "stage=prod", "team=a_b_c", "a_b_c"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tags = %q, want %q", got, want)
	}
	for _, tag := range got {
		if err := hosts.CheckTag(tag); err != nil {
			t.Errorf("%q: %v", tag, err)
		}
	}
}

// TestHostBadAddress: an address that is not a host name (it would reach
// a shell through ssh_config's %h, or local's command line) leaves the
// instance out with a warning; good names and IPs are kept.
func TestHostBadAddress(t *testing.T) {
	running := &types.InstanceState{Name: types.InstanceStateNameRunning}
	for _, c := range []struct {
		dns, ip string
		private bool
		want    string // "" when left out
	}{
		{dns: "ec2-1-2-3-4.compute.amazonaws.com", want: "ec2-1-2-3-4.compute.amazonaws.com"},
		{ip: "2001:db8::1", want: "2001:db8::1"},
		{dns: "x;touch /tmp/pwned"},
		{dns: "$(id)"},
		{dns: "-oProxyCommand=sh"},
		{dns: "root@web1"},
		{dns: "web1:2222"},
		{dns: "web 1"},
		{ip: "10.0.0.1;id", private: true},
	} {
		var warnings []string
		cl := New(Options{Private: c.private, Warn: func(s string) { warnings = append(warnings, s) }})
		inst := types.Instance{State: running, InstanceId: aws.String("i-1")}
		if c.private {
			inst.PrivateIpAddress = aws.String(c.ip)
		} else {
			inst.PublicDnsName, inst.PublicIpAddress = aws.String(c.dns), aws.String(c.ip)
		}
		h, ok := cl.host(inst)
		switch {
		case c.want != "" && (!ok || h.Name != c.want):
			t.Errorf("%q %q: got %q %v, want %q", c.dns, c.ip, h.Name, ok, c.want)
		case c.want == "" && (ok || len(warnings) != 1 || !strings.Contains(warnings[0], "not a host name")):
			t.Errorf("%q %q: got %q %v, warnings %q; want it left out with a warning", c.dns, c.ip, h.Name, ok, warnings)
		}
	}
}
