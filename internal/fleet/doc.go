// Package fleet starts a throwaway fleet of real OpenSSH servers on loopback
// addresses, for dt's end-to-end tests, its demo and its benchmarks.
//
// Every host is its own /usr/sbin/sshd listening on its own address of
// 127.0.0.0/8 (port 22 by default), with its own ed25519 host key, its own
// log file and its own hostname. Each sshd runs as PID 1 of fresh PID, UTS
// and mount namespaces (with a private /proc), so that
//
//   - `hostname` and `ps` over ssh show that host only;
//   - stopping a host (killing its sshd) makes the kernel kill every process
//     the host ever started, including sessions left behind by a client that
//     timed out or was interrupted, and nothing is left as a zombie (PID 1 of
//     this machine does not reap orphans).
//
// Every host also mounts a tmpfs of its own at Fleet.Private (the same path
// on every host, Options.PrivateSize each, 256 MiB by default, mode 1777),
// so that a file copied to 50 hosts is 50 files, and a host with a small
// one has a disk that fills up. Host.PrivatePath reaches a host's files
// from outside, through the /proc root of its sshd.
//
// The client side lives in a fake home directory, Fleet.Home, holding
// ~/.ssh/config, ~/.ssh/known_hosts, ~/.ssh/id_ed25519 and ~/.dtdb, so that
//
//	HOME=$FLEET_HOME dt tag:linux ssh date
//
// works with no other flag. Note that the OpenSSH client ignores $HOME; run
// it as `ssh -F Fleet.SSHConfig HOST`: the generated config names every file
// by absolute path.
//
// Sessions started on a host get DT_TEST_HOST=<name> and
// DT_TEST_FLEET=<Fleet.ID> in their environment (sshd's SetEnv), which is how
// Fleet.RemoteProcs finds the processes a fleet runs. Every successful login
// writes one "Accepted publickey for USER" line to the host's log
// (LogLevel VERBOSE), which Fleet.Handshakes counts.
//
// Starting a fleet needs root (sshd binds port 22, and the namespaces need
// CAP_SYS_ADMIN) and /usr/sbin/sshd; Available says whether both are there,
// and Require and StartTest turn that into a skip, or into a failure when
// DT_REQUIRE_SSHD is set (as CI does).
//
// Addresses are reserved in a small registry under /run/dt-fleet, so that
// fleets started at the same time by different test binaries (go test ./...
// runs packages in parallel) never collide. StartBlackhole, StartSilent and
// Fleet.SpareAddr provide misbehaving "hosts" for timeout tests.
//
// StartSystemd starts a different kind of fleet with the same Fleet type:
// containers c001.. with real systemd as PID 1 (systemd-nspawn --boot over
// an overlay of a Debian base that is built once with debootstrap and
// cached), each with its own sshd on its own loopback address, sudo, a
// lingering user with a real user manager, and the DemoUnits. The client
// logs in as root; SystemdUser and NoLingerUser are one "user@" away, or
// the default of a home written by Fleet.UserHome. AvailableSystemd,
// RequireSystemd and StartSystemdTest work like their sshd counterparts,
// with DT_REQUIRE_SYSTEMD as the switch CI sets.
package fleet
