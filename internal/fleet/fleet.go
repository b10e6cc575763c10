package fleet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Options describe a fleet to start.
type Options struct {
	// Dir is where everything is written (usually a temp dir); required.
	// It must be reachable by the login user: Start adds o+x to it and to
	// its parents below the temp directory.
	Dir string
	// N is the number of hosts; at least 1.
	N int
	// Name names host i (0-based); default DefaultName. Names must be
	// unique and made of letters, digits, '.', '-' and '_'.
	Name func(i int) string
	// Tags gives host i's tags for ~/.dtdb; default DefaultTags.
	Tags func(i int) []string
	// FirstAddr is host 0's address; host i gets FirstAddr+i, carrying
	// across octets. Default: the first free range found from
	// DefaultFirstAddr (127.10.0.1) on, in steps of 256.
	FirstAddr string
	// Port is the port every sshd listens on. Default: 22, or if
	// something (such as the machine's own sshd) listens on 0.0.0.0:22,
	// the first of DefaultPorts that is free on all addresses.
	Port int
	// User is the login user written to ~/.ssh/config; default "fleet",
	// created if missing. Root can always log in too.
	User string
	// ExtraSSHDConfig is added to every host's sshd_config. sshd keeps the
	// first value it reads for most keywords, so the lines before the first
	// Match line are put at the top and override the defaults; the rest (Match
	// blocks) goes at the end.
	ExtraSSHDConfig string
	// HostCertificates gives every host an OpenSSH host certificate for its
	// key, signed by a CA the fleet makes (Fleet.HostCA), with the host's
	// name and address as principals. known_hosts still lists the plain
	// keys; a test of certificates writes "@cert-authority" lines itself.
	HostCertificates bool
	// Runit gives every host a runsvdir running as the login user, with
	// the RunitServices (sleeper, flaky, stopped, ...), and SVDIR set in
	// its sessions (see Host.SVDir).
	Runit bool
	// PrivateSize gives host i's private directory (Fleet.Private) its
	// size in bytes; default DefaultPrivateSize. A small one makes a host
	// whose disk fills up.
	PrivateSize func(i int) int64
	// Latency, when > 0, puts a relay in front of every host that delays
	// every byte by this much in each direction (a round trip costs twice
	// it), as a userspace stand-in for netem: sshd then listens on
	// Host.SSHDPort and the relay on Host.Port. SetLatency changes it.
	Latency time.Duration
	// Relay starts the relays even with no Latency yet (SetLatency adds
	// it later).
	Relay bool
	// PrivateHome gives the login user a home directory of its own on
	// every host (a tmpfs mounted over it in the host's mount namespace),
	// and sshd also reads ~/.ssh/authorized_keys there, after the fleet's
	// shared file. Host.HomePath reaches it from outside.
	PrivateHome bool
	// NoSharedKey leaves the fleet's shared authorized_keys out of sshd's
	// AuthorizedKeysFile (with PrivateHome: only the home's file counts),
	// so that the client key logs in nowhere until a test installs it.
	NoSharedKey bool
	// Password, when true, lets the login user log in with a password,
	// Fleet.Password, on every host, and only there: each host sees a
	// shadow file of its own, bind-mounted over /etc/shadow in its mount
	// namespace, and the machine's account stays without a password.
	// PasswordAuthentication is on, except on the hosts KbdInteractive
	// picks.
	Password bool
	// KbdInteractive picks the Password hosts that ask for the password
	// through keyboard-interactive authentication (PAM) instead.
	KbdInteractive func(i int) bool
	// Log receives progress and diagnostics; may be nil.
	Log io.Writer
}

// DefaultPrivateSize is the default size limit of a host's private
// directory. tmpfs takes memory only for what is written.
const DefaultPrivateSize = 256 << 20

// DefaultPorts are the ports tried, in order, when Options.Port is 0.
var DefaultPorts = []int{22, 2222, 22222}

// DefaultName is the default Options.Name: h001, h002, ...
func DefaultName(i int) string { return fmt.Sprintf("h%03d", i+1) }

