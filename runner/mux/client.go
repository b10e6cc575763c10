package mux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/runner"
)

// Options configure a Client.
type Options struct {
	// Dir is the socket directory (see Dir).
	Dir string
	// Exe is the dt binary that runs a keeper ("dt mux serve") when none
	// is running.
	Exe string
	// Getenv reads dt's environment: the keeper gets the few variables
	// it needs (see keeperEnv).
	Getenv func(string) string
	// Environ is dt's whole environment; a ProxyCommand the keeper runs
	// for dt gets it, as it would have if dt ran it.
	Environ []string
	// Shell runs ProxyCommands ($SHELL).
	Shell string
	// Warn is told, once, why the keeper is not used (the hosts are then
	// dialed directly). Nil: nobody is told.
	Warn func(msg string)
}

// Client is dt's side of the connection keeper: a runner.Connector that
// finds this user's keeper, or starts one, on the first connection asked
// for. It is safe for concurrent use.
type Client struct {
	o Options

	mu   sync.Mutex
	conn ssh.Conn // to the keeper, once connected
	err  error    // why the keeper cannot be used, once known
	warn sync.Once
}

var _ runner.Connector = (*Client)(nil)

// NewClient returns a client that connects to nothing until asked.
func NewClient(o Options) *Client { return &Client{o: o} }

// keeper returns the connection to the keeper, connecting (and starting
// one) on first use. An error wraps runner.ErrConnectorUnavailable.
func (c *Client) keeper() (ssh.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil || c.err != nil {
		return c.conn, c.err
	}
	conn, err := c.start()
	if err != nil {
		c.err = c.unavailable(err)
		return nil, c.err
	}
	c.conn = conn
	return conn, nil
}

// unavailable says once, through Warn, why the keeper cannot be used, and
// returns err wrapped in runner.ErrConnectorUnavailable: the pool then
// dials the hosts itself.
func (c *Client) unavailable(err error) error {
	c.warn.Do(func() {
		if c.o.Warn == nil {
			return
		}
		msg := "connection keeper not used, connecting directly: " + err.Error()
		var ue *UnsafeDirError
		var ve *VersionError
		switch {
		case errors.As(err, &ue) && ue.Hint != "":
			msg += "; hint: " + ue.Hint
		case errors.As(err, &ve):
			msg += "; hint: dt mux stop (then the next run starts this dt's keeper)"
		}
		c.o.Warn(msg)
	})
	return fmt.Errorf("%w: %w", runner.ErrConnectorUnavailable, err)
}

// start connects to the running keeper, or starts one and connects. A
// keeper that is exiting right then (idle) still holds its lock for a
// moment, so the new one says "running" and nobody answers: try again.
func (c *Client) start() (ssh.Conn, error) {
	getenv := c.o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	err := ErrNotRunning
	for attempt := 1; attempt <= 3; attempt++ {
		var conn ssh.Conn
		if conn, err = c.dialCurrent(); !errors.Is(err, ErrNotRunning) {
			return conn, err
		}
		if err := prepareDir(c.o.Dir, true); err != nil {
			return nil, err
		}
		if err := spawn(c.o.Exe, keeperEnv(getenv)); err != nil {
			return nil, err
		}
		if conn, err = c.dialCurrent(); !errors.Is(err, ErrNotRunning) {
			return conn, err
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
	return nil, err
}

// dialCurrent connects to the keeper, and refuses one that speaks
// another protocol (see protoVersion).
func (c *Client) dialCurrent() (ssh.Conn, error) {
	conn, err := dialKeeper(c.o.Dir)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(conn, Socket(c.o.Dir)); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// Connect implements runner.Connector.
func (c *Client) Connect(ctx context.Context, key string, t *runner.Target, hops []*runner.Hop) (*ssh.Client, error) {
	kc, err := c.keeper()
	if err != nil {
		return nil, err
	}
	v := newVConn(c, kc, t, hops)
	if err := v.dial(ctx); err != nil {
		return nil, err
	}
	return ssh.NewClient(v, v.newChans, v.reqs), nil
}

// Close closes the connection to the keeper (the keeper keeps the
// connections).
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		return c.conn.Close()
	}
	return nil
}

// GetStatus asks the keeper of dir what it keeps. It is ErrNotRunning
// when there is none.
func GetStatus(dir string) (*Status, error) {
	conn, err := dialKeeper(dir)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ok, payload, err := conn.SendRequest(reqStatus, true, nil)
	if err != nil || !ok {
		return nil, fmt.Errorf("the keeper did not answer: %v", err)
	}
	var s Status
	if err := json.Unmarshal(payload, &s); err != nil {
		return nil, fmt.Errorf("the keeper's status: %w", err)
	}
	return &s, nil
}

// Stop tells the keeper of dir to close every connection and exit, and
// returns how many it closed. It is ErrNotRunning when there is none.
func Stop(dir string) (int, error) {
	conn, err := dialKeeper(dir)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ok, payload, err := conn.SendRequest(reqStop, true, nil)
	if err != nil || !ok {
		return 0, fmt.Errorf("the keeper did not answer: %v", err)
	}
	var m stopMsg
	if err := ssh.Unmarshal(payload, &m); err != nil {
		return 0, err
	}
	return int(m.Closed), nil
}
