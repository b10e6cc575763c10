// Package modules holds what dt can do on hosts: one file per module and one
// explicit table (Table) naming them all.
//
// A Module checks its arguments once (Prepare) and returns a Job; the Job
// runs on each host through a *Host, which dials lazily through the shared
// connection pool, so a module that runs several commands on a host costs
// one SSH handshake, and a module that never connects (list) costs none. A
// Job emits one or more records per host and may stream them.
//
// Execute fans a Job out over hosts with a bound, applies the per-host
// deadline, and turns every failure into a record: it never stops because
// one host failed. It writes records as they come, or in selection order
// (Run.Sort), and tells a Tracker when each host starts and ends (the
// progress line and summary).
//
// Jobs whose records are a command's raw output (OutputJob: ssh, script,
// sudo) keep at most output.SpoolLimit bytes of it in memory, the rest in
// a private spool file the writers stream from (see output.Spilled), and
// with Run.Stream print it line by line as it arrives. Modules that parse
// their commands' output keep it in memory.
//
// A BatchJob (add, tag, del) gets every host at once, so
// that an inventory edit is one transaction; inventory.go holds what those
// three share.
//
// Beside the module files, a few files hold what several modules share:
// svstatus.go parses "sv status" (runit, svc), unitstate.go models a
// systemd unit's "systemctl show" state (systemctl, svc), unitjournal.go
// reads the journal lines a failed unit's record carries (systemctl, svc),
// journalpid.go finds a unit's processes' lines by PID (systemctl,
// journal), runtimedir.go sets XDG_RUNTIME_DIR for --user sessions
// (systemctl, journal), and samefiles.go tells which files a host has
// already (copy, deploy).
//
// deploy is several files: deploy.go (the module), deployplan.go (its
// arguments: unit files, drop-ins, units), unitfiles.go (pushing unit
// files with copy's code, keeping the previous versions), unitsteps.go
// (remote scripts of systemctl steps and the order of restarts),
// deployrun.go (the steps on one host), deployverify.go (systemd-analyze
// verify, and putting files back when a unit does not verify),
// deployrestart.go (what restarts, in which order, and the settle
// window's verdict) and deployrollback.go. A job
// that can undo its work registers it with Host.OnGateFailure: Execute
// calls it when the host's --gate fails; what is left to do once the
// work stands (after the gate passed, or at once without a gate) goes to
// Host.OnDone.
package modules
