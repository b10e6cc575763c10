package modules

import (
	"context"
	"flag"

	"github.com/dtools/dt/output"
)

// Deploy installs systemd unit files on every host and applies them:
// verified, reloaded, enabled, what changed restarted and checked, and
// rolled back when it does not come up.
type Deploy struct{}

// Name implements Module.
func (Deploy) Name() string { return "deploy" }

// Summary implements Module.
func (Deploy) Summary() string {
	return "install systemd unit files and apply them: verify, reload, enable, restart what changed, roll back on failure"
}

// Usage implements Module.
func (Deploy) Usage() string {
	return `dt PATTERN deploy [--user] [--no-enable] [--restart UNIT]... [--settle D] [--lines N] FILE...

The deploy hook in one command. Each FILE is a unit file (app.service,
app.socket, app.timer, app.path, app.target, ...) or a drop-in
(app.service.d/override.conf). On every host, on one SSH connection:

  1. push the files into /etc/systemd/system/ (~/.config/systemd/user/
     with --user) as copy does: atomically, and only those that differ;
     the version replaced stays next to it as FILE.dt-prev
  2. systemd-analyze verify the units that changed; a unit that does not
     verify (an error: a missing executable, a setting systemd refuses)
     fails the host before anything live changed: the previous files are
     put back, nothing is reloaded or restarted. Warnings (a key systemd
     ignores) do not fail it and are shown on its line
  3. enable the unit files that are disabled (unless --no-enable; never
     drop-ins or templates), then one systemctl daemon-reload
  4. restart what changed: sockets before their services (a service a
     restarted socket activates is stopped first and started after it),
     then services, then timers and paths; --restart adds units to restart
     even when unchanged. Nothing changed: nothing restarted. A changed
     service that a socket, timer or path activates and that is not
     running is left to it. Targets, slices, mounts, swaps and templates
     are reloaded, not restarted (--restart names an instance)
  5. verify as systemctl does: after --settle (default 2s) each restarted
     unit must be active and must not have restarted meanwhile; then
     --gate, when given, runs on the host. When either fails, the failed
     units' lines carry their journal since the deploy (--lines, default
     10) and the host is ROLLED BACK: previous unit files restored (new
     ones stopped, disabled and removed), daemon-reload, the units that
     ran before restarted on their old files

One line per host and unit: the unit, what deploy did, and its state as
systemctl prints it; on a rollback, what was restored and the state after:

  $ dt tag:web deploy app.service
  okay::dt:deploy:web1:app.service changed, restarted: active (running) since 2026-11-29 12:54:05 UTC; pid 1234; restarts 0; enabled
  okay::dt:deploy:web2:app.service unchanged: active (running) since 2026-11-28 09:10:11 UTC; pid 977; restarts 0; enabled
  fail::dt:deploy:web3:app.service changed, restarted: failed (failed) since 2026-11-29 12:54:06 UTC; result exit-code; restarts 0; enabled; restart: not active after 2s; rolled back to previous app.service: active (running) since 2026-11-29 12:54:09 UTC; pid 1301; restarts 0; enabled\n2026-11-29T12:54:06+0000 web3 app[1299]: bad config
  fail::dt:deploy:web4:app.service changed: active (running) since 2026-11-28 09:10:11 UTC; pid 980; restarts 0; enabled; systemd-analyze verify failed (exit 1); previous file restored, nothing restarted\n/etc/systemd/system/app.service:3: Unknown section 'Servce'. Ignoring.\napp.service: Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.

What deploy did, before the colon, is a comma-separated list of:
   changed, unchanged   whether any of the unit's files was written (not
                        said of a --restart unit without files)
   not loaded before    unchanged files that systemd had not loaded (a
                        deploy cut off after its push, an edit by hand):
                        applied as changed ones, verified, reloaded, restarted
   enabled              the unit was disabled and is now enabled
   restarted, started   it was (re)started: restarted when it ran before
   not started (app.socket starts it)
                        a changed service left to what activates it
Every line of a host that failed is a fail line: the unit that broke
says why, the others what was rolled back and why "(app.service
failed)". Lines after the first: what systemd-analyze said of a unit that
did not verify (or warned about its files), the journal of a unit that
failed. A failure of the host itself (connection lost, interrupted,
--timeout) starts with its stage, as for every module; the rollback then
still runs, for up to a minute.

OPTIONS
   --user       the login user's units (~/.config/systemd/user/, systemctl
                --user); needs the user's manager: loginctl enable-linger USER
   --no-enable  do not enable the units
   --restart UNIT  restart UNIT too, changed or not (repeatable; "app" is
                app.service)
   --settle D   how long a restart must hold before it counts (default 2s)
   --lines N    journal lines on failure (default 10; 0: none)

With --sudo (a non-root login) every step runs as root through sudo, the
files too (-K works as everywhere). A rollout a batch at a time, stopping
when hosts fail:

  dt --batch 10% --max-fail 1 --gate 'curl -fsS localhost:8080/health' \
     tag:web deploy app.socket app.service > deploy.log
  dt out:fail,skip deploy app.socket app.service < deploy.log   # finish it`
}

// Prepare implements Module.
func (m Deploy) Prepare(args []string, opts Options) (Job, error) {
	fs := flag.NewFlagSet(m.Name(), flag.ContinueOnError)
	var j deployJob
	var restart stringList
	fs.BoolVar(&j.sc.user, "user", false, "")
	fs.BoolVar(&j.noEnable, "no-enable", false, "")
	fs.Var(&restart, "restart", "")
	fs.DurationVar(&j.sc.settle, "settle", defaultSettle, "")
	fs.IntVar(&j.sc.lines, "lines", defaultFailureLines, "")
	rest, err := parseArgs(m.Name(), fs, args)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.Interactive:
		return nil, usagef(m.Name(), "-i does not apply: deploy talks SFTP and systemctl, not to a terminal")
	case len(rest) == 0:
		return nil, usagef(m.Name(), "missing FILE; usage: dt PATTERN deploy [OPTIONS] FILE... (unit files or UNIT.d/NAME.conf drop-ins)")
	case j.sc.user && opts.Sudo:
		return nil, usagef(m.Name(), "--user with --sudo would deploy root's user units; log in as the user instead (user@host in the inventory)")
	case j.sc.settle < 0:
		return nil, usagef(m.Name(), "--settle must not be negative")
	case j.sc.lines < 0:
		return nil, usagef(m.Name(), "--lines must not be negative")
	}
	if j.files, j.units, err = planDeploy(rest, restart); err != nil {
		return nil, usagef(m.Name(), "%v", err)
	}
	j.cache = &fileCache{}
	for _, f := range j.files {
		if err := j.cache.get(f.Local).load(); err != nil {
			return nil, usagef(m.Name(), "%v", err)
		}
	}
	j.sudo = opts.Sudo
	return j, nil
}

// deployJob is a prepared deploy.
type deployJob struct {
	sc       systemctlJob // --user, --settle, --lines: how units are shown, verified and their journal read
	noEnable bool
	sudo     bool
	files    []deployFile
	units    []deployUnit
	cache    *fileCache
}

func (j deployJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	d := newDeployRun(j, h)
	d.run(ctx, emit)
}
