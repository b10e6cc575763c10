package main

import (
	"github.com/urfave/cli/v2"

	"github.com/dtools/dt/modules"
)

// rolloutFlags are the options of rolling runs: batches, the failure
// budget and the health gate (issue 10).
func rolloutFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "batch", Usage: "run the hosts in consecutive batches of `N` or N% of the selection (rounded down, at least 1)"},
		&cli.IntFlag{Name: "canary", DefaultText: "none", Usage: "a first batch of `N` hosts, then --batch for the rest"},
		&cli.StringFlag{Name: "max-fail", Usage: "start no further batch once more than `N` hosts (or N% of the selection) have failed; the hosts not started get skip lines"},
		&cli.StringFlag{Name: "batch-wait", Usage: "pause `D` between batches"},
		&cli.StringFlag{Name: "stagger", Usage: "spread the starts of the hosts of a batch `D` apart"},
		&cli.StringFlag{Name: "gate", Usage: "after the module's work on a host, run `CMD` there until it exits 0; the host is okay only if it does"},
		&cli.StringFlag{Name: "gate-interval", Usage: "time `D` between gate tries (default 1s)"},
		&cli.StringFlag{Name: "gate-timeout", Usage: "give the gate up to `D` (default 60s)"},
	}
}

// readRollout reads the rolling-run options.
func readRollout(c *cli.Context) (modules.Rollout, error) {
	var (
		r   modules.Rollout
		err error
	)
	batched := c.IsSet("batch") || c.IsSet("canary")
	if c.IsSet("batch") {
		if r.Batch, err = modules.ParseSize(c.String("batch")); err != nil {
			return r, flagErrorf("--batch %v", err)
		}
		if r.Batch.N == 0 {
			return r, flagErrorf("--batch %q: a batch has at least one host", c.String("batch"))
		}
	}
	if r.Canary = c.Int("canary"); r.Canary < 0 || c.IsSet("canary") && r.Canary == 0 {
		return r, flagErrorf("--canary %d: a canary batch has at least one host", r.Canary)
	}
	if c.IsSet("max-fail") {
		if !batched {
			return r, flagErrorf("--max-fail needs --batch or --canary: it decides whether the next batch starts")
		}
		size, err := modules.ParseSize(c.String("max-fail"))
		if err != nil {
			return r, flagErrorf("--max-fail %v", err)
		}
		r.MaxFail = &size
	}
	if r.BatchWait, err = parseDuration("batch-wait", c.String("batch-wait")); err != nil {
		return r, err
	}
	if r.BatchWait > 0 && !batched {
		return r, flagErrorf("--batch-wait needs --batch or --canary")
	}
	if r.Stagger, err = parseDuration("stagger", c.String("stagger")); err != nil {
		return r, err
	}
	r.Gate.Cmd = c.String("gate")
	if c.IsSet("gate") && r.Gate.Cmd == "" {
		return r, flagErrorf("--gate needs a command, e.g. --gate 'curl -fsS localhost:8080/health'")
	}
	if (c.IsSet("gate-interval") || c.IsSet("gate-timeout")) && r.Gate.Cmd == "" {
		return r, flagErrorf("--gate-interval and --gate-timeout need --gate")
	}
	r.Gate.Interval, r.Gate.Timeout = modules.DefaultGateInterval, modules.DefaultGateTimeout
	if c.IsSet("gate-interval") {
		if r.Gate.Interval, err = parseDuration("gate-interval", c.String("gate-interval")); err != nil {
			return r, err
		}
	}
	if c.IsSet("gate-timeout") {
		if r.Gate.Timeout, err = parseDuration("gate-timeout", c.String("gate-timeout")); err != nil {
			return r, err
		}
	}
	if r.Gate.Interval <= 0 || r.Gate.Timeout <= 0 {
		return r, flagErrorf("--gate-interval and --gate-timeout must be more than 0")
	}
	return r, nil
}