// DefaultTags is the default Options.Tags: every host is "linux"; odd i are
// "web", even i "db"; i%3 == 0 are "prod", the others "staging"; host 0 is
// also "canary". So h001 is linux db prod canary, h002 linux web staging,
// h003 linux db staging, h004 linux web prod, h005 linux db staging.
func DefaultTags(i int) []string {
	t := []string{"linux"}
	if i%2 == 1 {
		t = append(t, "web")
	} else {
		t = append(t, "db")
	}
	if i%3 == 0 {
		t = append(t, "prod")
	} else {
		t = append(t, "staging")
	}
	if i == 0 {
		t = append(t, "canary")
	}
	return t
}

// Host is one sshd of a fleet.
type Host struct {
	Name string   // alias in ~/.ssh/config and ~/.dtdb; also its hostname
	Addr string   // its own loopback address
	Port int      // port clients dial (22 unless Options.Port)
	Tags []string // tags in ~/.dtdb
	// SSHDPort is the port sshd listens on: Port, or with a relay
	// (Options.Latency) another one, the relay's upstream.
	SSHDPort int

	Dir         string        // Fleet.Dir/hosts/NAME
	Config      string        // its sshd_config
	HostKeyFile string        // its private host key; HostKeyFile+".pub" is the public one
	HostKeyPub  ssh.PublicKey // its host key, as in known_hosts
	LogFile     string        // sshd's log (LogLevel VERBOSE)
	PID         int           // sshd's PID (PID 1 of the host's namespaces)
	SVDir       string        // runit service directory (SVDIR of its sessions) if Options.Runit
	PrivateSize int64         // size limit of its private directory (Fleet.Private), bytes
}

// PrivatePath is where path p inside the host's private directory
// (Fleet.Private) is seen from outside the host: through the /proc root
// of its sshd, which lives in the host's mount namespace. Tests read and
// prepare a host's files there (as root).
func (h *Host) PrivatePath(f *Fleet, p string) string {
	return filepath.Join(fmt.Sprintf("/proc/%d/root", h.PID), f.Private, p)
}

// HostPort returns "Addr:Port".
func (h *Host) HostPort() string { return net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)) }

// Fleet is a running set of hosts and the client files that reach them.
type Fleet struct {
	Dir   string // Options.Dir, absolute
	Home  string // fake $HOME for the dt client: Dir/home
	Hosts []Host // in the order of Options.N
	ID    string // random; sessions get DT_TEST_FLEET=ID
	User  string // login user
	// Private is the same path on every host (Dir/private), where each
	// host has a directory of its own: a tmpfs mounted in its mount
	// namespace, writable by everyone (mode 1777), so that files a test
	// copies to 50 hosts are 50 files. Empty for systemd fleets, whose
	// containers have their own file systems.
	Private string

	ClientKey      string        // Home/.ssh/id_ed25519, unencrypted, in AuthorizedKeys
	ClientKeyPub   ssh.PublicKey // its public half
	WrongKey       string        // Home/.ssh/wrong_ed25519, unencrypted, in no authorized_keys
	AuthorizedKeys string        // Dir/authorized_keys, shared by every host and user
	KnownHosts     string        // Home/.ssh/known_hosts: "alias,addr KEYTYPE KEY" per host
	SSHConfig      string        // Home/.ssh/config: Host alias → HostName, Port, User, IdentityFile...
	DB             string        // Home/.dtdb: "alias tag..." per host
	// Password is the login user's password on the hosts of a fleet
	// started with Options.Password; "" otherwise.
	Password string
	HostCA   ssh.PublicKey // the CA of Options.HostCertificates; nil without

	hostCA ssh.Signer
	shadow string // the hosts' /etc/shadow (Options.Password)

	opts    Options
	login   loginUser
	first   uint32 // address of host 0
	release func() // drops the address reservation

	latency atomic.Int64 // one-way delay of the relays, nanoseconds
	trace   atomic.Pointer[func(RelayEvent)]

	mu      sync.Mutex
	relays  []*relay      // by host index, with Options.Latency or Relay
	procs   []*hostProc   // by host index; nil until started
	sysd    *systemdFleet // containers, for fleets started by StartSystemd
	stopped bool
	stopErr error
}

