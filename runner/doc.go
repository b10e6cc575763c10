// Package runner connects to hosts over SSH and runs commands on them.
//
// It owns ssh_config resolution (Resolver), authentication (agent, identity
// files, passphrase prompts), host key verification against known_hosts
// (strict, accept-new, off), the connection pool (one connection per
// destination and trust settings, shared only by the names that agree on
// all of them, one per jump host, each closed when its last lease is
// released), remote commands and subsystems ("sftp") with real cancellation
// (Run signals the remote process group, then closes; output kept in
// memory, or past Command.SpillAfter bytes in a spool file), and the
// bounded fan-out (Each).
//
// The runner never prints and never exits. Every per-host problem comes back
// as an *Error that names the stage where it happened (connect, handshake,
// hostkey, auth, session, timeout, interrupt), so callers turn it into a
// record; one host's failure never affects another's.
package runner
