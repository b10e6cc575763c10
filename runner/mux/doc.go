// Package mux is dt's connection keeper: a per-user background process
// that keeps SSH connections open across dt runs, so that the next run on
// the same hosts logs in nowhere.
//
// dt talks to the keeper over a unix socket in a directory only the user
// can use ($XDG_RUNTIME_DIR/dt, else TMPDIR/dt-UID), with SSH itself as the
// framing: the keeper is a local SSH server, and every peer must be the
// same uid (SO_PEERCRED). dt asks it for a connection to a resolved
// destination (a dial channel); the keeper hands out the one it keeps for
// the same connection key, after dt checked its host key against
// known_hosts again, or dials a new one: TCP, ProxyCommand or jump hosts.
// While it dials it asks dt to check the host key and to sign the login;
// dt keeps its keyring, agent, passphrases and known_hosts, and the keeper
// never holds a private key or a passphrase. Every session dt then opens
// is a channel that the keeper splices onto a channel of the kept
// connection, requests (exec, subsystem, pty-req, env, signal...) and
// replies (exit-status, exit-signal) included, so runner.Run and every
// module work over it unchanged.
//
// Client is dt's side (a runner.Connector, plus Status and Stop); Serve is
// the keeper ("dt mux serve"). Connections are closed once idle for their
// persist time, and the keeper exits when it keeps nothing and nobody is
// connected.
package mux