// hostProc is a running host: the sshd that is PID 1 of its namespaces.
type hostProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	err  error         // cmd.Wait's result, after done
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Start starts a fleet of o.N hosts and returns once every sshd accepts
// connections (and, with o.Runit, every runsv is up). On error, whatever was
// started is stopped again. The caller must call Stop.
func Start(ctx context.Context, o Options) (f *Fleet, err error) {
	t0 := time.Now()
	if err := Available(); err != nil {
		return nil, err
	}
	if o.Runit {
		if err := availableRunit(); err != nil {
			return nil, err
		}
	}
	if o.Dir == "" {
		return nil, errors.New("fleet: Options.Dir is required")
	}
	if o.N < 1 {
		return nil, fmt.Errorf("fleet: Options.N must be at least 1, not %d", o.N)
	}
	if o.Name == nil {
		o.Name = DefaultName
	}
	if o.Tags == nil {
		o.Tags = DefaultTags
	}
	if o.PrivateSize == nil {
		o.PrivateSize = func(int) int64 { return DefaultPrivateSize }
	}
	if o.User == "" {
		o.User = "fleet"
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}

	raiseNoFileLimit()
	if err := mkdir("/run/sshd", 0o755); err != nil { // sshd's privilege separation directory
		return nil, fmt.Errorf("fleet: %w", err)
	}
	login, err := ensureUser(o.User)
	if err != nil {
		return nil, err
	}
	if err := mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	if err := ensureTraversable(dir); err != nil {
		return nil, err
	}

	f = newFleet(dir, o.User, o)
	f.login = login
	f.Private = filepath.Join(dir, "private")
	if err := mkdir(f.Private, 0o755); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	if o.Port, err = f.reserveAddrs(o.FirstAddr, o.N, o.Port); err != nil {
		return nil, err
	}
	f.opts = o
	defer func() {
		if err != nil {
			f.Stop()
			f = nil
		}
	}()
	sshdPort := o.Port
	if o.Latency > 0 || o.Relay {
		if sshdPort, err = innerPort(o.Port); err != nil {
			return f, err
		}
		f.latency.Store(int64(o.Latency))
	}

	seen := map[string]bool{}
	for i := 0; i < o.N; i++ {
		name, tags := o.Name(i), o.Tags(i)
		if err := checkHost(name, tags, seen); err != nil {
			return f, err
		}
		hd := filepath.Join(dir, "hosts", name)
		h := Host{
			Name:        name,
			Addr:        addrString(f.first + uint32(i)),
			Port:        o.Port,
			SSHDPort:    sshdPort,
			Tags:        tags,
			Dir:         hd,
			Config:      filepath.Join(hd, "sshd_config"),
			HostKeyFile: filepath.Join(hd, "ssh_host_ed25519_key"),
			LogFile:     filepath.Join(hd, "sshd.log"),
			PrivateSize: o.PrivateSize(i),
		}
		if h.PrivateSize <= 0 { // tmpfs takes size=0 as "unlimited"
			h.PrivateSize = DefaultPrivateSize
		}
		if o.Runit {
			h.SVDir = filepath.Join(hd, "service")
		}
		f.Hosts = append(f.Hosts, h)
	}
	f.procs = make([]*hostProc, o.N)
	f.relays = make([]*relay, o.N)

	if err := f.writeClientKeys(); err != nil {
		return f, err
	}
	if o.Password {
		if err := f.writeShadow(); err != nil {
			return f, err
		}
	}
	if o.HostCertificates {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return f, fmt.Errorf("fleet: host CA: %w", err)
		}
		if f.hostCA, err = ssh.NewSignerFromKey(priv); err != nil {
			return f, fmt.Errorf("fleet: host CA: %w", err)
		}
		f.HostCA = f.hostCA.PublicKey()
	}
	f.logf("fleet %s: starting %d hosts %s-%s in %s", f.ID, o.N, f.Hosts[0].Addr, f.Hosts[o.N-1].Addr, dir)

	// Set up and start the hosts, 16 at a time.
	sem := make(chan struct{}, 16)
	errs := make([]error, o.N)
	var wg sync.WaitGroup
	for i := range f.Hosts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			errs[i] = f.startHost(ctx, i)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return f, err
	}
	if err := f.writeClientFiles(); err != nil {
		return f, err
	}
	if o.Runit {
		if err := f.waitRunit(ctx); err != nil {
			return f, err
		}
	}
	f.logf("fleet %s: %d hosts up in %v", f.ID, o.N, time.Since(t0).Round(time.Millisecond))
	return f, nil
}

