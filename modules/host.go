package modules

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dtools/dt/hosts"
	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Host is a Job's handle on one host: its inventory entry and a connection
// dialed on first use and reused for every command after that.
type Host struct {
	Entry   hosts.Host
	Module  string
	Started time.Time

	target   *runner.Target
	resolver *runner.Resolver // resolves target on first use when set
	pool     *runner.Pool
	lease    *runner.Lease
	dialErr  error
	priv     Privilege
	sudoed   bool // a command went through sudo: failures get a sudo hint
	// sudoRefused is the first sudo validation failure on this host (-K):
	// later sudo commands fail with it instead of costing another attempt.
	sudoRefused error
	// out says where the output of commands that do not choose goes:
	// spilled past a limit, or streamed line by line (see OutputJob).
	out rawOutput
	// undo, set by a job through OnGateFailure, undoes its work when the
	// host's --gate fails.
	undo func(ctx context.Context, gateErr error, recs []output.Record) []output.Record
	// done, set by a job through OnDone, runs once its work stands.
	done func(ctx context.Context)
}

// OnGateFailure registers what undoes the job's work on this host when
// its --gate (which Execute runs after the job) does not pass: deploy
// rolls back. undo gets the records the job emitted and returns the ones
// to print instead; Execute then marks their okay records as failures of
// stage gate, as for any module. Without a gate it is never called.
func (h *Host) OnGateFailure(undo func(ctx context.Context, gateErr error, recs []output.Record) []output.Record) {
	h.undo = undo
}

// OnDone registers what the job still has to do on this host once its
// work stands: after its --gate passed, or as soon as the job returns
// when there is no gate (a failed gate calls the OnGateFailure function
// instead). deploy drops the copies it kept for a rollback.
func (h *Host) OnDone(done func(ctx context.Context)) {
	h.done = done
}

// Name is the host name printed in records.
func (h *Host) Name() string { return h.Entry.Name }

// Run runs one remote command on the host, dialing it first if needed.
// Under --sudo the command runs through sudo (see Privilege).
func (h *Host) Run(ctx context.Context, cmd runner.Command) (runner.Result, error) {
	if h.priv.Sudo {
		return h.RunSudo(ctx, cmd)
	}
	return h.run(ctx, cmd)
}

// RunSudo runs one remote command as root through sudo, with the run's
// password (-K) if it has one. Once sudo has refused the password (or the
// user) on this host, RunSudo fails at once: sudo is asked once per host,
// not once per command, so a wrong password cannot lock the account.
func (h *Host) RunSudo(ctx context.Context, cmd runner.Command) (runner.Result, error) {
	h.sudoed = true
	if h.sudoRefused != nil {
		return runner.Result{ExitCode: -1}, h.sudoRefused
	}
	res, err := h.run(ctx, sudoWrap(cmd, h.priv.Password))
	if err == nil && h.priv.Password != nil {
		if out, failed := sudoValidationFailed(res); failed {
			res.Output = out
			why := "sudo refused the -K password or the login user"
			if hint := sudoHint(out); hint != "" {
				why = hint
			}
			h.sudoRefused = &runner.Error{Stage: output.StageAuth, Err: fmt.Errorf("sudo: not asked again on this host after it failed once (%s)", why)}
		}
	}
	return res, err
}

// Target resolves the host through ssh_config (once) and returns where
// it is dialed.
func (h *Host) Target() (*runner.Target, error) {
	if h.target == nil && h.resolver != nil {
		t, err := h.resolver.Resolve(h.Entry)
		if err != nil {
			return nil, &runner.Error{Stage: output.StageResolve, Err: err}
		}
		h.target = t
	}
	if h.target == nil || h.pool == nil {
		return nil, &runner.Error{Stage: output.StageResolve, Err: fmt.Errorf("host %s has no connection", h.Name())}
	}
	return h.target, nil
}

// ScanHostKey fetches the host's key without logging in, checking it
// (and recording it under accept-new) as ssh-keyscan would; see
// runner.Pool.ScanHostKey.
func (h *Host) ScanHostKey(ctx context.Context) (runner.KeyScan, error) {
	t, err := h.Target()
	if err != nil {
		return runner.KeyScan{}, err
	}
	return h.pool.ScanHostKey(ctx, t)
}

