package runner

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kevinburke/ssh_config"

	"github.com/dtools/dt/hosts"
)

// Target is a host fully resolved for dialing: inventory values, then
// ssh_config, then defaults.
type Target struct {
	Name           string // the name dt prints (inventory or command line)
	HostName       string // what is dialed
	Port           string
	User           string
	IdentityFiles  []string // explicit IdentityFile entries, expanded
	IdentitiesOnly bool
	// IdentityAgent is the ssh-agent socket (ssh_config IdentityAgent,
	// expanded; "none" for no agent); empty means Config.AgentSocket.
	IdentityAgent   string
	KnownHostsFiles []string
	HostKeys        HostKeyPolicy
	HashKnownHosts  bool
	ConnectTimeout  time.Duration
	// KeepAlive is the interval between keepalive probes (ssh_config
	// ServerAliveInterval, else Config.KeepAlive, else 15s; negative: off);
	// after KeepAliveMax unanswered probes (ServerAliveCountMax, else 3) the
	// connection is closed and the host fails.
	KeepAlive    time.Duration
	KeepAliveMax int
	Jump         []*Target // jump hosts, nearest the client first
	// ProxyCommand, %-expanded, carries the connection instead of TCP
	// (ssh_config ProxyCommand; not with Jump).
	ProxyCommand string
	// Persist is how long the connection may stay idle in the connection
	// keeper after its last use: Config.Persist, else ssh_config
	// ControlPersist; 0 means it is not kept (see Config.Persist).
	Persist time.Duration
}

// Addr is the dialed host:port.
func (t *Target) Addr() string { return net.JoinHostPort(t.HostName, t.Port) }

// String renders user@host:port, with the jump chain when there is one.
func (t *Target) String() string {
	s := t.User + "@" + t.Addr()
	if len(t.Jump) > 0 {
		hops := make([]string, len(t.Jump))
		for i, j := range t.Jump {
			hops[i] = j.User + "@" + j.Addr()
		}
		s += " via " + strings.Join(hops, ",")
	}
	return s
}

// Resolver turns inventory hosts into Targets through ssh_config.
type Resolver struct {
	cfg      Config
	files    []*configIndex
	warnings []string

	execMu sync.Mutex
	execs  map[string]*execResult // Match exec command lines run this run
}

// NewResolver reads the ssh_config files named in cfg. A file that exists
// but cannot be parsed is an error naming it.
func NewResolver(cfg Config) (*Resolver, error) {
	r := &Resolver{cfg: cfg, execs: map[string]*execResult{}}
	for _, name := range cfg.SSHConfigFiles {
		// Relative Include paths are in ~/.ssh, or in /etc/ssh for the
		// system file, as in OpenSSH.
		base := filepath.Join(cfg.Home, ".ssh")
		if name == systemSSHConfig {
			base = filepath.Dir(systemSSHConfig)
		}
		l := &configLoader{home: cfg.Home, base: base, files: map[string]*configIndex{}}
		x, err := l.load(name, 0)
		if err != nil {
			return nil, fmt.Errorf("ssh config: %w", err)
		}
		if x == nil {
			continue
		}
		r.files = append(r.files, x)
		for _, f := range l.files {
			r.warnings = append(r.warnings, f.warnings...)
		}
	}
	slices.Sort(r.warnings)
	r.warnings = slices.Compact(r.warnings)
	return r, nil
}

// systemSSHConfig is OpenSSH's system-wide client configuration.
const systemSSHConfig = "/etc/ssh/ssh_config"

// Warnings are what dt could not honour in the ssh_config files (Match
// criteria it does not evaluate), one line each, for the CLI to print.
func (r *Resolver) Warnings() []string { return r.warnings }

// lookup returns the ssh_config lines that apply to hop. When a file has
// Match blocks, the host and user they test come from a first pass
// without them.
func (r *Resolver) lookup(hop hosts.Hop) *hostConfig {
	t := matchTarget{alias: hop.Name, localUser: r.cfg.LocalUser}
	match := false
	for _, x := range r.files {
		match = match || x.hasMatch
	}
	if match {
		pre := r.collect(matchTarget{alias: hop.Name, noMatch: true})
		t.host = strings.ReplaceAll(firstNonEmpty(pre.get("HostName"), hop.Name), "%h", hop.Name)
		t.user = firstNonEmpty(hop.User, pre.get("User"), r.cfg.LocalUser)
		exp := expander{home: r.cfg.Home, local: r.cfg.LocalUser, host: t.host, user: t.user, alias: hop.Name,
			port: firstNonEmpty(hop.Port, pre.get("Port"), "22")}
		t.exec = func(cmd string) bool {
			for _, v := range []string{t.host, t.user, hop.Name} {
				if proxyToken("name", v) != nil {
					return false // no shell syntax from names into the shell
				}
			}
			return r.matchExec(exp.tokens(cmd))
		}
	}
	return r.collect(t)
}