// newFleet lays out a fleet in dir: the client side in dir/home, logging
// in as user. Hosts, addresses and keys come later.
func newFleet(dir, user string, o Options) *Fleet {
	home := filepath.Join(dir, "home")
	return &Fleet{
		Dir:            dir,
		Home:           home,
		ID:             randomID(),
		User:           user,
		ClientKey:      filepath.Join(home, ".ssh", "id_ed25519"),
		WrongKey:       filepath.Join(home, ".ssh", "wrong_ed25519"),
		AuthorizedKeys: filepath.Join(dir, "authorized_keys"),
		KnownHosts:     filepath.Join(home, ".ssh", "known_hosts"),
		SSHConfig:      filepath.Join(home, ".ssh", "config"),
		DB:             filepath.Join(home, ".dtdb"),
		opts:           o,
	}
}

// reserveAddrs reserves n host addresses (plus Spares) from first, on port,
// or on the first of DefaultPorts nothing else listens on when port is 0.
// It returns the port chosen.
func (f *Fleet) reserveAddrs(first string, n, port int) (int, error) {
	ports := DefaultPorts
	if port != 0 {
		ports = []int{port}
	}
	var err error
	for _, p := range ports {
		port = p
		f.first, f.release, err = reserve(first, n+Spares, p, f.ID)
		if !errors.Is(err, errPortTaken) {
			break
		}
		f.logf("fleet %s: %v", f.ID, err)
	}
	return port, err
}

// checkHost rejects a bad or repeated host name and bad tags.
func checkHost(name string, tags []string, seen map[string]bool) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("fleet: bad host name %q", name)
	}
	if seen[name] {
		return fmt.Errorf("fleet: duplicate host name %q", name)
	}
	seen[name] = true
	for _, t := range tags {
		if t == "" || strings.ContainsAny(t, " \t\n#") {
			return fmt.Errorf("fleet: bad tag %q for host %s", t, name)
		}
	}
	return nil
}

// writeClientKeys creates the client's home, its key, the wrong key and
// the hosts' shared authorized_keys.
func (f *Fleet) writeClientKeys() error {
	if err := mkdir(filepath.Join(f.Home, ".ssh"), 0o700); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	if err := mkdir(f.Home, 0o755); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	var err error
	if f.ClientKeyPub, err = writeKeyPair(f.ClientKey, "dt-fleet-"+f.ID); err != nil {
		return fmt.Errorf("fleet: client key: %w", err)
	}
	if _, err = writeKeyPair(f.WrongKey, "dt-fleet-wrong-"+f.ID); err != nil {
		return fmt.Errorf("fleet: wrong client key: %w", err)
	}
	if err := writeFile(f.AuthorizedKeys, ssh.MarshalAuthorizedKey(f.ClientKeyPub), 0o644); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	return nil
}

// writeHostCert signs h's host key with the fleet's CA, valid for a day
// for h's name and address, and returns the certificate's file.
func (f *Fleet) writeHostCert(h *Host) (string, error) {
	now := time.Now()
	cert := &ssh.Certificate{
		Key:             h.HostKeyPub,
		CertType:        ssh.HostCert,
		KeyId:           h.Name,
		ValidPrincipals: []string{h.Name, h.Addr},
		ValidAfter:      uint64(now.Add(-time.Hour).Unix()),
		ValidBefore:     uint64(now.Add(24 * time.Hour).Unix()),
	}
	if err := cert.SignCert(rand.Reader, f.hostCA); err != nil {
		return "", err
	}
	file := h.HostKeyFile + "-cert.pub"
	return file, writeFile(file, ssh.MarshalAuthorizedKey(cert), 0o644)
}

