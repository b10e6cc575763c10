package runner

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/internal/fleet"
)

// BenchmarkFleetTrue runs `true` on every host of a real loopback fleet,
// the way `dt all: ssh true` does (resolve, dial, one session, release), at
// several fanouts. One op is one whole run. It reports wall time and this
// process's CPU per host; profile with -cpuprofile. It needs root and sshd
// (it skips without them), and runs only with -bench:
//
//	DT_BENCH_HOSTS=300 go test -run '^$' -bench FleetTrue -benchtime 3x ./runner/
func BenchmarkFleetTrue(b *testing.B) {
	n := 100
	if v := os.Getenv("DT_BENCH_HOSTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("DT_BENCH_HOSTS=%q: want a positive number", v)
		}
	}
	f := fleet.StartTest(b, fleet.Options{N: n})
	res, err := NewResolver(Config{Home: f.Home, LocalUser: f.User, SSHConfigFiles: []string{f.SSHConfig}})
	if err != nil {
		b.Fatal(err)
	}
	list := make([]hosts.Host, n)
	for i, h := range f.Hosts {
		list[i] = hosts.Host{Hop: hosts.Hop{Name: h.Name}}
	}
	for _, fanout := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("hosts=%d/fanout=%d", n, fanout), func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				pool := NewPool(Config{Home: f.Home, LocalUser: f.User, KeepAlive: -1})
				Each(context.Background(), n, fanout, func(ctx context.Context, i int) {
					t, err := res.Resolve(list[i])
					if err != nil {
						b.Error(err)
						return
					}
					l, err := pool.Acquire(ctx, t)
					if err != nil {
						b.Error(err)
						return
					}
					defer l.Release()
					if r, err := Run(ctx, l.Client, Command{Cmd: "true"}); err != nil || r.ExitCode != 0 {
						b.Errorf("%s: exit %d, %v", t.Name, r.ExitCode, err)
					}
				})
				pool.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N*n), "cpu-ms/host")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