// matchExecTimeout bounds a Match exec command.
const matchExecTimeout = 10 * time.Second

// matchExec runs a Match exec command line (tokens expanded) with the
// user's shell and says whether it exited 0. Each distinct line runs once
// per run, however many hosts ask: "Match exec" lines without host tokens
// (e.g. "test -z $SSH_TTY") cost one process, not one per host.
func (r *Resolver) matchExec(cmd string) bool {
	e := entry(&r.execMu, r.execs, cmd)
	e.once.Do(func() {
		shell := firstNonEmpty(r.cfg.Shell, "/bin/sh")
		ctx, cancel := context.WithTimeout(context.Background(), matchExecTimeout)
		defer cancel()
		c := exec.CommandContext(ctx, shell, "-c", cmd)
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
		e.ok = c.Run() == nil
	})
	return e.ok
}

// execResult is the outcome of one Match exec command line.
type execResult struct {
	once sync.Once
	ok   bool
}

func (r *Resolver) collect(t matchTarget) *hostConfig {
	h := &hostConfig{alias: t.alias, files: make([][]ssh_config.Node, len(r.files)), truncated: make([]bool, len(r.files))}
	for i, x := range r.files {
		h.files[i], h.truncated[i] = x.lines(t)
	}
	return h
}

// maxJumpDepth bounds how deeply ProxyJump lines nest (a jump host's own
// ProxyJump counts), so a loop ends with an error.
const maxJumpDepth = hosts.MaxJumps

// Resolve resolves h. Values written in the inventory (user@, :port, |jump)
// win over ssh_config.
func (r *Resolver) Resolve(h hosts.Host) (*Target, error) {
	t, err := r.resolveHop(h.Hop, 0, len(h.Jump) > 0)
	if err != nil {
		return nil, err
	}
	if len(h.Jump) > 0 {
		if err := r.addJumps(t, h.Jump, 1); err != nil {
			return nil, err
		}
	}
	if len(t.Jump) > hosts.MaxJumps {
		return nil, fmt.Errorf("%s: jump chain of %d hosts; at most %d are allowed", h.Name, len(t.Jump), hosts.MaxJumps)
	}
	return t, nil
}

// addJumps resolves hops and appends them to t.Jump, each preceded by its
// own ProxyJump chain.
func (r *Resolver) addJumps(t *Target, hops []hosts.Hop, depth int) error {
	for _, hop := range hops {
		jt, err := r.resolveHop(hop, depth, false)
		if err != nil {
			return err
		}
		t.Jump = append(t.Jump, jt.Jump...)
		jt.Jump = nil
		t.Jump = append(t.Jump, jt)
	}
	return nil
}