// hostScript is what PID 1 of a host's fresh namespaces runs: name the host,
// mount its own /proc and its private directory, start its runsvdir if
// asked, and become its sshd.
const hostScript = `set -e
echo "$DT_HOST" >/proc/sys/kernel/hostname
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t tmpfs -o "size=$DT_PRIVATE_SIZE,mode=1777,nosuid,nodev" dt-private "$DT_PRIVATE"
if [ -n "$DT_SHADOW" ]; then mount --bind "$DT_SHADOW" /etc/shadow; fi
if [ -n "$DT_PRIVATE_HOME" ]; then
	mount -t tmpfs -o "mode=0755,uid=$DT_USER_UID,gid=$DT_USER_GID,size=16m,nosuid,nodev" dt-home "$DT_USER_HOME"
fi
if [ -n "$DT_SVDIR" ]; then
	env -i PATH="$PATH" HOME="$DT_USER_HOME" USER="$DT_USER" LOGNAME="$DT_USER" \
		DT_TEST_HOST="$DT_HOST" DT_TEST_FLEET="$DT_FLEET" SVDIR="$DT_SVDIR" \
		chpst -u "$DT_USER" runsvdir -P "$DT_SVDIR" </dev/null >>"$DT_RUNIT_LOG" 2>&1 &
fi
exec /usr/sbin/sshd -D -f "$1" -E "$2"
`

// startHost writes host i's files, starts its sshd and waits until it
// accepts connections.
func (f *Fleet) startHost(ctx context.Context, i int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.writeHostFiles(i); err != nil {
		return err
	}
	return f.launchHost(ctx, i)
}

// writeHostFiles writes host i's host key (and certificate), sshd_config,
// an empty log and its runit services.
func (f *Fleet) writeHostFiles(i int) error {
	h := &f.Hosts[i]
	if err := mkdir(h.Dir, 0o755); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	pub, err := writeKeyPair(h.HostKeyFile, "root@"+h.Name)
	if err != nil {
		return fmt.Errorf("fleet: host key of %s: %w", h.Name, err)
	}
	h.HostKeyPub = pub
	extra := f.hostAuthConfig(i) + f.opts.ExtraSSHDConfig
	if f.hostCA != nil {
		certFile, err := f.writeHostCert(h)
		if err != nil {
			return fmt.Errorf("fleet: host certificate of %s: %w", h.Name, err)
		}
		extra = "HostCertificate " + certFile + "\n" + extra
	}
	if err := writeFile(h.Config, []byte(f.sshdConfig(h, extra)), 0o644); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	// sshd -E appends: start every run with an empty log, so that
	// Handshakes counts this run only.
	if err := writeFile(h.LogFile, nil, 0o600); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	if h.SVDir != "" {
		if err := f.writeServices(h); err != nil {
			return err
		}
	}
	return nil
}

