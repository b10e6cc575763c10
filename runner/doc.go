// Package runner connects to hosts over SSH and runs commands on them.
//
// It owns ssh_config resolution (Resolver), authentication (agent, identity
// files, passphrase prompts), host key verification against known_hosts
// (strict, accept-new, off), the connection pool (one connection per
// destination and trust settings, shared only by the names that agree on
// all of them, one per jump host, each closed when its last lease is
// released, or kept for a shell session with KeepIdle), remote commands
// with real cancellation (Run signals the remote process group, then
// closes), local commands stopped the same way (RunLocal), the bounded
// fan-out (Each), and the connections that stop short of a login: a host
// key scan as ssh-keyscan does (ScanHostKey) and a reachability check
// (Ping). Password and keyboard-interactive answers are asked through
// Config.Ask, once per login, only when the CLI provides it (-i).
//
// The runner never prints and never exits. Every per-host problem comes back
// as an *Error that names the stage where it happened (connect, handshake,
// hostkey, auth, session, timeout, interrupt), so callers turn it into a
// record; one host's failure never affects another's.
package runner