func (r *Resolver) resolveHop(hop hosts.Hop, depth int, skipProxyJump bool) (*Target, error) {
	if depth > maxJumpDepth {
		return nil, fmt.Errorf("%s: ProxyJump chain deeper than %d hops (a loop?)", hop.Name, maxJumpDepth)
	}
	alias := hop.Name
	t := &Target{Name: alias}
	sc := r.lookup(hop)
	t.HostName = sc.get("HostName")
	if t.HostName == "" {
		t.HostName = alias
	}
	t.HostName = strings.ReplaceAll(t.HostName, "%h", alias)
	t.Port = firstNonEmpty(hop.Port, sc.get("Port"), "22")
	if p, err := strconv.Atoi(t.Port); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("%s: bad port %q", alias, t.Port)
	}
	t.User = firstNonEmpty(hop.User, sc.get("User"), r.cfg.LocalUser)
	exp := expander{home: r.cfg.Home, local: r.cfg.LocalUser, host: t.HostName, user: t.User, alias: alias, port: t.Port}
	for _, f := range sc.getAll("IdentityFile") {
		t.IdentityFiles = append(t.IdentityFiles, exp.path(f))
	}
	t.IdentitiesOnly = strings.EqualFold(sc.get("IdentitiesOnly"), "yes")
	switch v := strings.Trim(sc.get("IdentityAgent"), `"`); {
	case v == "", strings.EqualFold(v, "SSH_AUTH_SOCK"):
	case strings.EqualFold(v, "none"):
		t.IdentityAgent = "none"
	case strings.HasPrefix(v, "$"):
		// An environment variable naming the socket, as OpenSSH reads it.
		t.IdentityAgent = firstNonEmpty(r.cfg.getenv(strings.Trim(v[1:], "{}")), "none")
	default:
		t.IdentityAgent = exp.path(v)
	}
	if v := sc.get("UserKnownHostsFile"); v != "" {
		for _, f := range strings.Fields(v) {
			if f != "/dev/null" && !strings.EqualFold(f, "none") {
				t.KnownHostsFiles = append(t.KnownHostsFiles, exp.path(f))
			}
		}
	} else {
		t.KnownHostsFiles = []string{
			filepath.Join(r.cfg.Home, ".ssh", "known_hosts"),
			filepath.Join(r.cfg.Home, ".ssh", "known_hosts2"),
		}
	}
	if v := sc.get("GlobalKnownHostsFile"); v != "" {
		for _, f := range strings.Fields(v) {
			t.KnownHostsFiles = append(t.KnownHostsFiles, exp.path(f))
		}
	} else {
		t.KnownHostsFiles = append(t.KnownHostsFiles, "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
	}
	t.HashKnownHosts = strings.EqualFold(sc.get("HashKnownHosts"), "yes")
	t.HostKeys = r.cfg.HostKeys
	if t.HostKeys == "" {
		t.HostKeys = Strict
		if v := sc.get("StrictHostKeyChecking"); v != "" {
			p, err := ParseHostKeyPolicy(v)
			if err != nil {
				return nil, fmt.Errorf("%s: ssh_config StrictHostKeyChecking: %w", alias, err)
			}
			t.HostKeys = p
		}
	}
	t.ConnectTimeout = r.cfg.ConnectTimeout
	if t.ConnectTimeout == 0 {
		t.ConnectTimeout = DefaultConnectTimeout
		if v := sc.get("ConnectTimeout"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("%s: ssh_config ConnectTimeout %q is not a positive number of seconds", alias, v)
			}
			t.ConnectTimeout = time.Duration(n) * time.Second
		}
	}
	t.KeepAlive, t.KeepAliveMax = r.cfg.keepAlive(), 3
	if v := sc.get("ServerAliveInterval"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: ssh_config ServerAliveInterval %q is not a number of seconds", alias, v)
		}
		t.KeepAlive = time.Duration(n) * time.Second
		if n == 0 {
			t.KeepAlive = -1
		}
	}
	t.Persist = r.cfg.Persist
	if t.Persist == PersistSSHConfig {
		t.Persist = 0
		if v := sc.get("ControlPersist"); v != "" {
			p, err := ParseControlPersist(v)
			if err != nil {
				return nil, fmt.Errorf("%s: ssh_config ControlPersist: %w", alias, err)
			}
			t.Persist = p
		}
	}
	if v := sc.get("ServerAliveCountMax"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: ssh_config ServerAliveCountMax %q is not a positive number", alias, v)
		}
		t.KeepAliveMax = n
	}
	if skipProxyJump {
		return t, nil // a jump given in the inventory overrides both
	}
	key, pj := sc.first("ProxyJump", "ProxyCommand")
	if pj == "" || strings.EqualFold(pj, "none") {
		return t, nil
	}
	if key == "ProxyCommand" {
		for _, v := range []struct{ what, val string }{{"host", alias}, {"HostName", t.HostName}, {"user", t.User}} {
			if err := proxyToken(v.what, v.val); err != nil {
				return nil, fmt.Errorf("%s: ssh_config ProxyCommand: %w", alias, err)
			}
		}
		t.ProxyCommand = exp.tokens(pj)
		return t, nil
	}
	var hops []hosts.Hop
	for _, spec := range strings.Split(pj, ",") {
		hop, err := hosts.ParseHop(strings.TrimPrefix(strings.TrimSpace(spec), "ssh://"))
		if err != nil {
			return nil, fmt.Errorf("%s: ssh_config ProxyJump %q: %w", alias, pj, err)
		}
		hops = append(hops, hop)
	}
	if err := r.addJumps(t, hops, depth+1); err != nil {
		return nil, err
	}
	return t, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// expander expands ssh_config tokens and a leading ~ in paths.
type expander struct{ home, local, host, user, alias, port string }

func (e expander) path(p string) string {
	p = strings.Trim(p, `"`)
	if p == "~" {
		p = e.home
	} else if strings.HasPrefix(p, "~/") {
		p = filepath.Join(e.home, p[2:])
	}
	return e.tokens(p)
}

// tokens expands ssh_config's %-tokens: %% %d %u %h %r %n %p.
func (e expander) tokens(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case '%':
			b.WriteByte('%')
		case 'd':
			b.WriteString(e.home)
		case 'u':
			b.WriteString(e.local)
		case 'h':
			b.WriteString(e.host)
		case 'r':
			b.WriteString(e.user)
		case 'n':
			b.WriteString(e.alias)
		case 'p':
			b.WriteString(e.port)
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	return b.String()
}