// launchHost starts host i's sshd from the files it has (its host key and
// its log stay what they are) and waits until it accepts connections;
// with a relay (Options.Latency, Options.Relay) it starts that too.
func (f *Fleet) launchHost(ctx context.Context, i int) error {
	h := &f.Hosts[i]
	runitLog := filepath.Join(h.Dir, "runsvdir.log")
	stderrFile := filepath.Join(h.Dir, "stderr.log")
	stderr, err := os.OpenFile(stderrFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	cmd := exec.Command(shPath, "-c", hostScript, "dt-fleet-"+h.Name, h.Config, h.LogFile)
	cmd.Dir = h.Dir
	cmd.Env = []string{
		"PATH=" + sysPath,
		"DT_HOST=" + h.Name,
		"DT_FLEET=" + f.ID,
		"DT_SVDIR=" + h.SVDir,
		"DT_USER=" + f.login.name,
		"DT_USER_HOME=" + f.login.home,
		"DT_RUNIT_LOG=" + runitLog,
		"DT_PRIVATE=" + f.Private,
		"DT_PRIVATE_SIZE=" + strconv.FormatInt(h.PrivateSize, 10),
		"DT_SHADOW=" + f.shadow,
		"DT_USER_UID=" + strconv.Itoa(f.login.uid),
		"DT_USER_GID=" + strconv.Itoa(f.login.gid),
	}
	if f.opts.PrivateHome {
		cmd.Env = append(cmd.Env, "DT_PRIVATE_HOME=1")
	}
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// The host is PID 1 of its own PID namespace: when it dies, the
		// kernel kills everything it started, and it reaps its orphans.
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS,
		// Unshareflags (unlike Cloneflags) also makes all mounts private,
		// so the host's /proc mount does not leak out.
		Unshareflags: syscall.CLONE_NEWNS,
		Setpgid:      true,
		// If this process dies without Stop, the hosts die too.
		Pdeathsig: syscall.SIGKILL,
	}
	err = cmd.Start()
	stderr.Close() // the child has its own copy
	if err != nil {
		return fmt.Errorf("fleet: starting sshd of %s (this needs CAP_SYS_ADMIN, for its namespaces): %w", h.Name, err)
	}
	p := &hostProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.PID = cmd.Process.Pid
	f.mu.Lock()
	f.procs[i] = p
	f.mu.Unlock()
	_ = writeFile(filepath.Join(h.Dir, "sshd.pid"), []byte(strconv.Itoa(h.PID)+"\n"), 0o644)

	// Wait until it accepts TCP connections.
	sshdAddr := net.JoinHostPort(h.Addr, strconv.Itoa(h.SSHDPort))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", sshdAddr, 250*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-p.done:
			return fmt.Errorf("fleet: sshd of %s exited (%v)%s%s", h.Name, p.err, tail(stderrFile, 2000), tail(h.LogFile, 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet: sshd of %s does not accept connections on %s: %v%s", h.Name, sshdAddr, err, tail(h.LogFile, 2000))
		}
	}
	if h.SSHDPort != h.Port {
		return f.startRelay(i)
	}
	return nil
}

// RestartHost starts again a host stopped by StopHost, with the same host
// key, address and files; its log goes on (Handshakes counts on).
func (f *Fleet) RestartHost(ctx context.Context, name string) error {
	for i := range f.Hosts {
		if f.Hosts[i].Name != name {
			continue
		}
		if f.sysd != nil {
			return fmt.Errorf("fleet: RestartHost is for sshd fleets")
		}
		f.mu.Lock()
		p := f.procs[i]
		f.mu.Unlock()
		if p != nil {
			select {
			case <-p.done:
			default:
				return fmt.Errorf("fleet: host %s is running", name)
			}
		}
		return f.launchHost(ctx, i)
	}
	return fmt.Errorf("fleet: no host %q", name)
}

// logf writes a line to Options.Log.
func (f *Fleet) logf(format string, args ...any) {
	if f.opts.Log != nil {
		fmt.Fprintf(f.opts.Log, format+"\n", args...)
	}
}

// Host returns the host called name (or with address name), or nil.
func (f *Fleet) Host(name string) *Host {
	for i := range f.Hosts {
		if f.Hosts[i].Name == name || f.Hosts[i].Addr == name {
			return &f.Hosts[i]
		}
	}
	return nil
}

// SpareAddr returns the i-th (0 <= i < Spares) address after the fleet's
// last host. It is reserved for this fleet and nothing listens on it: a
// "down" host (connections are refused) unless the test puts StartBlackhole
// or StartSilent there.
func (f *Fleet) SpareAddr(i int) string {
	if i < 0 || i >= Spares {
		panic(fmt.Sprintf("fleet: SpareAddr(%d) out of range [0,%d)", i, Spares))
	}
	return addrString(f.first + uint32(len(f.Hosts)+i))
}

