package fleet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const (
	// DefaultFirstAddr is where automatic address allocation starts looking
	// for a free range.
	DefaultFirstAddr = "127.10.0.1"

	// Spares is the number of addresses reserved after a fleet's last host
	// for test doubles (see Fleet.SpareAddr).
	Spares = 8

	registryDir  = "/run/dt-fleet"
	registryFile = registryDir + "/reservations"
	registryLock = registryDir + "/lock"

	loopbackFirst uint32 = 127<<24 | 0x000001 // 127.0.0.1
	loopbackLast  uint32 = 127<<24 | 0xfffffe // 127.255.255.254
)

// errPortTaken means that a wildcard listener holds the port on all addresses.
var errPortTaken = errors.New("port taken on all addresses")

// registryMu serialises registry access between goroutines of this process;
// flock does the same between processes.
var registryMu sync.Mutex

// parseLoopback parses an IPv4 address of 127.0.0.0/8 into a number.
func parseLoopback(s string) (uint32, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("fleet: %q is not an IPv4 address", s)
	}
	b := a.As4()
	u := binary.BigEndian.Uint32(b[:])
	if u < loopbackFirst || u > loopbackLast {
		return 0, fmt.Errorf("fleet: %s is not a usable address of 127.0.0.0/8", s)
	}
	return u, nil
}

// addrString formats a number as a dotted IPv4 address.
func addrString(u uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b).String()
}

// reservation is one line of the registry: [first, last] held by pid under id.
type reservation struct {
	first, last uint32
	pid         int
	id          string
}

// ReserveAddrs reserves n consecutive free loopback addresses (nothing
// listening on them on port, not reserved by another fleet) for a test's own
// use, for example for StartBlackhole or StartSilent outside a fleet. Call
// release when done; a reservation also lapses when this process exits.
func ReserveAddrs(n, port int) (addrs []string, release func(), err error) {
	id := "r" + randomID()
	first, rel, err := reserve("", n, port, id)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < n; i++ {
		addrs = append(addrs, addrString(first+uint32(i)))
	}
	return addrs, rel, nil
}

