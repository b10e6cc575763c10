package ec2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	sdk "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/dtools/dt/hosts"
)

// Options say how instances become hosts.
type Options struct {
	// Private names instances by their private IP address instead of
	// their public DNS name (else public IP).
	Private bool
	// Warn receives a line for each running instance that is left out
	// because it has no address of the kind asked for; nil drops them.
	Warn func(msg string)
}

// Error is a failure to list instances: Err says what went wrong, Hint
// what to do about it.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return "ec2: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Client lists instances. The AWS configuration (credentials, region) is
// loaded on first use, once.
type Client struct {
	opts Options

	once sync.Once
	api  *sdk.Client
	err  error
}

// New returns a Client.
func New(opts Options) *Client { return &Client{opts: opts} }

// credentialHint says where the standard chain looks.
const credentialHint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials or ~/.aws/config (aws configure; aws sso login), or run on an instance with a role"

// load reads the AWS configuration and checks that it has a region and
// credentials, so that their absence is said plainly, before any call.
func (c *Client) load(ctx context.Context) (*sdk.Client, error) {
	c.once.Do(func() {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			c.err = &Error{Err: fmt.Errorf("loading the AWS configuration: %w", err), Hint: "check ~/.aws/config, ~/.aws/credentials and the AWS_* variables"}
			return
		}
		if cfg.Region == "" {
			c.err = &Error{Err: errors.New("no AWS region"), Hint: "set AWS_REGION (e.g. AWS_REGION=eu-west-1), or region in the profile of ~/.aws/config"}
			return
		}
		if cfg.Credentials == nil {
			c.err = &Error{Err: errors.New("no AWS credentials"), Hint: credentialHint}
			return
		}
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			c.err = &Error{Err: fmt.Errorf("no usable AWS credentials: %v", err), Hint: credentialHint}
			return
		}
		c.api = sdk.NewFromConfig(cfg)
	})
	return c.api, c.err
}

// Hosts returns the running instances q's filter selects, every page of
// them, as hosts: Name their address, Tags their AWS tags, Where
// "ec2:INSTANCE-ID".
func (c *Client) Hosts(ctx context.Context, q hosts.EC2) ([]hosts.Host, error) {
	api, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	in := &sdk.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
		{Name: aws.String(q.Filter), Values: []string{q.Value}},
	}}
	var out []hosts.Host
	seen := map[string]bool{}
	tokens := map[string]bool{}
	// Pages by hand rather than with the SDK's paginator: it takes the
	// client as an interface, and an *sdk.Client in an interface keeps
	// all of its hundreds of operations in dt's binary (text/template,
	// which the CLI's help uses, makes the linker keep every exported
	// method of such types): ~48 MB more.
	for {
		page, err := api.DescribeInstances(ctx, in)
		if err != nil {
			return nil, apiError(q, err)
		}
		for _, r := range page.Reservations {
			for _, inst := range r.Instances {
				h, ok := c.host(inst)
				if ok && !seen[h.Name] {
					seen[h.Name] = true
					out = append(out, h)
				}
			}
		}
		next := aws.ToString(page.NextToken)
		if next == "" {
			return out, nil
		}
		if tokens[next] {
			return nil, &Error{Err: fmt.Errorf("DescribeInstances with %s=%s: the API handed out page token %q twice", q.Filter, q.Value, next)}
		}
		tokens[next] = true
		in.NextToken = aws.String(next)
	}
}

// apiError words an error of DescribeInstances for the person.
func apiError(q hosts.EC2, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		hint := ""
		switch code := ae.ErrorCode(); {
		case code == "InvalidParameterValue" || strings.HasPrefix(code, "InvalidFilter"):
			hint = "see the filters of aws ec2 describe-instances; ec2:NAME, ec2:tag=KEY=VALUE and ec2:sec=GROUP need none"
		case strings.Contains(code, "Unauthorized") || strings.Contains(code, "AuthFailure") || strings.Contains(code, "Token") || strings.Contains(code, "Signature"):
			hint = credentialHint
		}
		return &Error{Err: fmt.Errorf("DescribeInstances with %s=%s: %s: %s", q.Filter, q.Value, ae.ErrorCode(), ae.ErrorMessage()), Hint: hint}
	}
	return &Error{Err: fmt.Errorf("DescribeInstances with %s=%s: %w", q.Filter, q.Value, err)}
}

// host turns a running instance into a host; ok is false for an instance
// that is not running or has no address of the kind asked for.
func (c *Client) host(inst types.Instance) (hosts.Host, bool) {
	if inst.State == nil || inst.State.Name != types.InstanceStateNameRunning {
		return hosts.Host{}, false
	}
	id := aws.ToString(inst.InstanceId)
	var name string
	if c.opts.Private {
		name = aws.ToString(inst.PrivateIpAddress)
	} else if name = aws.ToString(inst.PublicDnsName); name == "" {
		name = aws.ToString(inst.PublicIpAddress)
	}
	label := id
	for _, t := range inst.Tags {
		if aws.ToString(t.Key) == "Name" && aws.ToString(t.Value) != "" {
			label += " (" + aws.ToString(t.Value) + ")"
		}
	}
	if name == "" {
		if c.opts.Private {
			c.warn("ec2: instance %s has no private IP address; left out", label)
		} else {
			c.warn("ec2: instance %s has no public DNS name or IP address; left out (--ec2-private names instances by their private IP)", label)
		}
		return hosts.Host{}, false
	}
	if a, err := netip.ParseAddr(name); err == nil {
		name = a.String()
	}
	// The name reaches ssh_config's %h (ProxyCommand, Match exec, run by a
	// shell) and local's command line: it must be a host name as the
	// inventory would accept it, never text a shell gives a meaning to.
	if hop, err := hosts.ParseHop(name); err != nil || hop.Name != name || hop.User != "" || hop.Port != "" {
		c.warn("ec2: instance %s has the address %q, which is not a host name or IP address; left out", label, name)
		return hosts.Host{}, false
	}
	return hosts.Host{Hop: hosts.Hop{Name: name}, Tags: Tags(inst.Tags), Where: "ec2:" + id}, true
}

func (c *Client) warn(format string, args ...any) {
	if c.opts.Warn != nil {
		c.opts.Warn(fmt.Sprintf(format, args...))
	}
}

// Tags turns AWS tags into dt tags: KEY=VALUE gives "KEY=VALUE" and
// "VALUE" (a key with an empty value gives "KEY"), in key order. A
// character a tag cannot hold (anything but letters, digits, '.', '_',
// '-' and '=') becomes '_', and so does a leading '-'.
func Tags(tags []types.Tag) []string {
	sorted := slices.Clone(tags)
	slices.SortFunc(sorted, func(a, b types.Tag) int { return strings.Compare(aws.ToString(a.Key), aws.ToString(b.Key)) })
	var out []string
	add := func(s string) {
		if s = tagWord(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, t := range sorted {
		k, v := aws.ToString(t.Key), aws.ToString(t.Value)
		if v == "" {
			add(k)
			continue
		}
		add(k + "=" + v)
		add(v)
	}
	return out
}

// tagWord makes s a valid tag.
func tagWord(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-=", c) >= 0
		if !ok || i == 0 && c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}