// Env returns a clean, minimal environment for running the dt binary (or
// anything else) against the fleet: HOME=f.Home, PATH, LANG, USER and
// LOGNAME of the caller, DT_FLEET_DIR=f.Dir, and TMPDIR and GOCOVERDIR if
// set. Notably there is no SSH_AUTH_SOCK.
func (f *Fleet) Env() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = sysPath
	}
	env := []string{
		"HOME=" + f.Home,
		"PATH=" + path,
		"LANG=C.UTF-8",
		"DT_FLEET_DIR=" + f.Dir,
	}
	if u, err := user.Current(); err == nil {
		env = append(env, "USER="+u.Username, "LOGNAME="+u.Username)
	}
	for _, k := range []string{"TMPDIR", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Handshakes returns how many logins host (a name or address) has accepted:
// the "Accepted publickey for" lines of its log.
func (f *Fleet) Handshakes(host string) (int, error) {
	h := f.Host(host)
	if h == nil {
		return 0, fmt.Errorf("fleet: no host %q", host)
	}
	data, err := os.ReadFile(h.LogFile)
	if err != nil {
		return 0, err
	}
	return bytes.Count(data, []byte("Accepted publickey for ")), nil
}

// TotalHandshakes returns the sum of Handshakes over all hosts.
func (f *Fleet) TotalHandshakes() (int, error) {
	n := 0
	for i := range f.Hosts {
		k, err := f.Handshakes(f.Hosts[i].Name)
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// RemoteProcs returns the PIDs (as seen from here, not from inside a host)
// of the live processes run by the fleet's hosts, that is with
// DT_TEST_FLEET=f.ID in their environment, whose command line (arguments
// joined by spaces) contains substr. Everything a session starts, and the
// runit services, are listed; sshd itself is not.
func (f *Fleet) RemoteProcs(substr string) ([]int, error) {
	return fleetProcs(f.ID, substr)
}

// StopHost stops one host (its sshd and everything it runs), so that its
// address refuses connections from now on. Its files stay.
func (f *Fleet) StopHost(name string) error {
	for i := range f.Hosts {
		if f.Hosts[i].Name == name {
			if f.sysd != nil {
				return f.sysd.stopHost(f, i)
			}
			f.mu.Lock()
			p := f.procs[i]
			f.mu.Unlock()
			if p == nil {
				return nil
			}
			f.stopRunit(f.Hosts[i].Name)
			f.stopRelay(i)
			return f.stopProc(&f.Hosts[i], p)
		}
	}
	return fmt.Errorf("fleet: no host %q", name)
}

// Stop stops every host and everything they run, and drops the fleet's
// address reservation. The files in Dir stay (the caller owns Dir). Stop
// may be called more than once.
func (f *Fleet) Stop() error {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return f.stopErr
	}
	f.stopped = true
	procs := append([]*hostProc(nil), f.procs...)
	f.mu.Unlock()

	t0 := time.Now()
	if f.opts.Runit {
		f.stopRunit("")
	}
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func(i int, p *hostProc) {
			defer wg.Done()
			errs[i] = f.stopProc(&f.Hosts[i], p)
		}(i, p)
	}
	wg.Wait()
	for i := range f.relays {
		f.stopRelay(i)
	}
	if f.sysd != nil {
		errs = append(errs, f.sysd.stop(f))
	}
	// Everything a host ran died with it; anything left is a bug.
	if left, err := fleetProcs(f.ID, ""); err == nil && len(left) > 0 {
		killAll(left, syscall.SIGKILL)
		errs = append(errs, fmt.Errorf("fleet %s: %d processes outlived their host: %v", f.ID, len(left), left))
	}
	if f.release != nil {
		f.release()
	}
	err := errors.Join(errs...)
	f.mu.Lock()
	f.stopErr = err
	f.mu.Unlock()
	f.logf("fleet %s: stopped in %v", f.ID, time.Since(t0).Round(time.Millisecond))
	return err
}

// stopProc stops a host's sshd: SIGTERM, then SIGKILL after 5 s. As PID 1 of
// the host's PID namespace dies, the kernel kills all its other processes.
func (f *Fleet) stopProc(h *Host, p *hostProc) error {
	select {
	case <-p.done:
		return nil // already stopped
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("fleet: sshd of %s ignored SIGTERM and was killed", h.Name)
}
