package runner

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
)

// KeyScan is a host key fetched by Pool.ScanHostKey.
type KeyScan struct {
	Key   ssh.PublicKey
	Check HostKeyCheck // how it was vouched for
	// File is the known_hosts file it was recorded in (KeyRecorded).
	File string
}

// errScanned ends a handshake once the host key is in hand.
var errScanned = errors.New("host key scanned")

// scanAlgorithms are the host key types asked for when known_hosts has
// none for a host: OpenSSH's order, ed25519 first, plain keys only (as
// ssh-keyscan records them).
var scanAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// ScanHostKey fetches t's host key the way ssh-keyscan does: it connects
// (through t's jump hosts or ProxyCommand), runs the key exchange until
// the server has proven it holds the key, and hangs up before logging in.
// The key is checked under t's policy like any other connection's: known
// keys are verified, a new key is recorded in known_hosts under
// accept-new and refused under strict, and a changed key is always
// refused (a *HostKeyError with StageHostKey).
func (p *Pool) ScanHostKey(ctx context.Context, t *Target) (KeyScan, error) {
	l, via, err := p.jumps(ctx, t)
	if err != nil {
		return KeyScan{}, err
	}
	defer l.Release()
	dctx, cancel := context.WithTimeout(ctx, t.ConnectTimeout)
	defer cancel()
	conn, err := transport(ctx, dctx, t, via, p.cfg.Shell, nil)
	if err != nil {
		return KeyScan{}, err
	}
	defer conn.Close()

	var (
		scan     KeyScan
		checkErr error
	)
	algos := p.hks.algorithms(t)
	if algos == nil {
		algos = scanAlgorithms
	}
	cfg := &ssh.ClientConfig{
		Config: algorithms,
		User:   t.User,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			scan.Key = key
			scan.Check, checkErr = p.hks.check(t, key)
			if checkErr != nil {
				return checkErr
			}
			return errScanned
		},
		HostKeyAlgorithms: algos,
		Timeout:           t.ConnectTimeout,
	}
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	c, _, _, err := ssh.NewClientConn(conn, t.Addr(), cfg)
	timedOut := !stop()
	if c != nil {
		c.Close() // never: the callback always ends the handshake
	}
	switch {
	case scan.Key != nil && checkErr != nil:
		var hk *HostKeyError
		if errors.As(checkErr, &hk) {
			return scan, &Error{Stage: output.StageHostKey, Err: hk}
		}
		return scan, &Error{Stage: output.StageHostKey, Err: checkErr}
	case scan.Key != nil:
		if scan.Check == KeyRecorded && len(t.KnownHostsFiles) > 0 {
			scan.File = t.KnownHostsFiles[0]
		}
		return scan, nil
	case timedOut:
		if cause := context.Cause(ctx); cause != nil {
			return scan, cause
		}
		return scan, stageErr(output.StageHandshake, "ssh handshake with %s timed out after %s", t.Addr(), t.ConnectTimeout)
	}
	return scan, &Error{Stage: output.StageHandshake, Err: fmt.Errorf("ssh handshake with %s: %v", t.Addr(), err)}
}