// Ping times a connection to the host and its SSH version line, without
// logging in; see runner.Pool.Ping.
func (h *Host) Ping(ctx context.Context) (runner.Ping, error) {
	t, err := h.Target()
	if err != nil {
		return runner.Ping{}, err
	}
	return h.pool.Ping(ctx, t)
}

func (h *Host) run(ctx context.Context, cmd runner.Command) (runner.Result, error) {
	if err := h.Connect(ctx); err != nil {
		return runner.Result{ExitCode: -1}, err
	}
	cmd = h.out.apply(cmd)
	res, err := runner.Run(ctx, h.lease.Client, cmd)
	h.out.flush()
	return res, err
}

// Connect dials the host unless it is connected already. Run does it on
// first use; a job that runs commands concurrently calls it first, so that
// they share one connection.
func (h *Host) Connect(ctx context.Context) error {
	if h.lease == nil && h.dialErr == nil {
		if _, err := h.Target(); err != nil {
			h.dialErr = err
		} else {
			h.lease, h.dialErr = h.pool.Acquire(ctx, h.target)
		}
	}
	return h.dialErr
}

// connected reports whether the host's connection was established.
func (h *Host) connected() bool { return h.lease != nil }

// release gives the host's connection back to the pool.
func (h *Host) release() {
	if h.lease != nil {
		h.lease.Release()
	}
}

// Record builds a record for this host.
func (h *Host) Record(status output.Status, stage string, msg []byte, exit int) output.Record {
	return output.Record{
		Status:   status,
		Module:   h.Module,
		Host:     h.Name(),
		Message:  msg,
		Stage:    stage,
		ExitCode: exit,
		Started:  h.Started,
		Duration: time.Since(h.Started),
	}
}

// Okay builds a success record.
func (h *Host) Okay(msg []byte) output.Record { return h.Record(output.Okay, "", msg, 0) }

// Fail builds a failure record from an error, naming its stage.
func (h *Host) Fail(err error) output.Record {
	return h.Record(output.Fail, runner.Stage(err), []byte(err.Error()), -1)
}

// SudoHint explains a sudo failure in out ("" when there is none, or when
// no command on this host went through sudo).
func (h *Host) SudoHint(out []byte) string {
	if !h.sudoed {
		return ""
	}
	return sudoHint(out)
}

// Result turns a finished command (or its error) into the record plain
// command modules print: okay on exit 0; otherwise fail with the exit
// status, the signal, or the stage that went wrong, and any output so far.
func (h *Host) Result(res runner.Result, err error) output.Record {
	if res.Spool != nil {
		return h.spilledResult(res, err)
	}
	if err != nil {
		msg := err.Error()
		switch runner.Stage(err) {
		case output.StageTimeout, output.StageInterrupt:
			if res.ExitCode == -1 && h.connected() {
				msg += "; remote command stopped"
			}
		}
		if len(res.Output) > 0 {
			msg += "; output so far:\n" + strings.TrimSuffix(string(res.Output), "\n")
		}
		r := h.Fail(err)
		r.Message = []byte(msg)
		return r
	}
	if res.Signal != "" {
		msg := "killed by signal " + res.Signal
		if len(res.Output) > 0 {
			msg += "\n" + string(res.Output)
		}
		return h.Record(output.Fail, output.StageExit, []byte(msg), -1)
	}
	if res.ExitCode != 0 {
		out := res.Output
		if hint := h.SudoHint(out); hint != "" {
			out = append(bytes.TrimRight(bytes.Clone(out), "\n"), " (hint: "+hint+")"...)
		}
		return h.Record(output.Fail, output.StageExit, out, res.ExitCode)
	}
	if h.out.stream != nil {
		return h.Record(output.Okay, output.StageExit, res.Output, 0) // the verdict: "exit 0"
	}
	return h.Record(output.Okay, "", res.Output, 0)
}
