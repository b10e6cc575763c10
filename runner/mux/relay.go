package mux

import (
	"encoding/json"
	"errors"
	"io"
	"sync"

	"golang.org/x/crypto/ssh"
)

// conv is the keeper's side of a dial conversation: it asks dt, which
// answers from its known_hosts and keyring.
type conv struct {
	mu    sync.Mutex
	enc   *json.Encoder
	dec   *json.Decoder
	limit *limitReader // bounds each answer
}

func newConv(rw io.ReadWriter) *conv {
	limit := newLimitReader(rw)
	return &conv{enc: json.NewEncoder(rw), dec: json.NewDecoder(limit), limit: limit}
}

// refusal is dt's "no" to a question: a host key known_hosts does not
// vouch for, a key that would not sign. Any other error of conv means dt
// is gone.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func (c *conv) ask(q query) (answer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var a answer
	if err := c.enc.Encode(q); err != nil {
		return a, err
	}
	c.limit.reset()
	if err := c.dec.Decode(&a); err != nil {
		return a, err
	}
	if a.Err != "" {
		return a, &refusal{a.Err}
	}
	return a, nil
}

// tell says done or fail; dt answers nothing.
func (c *conv) tell(q query) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enc.Encode(q)
}

// checkHostKey asks dt whether key is hop's host key.
func (c *conv) checkHostKey(hop int, key ssh.PublicKey) error {
	_, err := c.ask(query{Op: opHostKey, Hop: hop, Key: key.Marshal()})
	return err
}

// signers asks dt for the keys to offer hop, and returns signers that
// have dt sign with them.
func (c *conv) signers(hop int) ([]ssh.Signer, error) {
	a, err := c.ask(query{Op: opKeys, Hop: hop})
	if err != nil {
		return nil, err
	}
	var out []ssh.Signer
	for i, k := range a.Keys {
		pub, err := ssh.ParsePublicKey(k.Blob)
		if err != nil {
			continue
		}
		r := relaySigner{c: c, hop: hop, index: i, pub: pub}
		switch k.Kind {
		case "multi":
			out = append(out, &relayMultiSigner{relayAlgoSigner{r}, k.Algos})
		case "algo":
			out = append(out, &relayAlgoSigner{r})
		default:
			out = append(out, &r)
		}
	}
	return out, nil
}

// relaySigner signs by asking dt: the private key stays with dt.
type relaySigner struct {
	c     *conv
	hop   int
	index int
	pub   ssh.PublicKey
}

func (r *relaySigner) PublicKey() ssh.PublicKey { return r.pub }

func (r *relaySigner) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	return r.sign(data, "")
}

func (r *relaySigner) sign(data []byte, algo string) (*ssh.Signature, error) {
	a, err := r.c.ask(query{Op: opSign, Hop: r.hop, Index: r.index, Data: data, Algo: algo})
	if err != nil {
		return nil, err
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(a.Sig, sig); err != nil {
		return nil, errors.New("dt sent a malformed signature")
	}
	return sig, nil
}

// relayAlgoSigner is a relaySigner whose key on dt's side signs with any
// algorithm of its type (an ssh.AlgorithmSigner).
type relayAlgoSigner struct{ relaySigner }

func (r *relayAlgoSigner) SignWithAlgorithm(_ io.Reader, data []byte, algo string) (*ssh.Signature, error) {
	return r.sign(data, algo)
}

// relayMultiSigner is a relaySigner whose key on dt's side signs with the
// listed algorithms only (an ssh.MultiAlgorithmSigner).
type relayMultiSigner struct {
	relayAlgoSigner
	algos []string
}

func (r *relayMultiSigner) Algorithms() []string { return r.algos }
