package mux

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// dialConversation asks the keeper on kc for the connection to t through
// hops and answers its questions (host keys, keys to offer, signatures)
// until it says done, with the lease, or fail.
func dialConversation(ctx context.Context, c *Client, kc ssh.Conn, t *runner.Target, hops []*runner.Hop) (query, error) {
	o := c.o
	req := dialRequest{}
	for _, h := range hops {
		ht := h.Target
		req.Hops = append(req.Hops, hopSpec{
			Key: h.Key, Name: ht.Name, Dest: ht.String(),
			HostName: ht.HostName, Port: ht.Port, User: ht.User,
			ProxyCommand: ht.ProxyCommand, Shell: o.Shell,
			ConnectTimeout: ht.ConnectTimeout, KeepAlive: ht.KeepAlive, KeepAliveMax: ht.KeepAliveMax,
			Persist: t.Persist, HostKeyAlgorithms: h.HostKeyAlgorithms,
		})
	}
	if len(hops) > 0 && hops[0].Target.ProxyCommand != "" {
		req.Environ = o.Environ
	}
	data, err := json.Marshal(req)
	if err != nil {
		return query{}, err
	}
	// The keeper answers at once, before it dials anything: one that takes
	// the local connection but never answers is not used, rather than
	// holding the run for ever.
	ch, reqs, err := openWithin(ctx, kc, dialTimeout, chanDial, data)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return query{}, cause
		}
		return query{}, c.unavailable(fmt.Errorf("the keeper did not take the connection: %v", err))
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	stop := context.AfterFunc(ctx, func() { ch.Close() })
	defer stop()

	limit := newLimitReader(ch)
	dec, enc := json.NewDecoder(limit), json.NewEncoder(ch)
	signers := make([][]ssh.Signer, len(hops))
	for {
		var q query
		limit.reset()
		if err := dec.Decode(&q); err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return query{}, cause
			}
			return query{}, &runner.Error{Stage: output.StageConnect, Err: fmt.Errorf("the connection keeper stopped answering: %v", err)}
		}
		if q.Op != opDone && (q.Hop < 0 || q.Hop >= len(hops)) {
			return query{}, fmt.Errorf("connection keeper: hop %d of %d", q.Hop, len(hops))
		}
		var a answer
		switch q.Op {
		case opDone:
			return q, nil
		case opFail:
			if q.Handshake {
				return query{}, &runner.HopError{Hop: q.Hop, Handshake: true, Err: errors.New(q.Msg)}
			}
			return query{}, &runner.HopError{Hop: q.Hop, Err: &runner.Error{Stage: q.Stage, Err: errors.New(q.Msg)}}
		case opHostKey:
			key, err := ssh.ParsePublicKey(q.Key)
			if err == nil {
				err = hops[q.Hop].CheckHostKey(key)
			}
			if err != nil {
				a.Err = err.Error()
			}
		case opKeys:
			signers[q.Hop] = hops[q.Hop].Signers()
			for _, s := range signers[q.Hop] {
				a.Keys = append(a.Keys, describe(s))
			}
		case opSign:
			if q.Index < 0 || q.Index >= len(signers[q.Hop]) {
				a.Err = fmt.Sprintf("no key %d", q.Index)
				break
			}
			sig, err := sign(signers[q.Hop][q.Index], q.Data, q.Algo)
			if err != nil {
				a.Err = err.Error()
				break
			}
			a.Sig = ssh.Marshal(sig)
		default:
			a.Err = fmt.Sprintf("unknown question %q", q.Op)
		}
		if err := enc.Encode(a); err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return query{}, cause
			}
			return query{}, &runner.Error{Stage: output.StageConnect, Err: fmt.Errorf("the connection keeper stopped listening: %v", err)}
		}
	}
}

// describe says what the keeper needs to know of a signer to offer it as
// x/crypto would offer it here.
func describe(s ssh.Signer) pubKey {
	k := pubKey{Blob: s.PublicKey().Marshal(), Kind: "plain"}
	switch m := s.(type) {
	case ssh.MultiAlgorithmSigner:
		k.Kind, k.Algos = "multi", m.Algorithms()
	case ssh.AlgorithmSigner:
		k.Kind = "algo"
	}
	return k
}

// sign signs data with s, with algorithm algo when it is not empty.
func sign(s ssh.Signer, data []byte, algo string) (*ssh.Signature, error) {
	if algo != "" {
		if as, ok := s.(ssh.AlgorithmSigner); ok {
			return as.SignWithAlgorithm(rand.Reader, data, algo)
		}
	}
	return s.Sign(rand.Reader, data)
}
