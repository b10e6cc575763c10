package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dtools/dt/internal/fleet"
)

// rttClient is one way to run "true" on one host.
type rttClient struct {
	name string
	argv []string
	env  []string
}

// benchRTT measures how many network round trips one run of "true" on one
// host costs each client: a fleet of one host behind a relay, every client
// run -reps times (interleaved) with no delay and with D each way (the
// largest -latency, else 50 ms). Round trips = (median wall at D − median
// wall at 0) ÷ 2D. TCP's own handshake is not delayed by the relay, so a
// real link costs one more round trip for every client that connects.
func benchRTT(ctx context.Context, c config) error {
	d := 50
	for _, l := range c.latencies {
		d = max(d, l)
	}
	dtBin, err := filepath.Abs(c.dt)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "dtbench-rtt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f, err := fleet.Start(ctx, fleet.Options{Dir: filepath.Join(dir, "fleet"), N: 1, Relay: true})
	if err != nil {
		return err
	}
	defer f.Stop()
	h := f.Hosts[0].Name
	xdg := filepath.Join(dir, "xdg")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		return err
	}
	ctl := filepath.Join(dir, "ssh-%C")
	dtRun := func(persist string) []string {
		return []string{dtBin, "-N", "-F", f.SSHConfig, "-C", "1", "--persist", persist, "sys:" + h, "ssh", "true"}
	}
	clients := []rttClient{
		{name: "dt, cold", argv: dtRun("0")},
		{name: "dt, warm (--persist)", argv: dtRun("10m"), env: []string{"XDG_RUNTIME_DIR=" + xdg}},
		{name: "ssh, curve25519", argv: []string{"ssh", "-F", f.SSHConfig, "-o", "KexAlgorithms=curve25519-sha256", h, "true"}},
		{name: "ssh, defaults", argv: []string{"ssh", "-F", f.SSHConfig, h, "true"}},
		{name: "ssh, warm (ControlMaster)", argv: []string{"ssh", "-F", f.SSHConfig, "-o", "ControlMaster=auto", "-o", "ControlPath=" + ctl, "-o", "ControlPersist=10m", h, "true"}},
	}
	defer func() {
		stop := exec.Command(dtBin, "mux", "stop")
		stop.Env = append(f.Env(), "XDG_RUNTIME_DIR="+xdg)
		stop.Run()
		exec.Command("ssh", "-F", f.SSHConfig, "-o", "ControlPath="+ctl, "-O", "exit", h).Run()
	}()
	walls := map[string]map[int][]float64{}
	for _, cl := range clients {
		walls[cl.name] = map[int][]float64{}
	}
	for _, delay := range []int{0, d} {
		f.SetLatency(time.Duration(delay) * time.Millisecond)
		// The warm clients' first run makes their connection (not measured).
		for _, cl := range clients[1:] {
			if strings.Contains(cl.name, "warm") {
				if _, err := runOnce(ctx, f, cl); err != nil {
					return err
				}
			}
		}
		for rep := 0; rep < c.reps; rep++ {
			for _, cl := range clients {
				w, err := runOnce(ctx, f, cl)
				if err != nil {
					return err
				}
				walls[cl.name][delay] = append(walls[cl.name][delay], w)
				fmt.Fprintf(os.Stderr, "dtbench: rtt %-28s delay %3d ms  wall %.3fs\n", cl.name, delay, w)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "One run of `true` on one host through the relay: median wall of %d runs with no delay and with %d ms each way (a round trip of %d ms); round trips = (wall at %d ms − wall at 0) ÷ %d ms.\n\n", c.reps, d, 2*d, d, 2*d)
	b.WriteString("| client | wall s, no delay | wall s, delay | round trips |\n|---|---:|---:|---:|\n")
	for _, cl := range clients {
		w0, wd := median(walls[cl.name][0]), median(walls[cl.name][d])
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.1f |\n", cl.name, w0, wd, (wd-w0)/(2*float64(d)/1000))
	}

	// One more run of each at the delay, traced by the relay: the
	// flights of data each way, in the order the relay read them.
	f.SetLatency(time.Duration(d) * time.Millisecond)
	fmt.Fprintf(&b, "\nFlights of one run at %d ms each way, as the relay saw them (→ client to sshd, ← sshd to client; bytes; ms since the first): a round trip is a → answered by a ←.\n\n", d)
	for _, cl := range clients {
		var mu sync.Mutex
		var evs []fleet.RelayEvent
		f.TraceRelays(func(e fleet.RelayEvent) {
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
		})
		_, err := runOnce(ctx, f, cl)
		time.Sleep(time.Duration(2*d) * time.Millisecond) // the last bytes
		f.TraceRelays(nil)
		if err != nil {
			return err
		}
		mu.Lock()
		fl := flights(evs, time.Duration(d)*time.Millisecond/2)
		mu.Unlock()
		fmt.Fprintf(&b, "- %s: %d round trips: %s\n", cl.name, roundTrips(fl), strings.Join(fl.strings(), " "))
	}
	out := filepath.Join(c.out, c.label)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	fmt.Print(b.String())
	return os.WriteFile(filepath.Join(out, "rtt.md"), []byte(b.String()), 0o644)
}

// flight is data sent one way without waiting for the other side.
type flight struct {
	toServer bool
	bytes    int
	at       time.Duration // since the first event
}

type flightList []flight

func (fl flightList) strings() []string {
	var out []string
	for _, f := range fl {
		arrow := "←"
		if f.toServer {
			arrow = "→"
		}
		out = append(out, fmt.Sprintf("%s%d@%d", arrow, f.bytes, f.at.Milliseconds()))
	}
	return out
}

// flights merges the relay's events (one connection or several, by time)
// into flights: consecutive chunks one way less than gap apart.
func flights(evs []fleet.RelayEvent, gap time.Duration) flightList {
	sort.Slice(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	var fl flightList
	var last time.Time
	for _, e := range evs {
		n := len(fl)
		if n > 0 && fl[n-1].toServer == e.ToServer && e.At.Sub(last) < gap {
			fl[n-1].bytes += e.Bytes
		} else {
			fl = append(fl, flight{toServer: e.ToServer, bytes: e.Bytes, at: e.At.Sub(evs[0].At)})
		}
		last = e.At
	}
	return fl
}

// roundTrips counts the flights to the server that the server answered.
func roundTrips(fl flightList) int {
	n := 0
	for i := 0; i+1 < len(fl); i++ {
		if fl[i].toServer && !fl[i+1].toServer {
			n++
		}
	}
	return n
}

// runOnce runs cl and returns its wall time; a failure is an error.
func runOnce(ctx context.Context, f *fleet.Fleet, cl rttClient) (float64, error) {
	cmd := exec.CommandContext(ctx, cl.argv[0], cl.argv[1:]...)
	cmd.Env = append(f.Env(), cl.env...)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	w := time.Since(t0).Seconds()
	if err != nil {
		return 0, fmt.Errorf("%s: %v: %s", cl.name, err, out)
	}
	return w, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
