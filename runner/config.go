package runner

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// HostKeyPolicy says what to do with host keys that known_hosts does not
// vouch for. A changed key is refused under every policy but Off.
type HostKeyPolicy string

// The host key policies.
const (
	// Strict refuses hosts whose key is not in known_hosts (the default).
	Strict HostKeyPolicy = "strict"
	// AcceptNew records the key of a host known_hosts has no key for, and
	// refuses changed keys.
	AcceptNew HostKeyPolicy = "accept-new"
	// Off checks nothing. Only for throwaway hosts.
	Off HostKeyPolicy = "off"
)

// ParseHostKeyPolicy parses a --host-keys value or an ssh_config
// StrictHostKeyChecking value (yes, accept-new, no, off, ask).
func ParseHostKeyPolicy(s string) (HostKeyPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "strict", "yes", "ask":
		return Strict, nil
	case "accept-new", "no":
		// OpenSSH's "no" also accepts new keys; dt never accepts a
		// changed key unless checking is explicitly off.
		return AcceptNew, nil
	case "off", "false":
		return Off, nil
	}
	return "", fmt.Errorf("unknown host key policy %q; valid: strict, accept-new, off", s)
}

// Config is everything the runner takes from the user's environment. The
// CLI fills it from flags, $HOME and the environment; tests fill it with
// paths in a temp dir, so nothing leaks in from the real user.
type Config struct {
	// Home is the user's home directory; "~" in ssh_config expands to it,
	// and default key and known_hosts files live in Home/.ssh.
	Home string
	// LocalUser is the login name used when neither the inventory nor
	// ssh_config names a remote user.
	LocalUser string
	// SSHConfigFiles are read in order; the first value found for a
	// keyword wins, as in OpenSSH. Missing files are ignored.
	SSHConfigFiles []string
	// AgentSocket is $SSH_AUTH_SOCK; empty disables the agent.
	AgentSocket string
	// Shell runs ssh_config ProxyCommands ($SHELL; empty: /bin/sh).
	Shell string
	// Getenv reads the environment variables ssh_config may name
	// (IdentityAgent $VAR); nil reads none.
	Getenv func(string) string
	// HostKeys overrides ssh_config StrictHostKeyChecking when non-empty.
	HostKeys HostKeyPolicy
	// ConnectTimeout overrides ssh_config ConnectTimeout when non-zero;
	// the default is 10s. It covers TCP connect and the SSH handshake.
	ConnectTimeout time.Duration
	// KeepAlive is the interval between keepalive probes when ssh_config
	// has no ServerAliveInterval; after ServerAliveCountMax (default 3)
	// unanswered probes the connection is closed. Zero means 15s; negative
	// disables them.
	KeepAlive time.Duration
	// Passphrase asks for the passphrase of an encrypted key file. Nil
	// means there is no terminal: encrypted keys are skipped with a note.
	Passphrase func(file string) ([]byte, error)
	// Persist is how long a connection may stay idle in the connection
	// keeper after its last use (--persist, DT_PERSIST): 0 keeps none,
	// PersistForever keeps them until "dt mux stop", and
	// PersistSSHConfig takes each host's ssh_config ControlPersist.
	Persist time.Duration
	// Connector makes the connections of the hosts that persist (the
	// connection keeper); nil: every connection is dialed by the pool
	// and closed at the end of the run.
	Connector Connector
	// Ask, when set, lets a login that public keys did not get through
	// ask the person for a password or keyboard-interactive answers, once
	// per host (dt -i, on a terminal). Nil: keys only.
	Ask Asker
}

// Persist values with a meaning of their own (see Config.Persist).
const (
	PersistSSHConfig time.Duration = -1
	PersistForever   time.Duration = math.MaxInt64
)

// DefaultConnectTimeout applies when neither a flag nor ssh_config sets one.
const DefaultConnectTimeout = 10 * time.Second

func (c *Config) keepAlive() time.Duration {
	if c.KeepAlive == 0 {
		return 15 * time.Second
	}
	return c.KeepAlive
}

func (c *Config) getenv(name string) string {
	if c.Getenv == nil {
		return ""
	}
	return c.Getenv(name)
}