// reserve reserves n consecutive addresses for fleet id. With want == "" it
// picks the first free range starting at DefaultFirstAddr on a /24 boundary
// (x.y.z.1); otherwise the range must start at want and be free.
func reserve(want string, n, port int, id string) (first uint32, release func(), err error) {
	if n < 1 {
		return 0, nil, fmt.Errorf("fleet: cannot reserve %d addresses", n)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	unlock, err := lockRegistry()
	if err != nil {
		return 0, nil, err
	}
	defer unlock()

	live, err := readRegistry()
	if err != nil {
		return 0, nil, err
	}
	busy, err := listeners(port)
	if err != nil {
		return 0, nil, err
	}
	conflict := func(f, l uint32) string {
		for _, r := range live {
			if f <= r.last && r.first <= l {
				return fmt.Sprintf("%s-%s is reserved by process %d (%s)", addrString(r.first), addrString(r.last), r.pid, r.id)
			}
		}
		for a := range busy {
			if f <= a && a <= l {
				return fmt.Sprintf("something already listens on %s:%d", addrString(a), port)
			}
		}
		return ""
	}
	span := uint32(n - 1)
	if want != "" {
		f, err := parseLoopback(want)
		if err != nil {
			return 0, nil, err
		}
		if f+span > loopbackLast || f+span < f {
			return 0, nil, fmt.Errorf("fleet: %d addresses from %s do not fit in 127.0.0.0/8", n, want)
		}
		if c := conflict(f, f+span); c != "" {
			return 0, nil, fmt.Errorf("fleet: cannot use %s-%s: %s", want, addrString(f+span), c)
		}
		first = f
	} else {
		start, _ := parseLoopback(DefaultFirstAddr)
		for f := start; ; f += 256 {
			if f+span > loopbackLast || f+span < f {
				return 0, nil, fmt.Errorf("fleet: no free range of %d loopback addresses", n)
			}
			if conflict(f, f+span) == "" {
				first = f
				break
			}
		}
	}
	live = append(live, reservation{first: first, last: first + span, pid: os.Getpid(), id: id})
	if err := writeRegistry(live); err != nil {
		return 0, nil, err
	}
	var once sync.Once
	release = func() {
		once.Do(func() { unreserve(id) })
	}
	return first, release, nil
}

// unreserve drops id's reservation from the registry.
func unreserve(id string) {
	registryMu.Lock()
	defer registryMu.Unlock()
	unlock, err := lockRegistry()
	if err != nil {
		return
	}
	defer unlock()
	live, err := readRegistry()
	if err != nil {
		return
	}
	kept := live[:0]
	for _, r := range live {
		if r.id != id {
			kept = append(kept, r)
		}
	}
	_ = writeRegistry(kept)
}

// lockRegistry takes the cross-process registry lock.
func lockRegistry() (unlock func(), err error) {
	if err := os.MkdirAll(registryDir, 0o755); err != nil {
		return nil, fmt.Errorf("fleet: address registry: %w", err)
	}
	lf, err := os.OpenFile(registryLock, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fleet: address registry: %w", err)
	}
	for {
		err = syscall.Flock(int(lf.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("fleet: locking %s: %w", registryLock, err)
	}
	return func() { lf.Close() }, nil
}

// readRegistry returns the reservations whose process is still alive.
func readRegistry() ([]reservation, error) {
	data, err := os.ReadFile(registryFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: address registry: %w", err)
	}
	var out []reservation
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		first, err1 := parseLoopback(f[0])
		last, err2 := parseLoopback(f[1])
		pid, err3 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil || !alive(pid) {
			continue
		}
		out = append(out, reservation{first: first, last: last, pid: pid, id: f[3]})
	}
	return out, nil
}

// writeRegistry atomically replaces the registry with rs.
func writeRegistry(rs []reservation) error {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s %s %d %s\n", addrString(r.first), addrString(r.last), r.pid, r.id)
	}
	tmp := filepath.Join(registryDir, fmt.Sprintf(".reservations.%d", os.Getpid()))
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("fleet: address registry: %w", err)
	}
	if err := os.Rename(tmp, registryFile); err != nil {
		return fmt.Errorf("fleet: address registry: %w", err)
	}
	return nil
}

// alive reports whether a process with this PID exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// listeners returns the IPv4 addresses with a TCP socket listening on port.
// A listener on 0.0.0.0 on that port makes it an error, since then no
// loopback address can bind it.
func listeners(port int) (map[uint32]bool, error) {
	out := map[uint32]bool{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 4 || f[3] != "0A" { // 0A: TCP_LISTEN
				continue
			}
			i := strings.LastIndexByte(f[1], ':')
			if i < 0 {
				continue
			}
			p, err := strconv.ParseUint(f[1][i+1:], 16, 16)
			if err != nil || int(p) != port {
				continue
			}
			raw, err := hex.DecodeString(f[1][:i])
			if err != nil {
				continue
			}
			switch len(raw) {
			case 4: // one 32-bit word in host (little-endian) order
				a := binary.LittleEndian.Uint32(raw)
				if a == 0 {
					return nil, fmt.Errorf("fleet: something listens on 0.0.0.0:%d, so no loopback address can; stop it or use another Options.Port: %w", port, errPortTaken)
				}
				out[a] = true
			case 16: // four 32-bit words in host order
				var b [16]byte
				for w := 0; w < 4; w++ {
					binary.BigEndian.PutUint32(b[4*w:], binary.LittleEndian.Uint32(raw[4*w:]))
				}
				// [::] is not checked: with IPV6_V6ONLY (as sshd sets
				// it) it does not take the IPv4 addresses.
				if a := netip.AddrFrom16(b); a.Is4In6() {
					v4 := a.Unmap().As4()
					out[binary.BigEndian.Uint32(v4[:])] = true
				}
			}
		}
	}
	return out, nil
}
