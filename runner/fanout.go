package runner

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// DefaultFanout is how many hosts run at once unless -C says otherwise.
// Measured on a 2-core box against 300 and 500 loopback sshd hosts (see
// BENCHMARKS.md): with no latency, wall time is flat from 32 up to 128
// (the servers' CPU bounds it) and 256 is slower (contention); behind
// 50-100 ms of latency each way a login waits 8 round trips, and 128 in
// flight is 26-33% faster than 64 for cold and warm (--persist) runs
// alike, while dt pays ~100 KiB per host in flight. Over longer links a
// larger -C pays off more.
const DefaultFanout = 128

// Each calls fn for every index in [0, n), at most limit at a time, and
// waits for all of them. Once ctx is done no new work starts, but fn is
// still called for every remaining index with the done context, so the
// caller can report those hosts as interrupted: nothing is silently lost.
func Each(ctx context.Context, n, limit int, fn func(ctx context.Context, i int)) {
	if limit < 1 {
		limit = 1
	}
	var g errgroup.Group
	g.SetLimit(limit)
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			fn(ctx, i)
			continue
		}
		g.Go(func() error {
			fn(ctx, i)
			return nil
		})
	}
	g.Wait()
}
