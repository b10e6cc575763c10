// Package runner connects to hosts over SSH and runs commands on them.
//
// It owns ssh_config resolution (Resolver), authentication (agent, identity
// files, passphrase prompts), host key verification against known_hosts
// (strict, accept-new, off), the connection pool (one connection per
// destination and trust settings, shared only by the names that agree on
// all of them, one per jump host, each closed when its last lease is
// released, or kept for a shell session with KeepIdle), remote commands
// and subsystems ("sftp") with real cancellation (Run signals the remote
// process group, then closes; output kept in memory, or past
// Command.SpillAfter bytes in a spool file) within the server's
// MaxSessions (SessionGate), local commands stopped the same way
// (RunLocal), the bounded fan-out (Each), and the connections that stop
// short of a login: a host key scan as ssh-keyscan does (ScanHostKey) and a
// reachability check (Ping). Password and keyboard-interactive answers are
// asked through Config.Ask, once per login, only when the CLI provides it
// (-i). Hosts that persist (--persist, ControlPersist) get their
// connections from a Connector, the connection keeper of package
// runner/mux, which shares Dial, KeepAlive and SessionGate with the pool
// but never dt's keys: it asks the pool's Hops to check host keys and sign.
//
// The runner never prints and never exits. Every per-host problem comes back
// as an *Error that names the stage where it happened (connect, handshake,
// hostkey, auth, session, timeout, interrupt), so callers turn it into a
// record; one host's failure never affects another's.
package runner
