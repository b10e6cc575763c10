package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dtools/dt/internal/fleet"
)

// TestPing: a host that answers gives its connect and banner times and
// its version line, with no login; a refused, a blackholed (timeout) and
// a silent address fail naming why; a host behind a jump host is pinged
// through it (the jump host logged in to once, the host not at all).
func TestPing(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 3})
	port := f.Hosts[0].Port
	refused := f.SpareAddr(0)
	blackhole := f.SpareAddr(1)
	silent := f.SpareAddr(2)
	stop, err := fleet.StartBlackhole(fmt.Sprintf("%s:%d", blackhole, port))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stopSilent, err := fleet.StartSilent(fmt.Sprintf("%s:%d", silent, port))
	if err != nil {
		t.Fatal(err)
	}
	defer stopSilent()

	home := copyHome(t, f)
	h1, h2, h3 := f.Hosts[0], f.Hosts[1], f.Hosts[2]
	// h003 is reached through h001; so is the refused address.
	writeFile(t, filepath.Join(home, ".dtdb"), []byte(fmt.Sprintf("%s\n%s|%s\nbehind:%d|%s\n", h2.Name, h3.Name, h1.Name, port, h1.Name)), 0o600)
	appendFile(t, filepath.Join(home, ".ssh", "config"), fmt.Sprintf("\nHost behind\n  HostName %s\n", refused))

	r := dt(t, f, []string{"HOME=" + home}, "", "-T", "1s", fmt.Sprintf("sys:%s,%s,%s,%s:%d,%s:%d,%s:%d", h2.Name, h3.Name, "behind",
		refused, port, blackhole, port, silent, port), "ping")
	recs := records(t, r.stdout)
	if r.code != 1 || len(recs) != 6 {
		t.Fatalf("exit %d, %d records", r.code, len(recs))
	}
	okay := regexp.MustCompile(`^tcp \d+\.\d\dms banner \d+\.\d\dms SSH-2\.0-OpenSSH_\S+`)
	for _, h := range []string{h2.Name, h3.Name} {
		if m := string(recs[h].Message); recs[h].Status != "okay" || !okay.MatchString(m) {
			t.Errorf("%s: %s %q", h, recs[h].Status, m)
		}
	}
	want := map[string]string{
		refused:   "connect: dial tcp " + refused + fmt.Sprintf(":%d: connection refused", port),
		blackhole: "connect: dial tcp " + blackhole + fmt.Sprintf(":%d: timed out after 1s", port),
		silent:    "handshake: " + silent + fmt.Sprintf(":%d accepted the connection", port),
		"behind":  "connect: dial tcp " + refused + fmt.Sprintf(":%d via jump host %s: connection refused", port, h1.Name),
	}
	for h, w := range want {
		if m := string(recs[h].Message); recs[h].Status != "fail" || !strings.HasPrefix(m, w) {
			t.Errorf("%s: %s %q, want fail %q...", h, recs[h].Status, m, w)
		}
	}
	if m := string(recs["behind"].Message); !strings.Contains(m, "refused") {
		t.Errorf("behind the jump host: %q does not say refused", m)
	}
	for _, c := range []struct {
		h    *fleet.Host
		want int
	}{{&h1, 1}, {&h2, 0}, {&h3, 0}} {
		if n, _ := f.Handshakes(c.h.Name); n != c.want {
			t.Errorf("%s: %d logins, want %d", c.h.Name, n, c.want)
		}
	}
}
