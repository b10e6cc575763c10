package mux

import (
	"time"
)

// protoVersion is the SSH version string of dt and its keeper. It names
// the protocol below: change its number with any change a keeper of
// another dt could misread. dt uses a keeper only when the keeper's
// version is its own (a keeper left running by an older or newer dt is
// not used, and "dt mux stop" ends it), so two protocols are never mixed.
const protoVersion = "SSH-2.0-dt-mux-1"

// The channel and global request types between dt and its keeper.
const (
	// chanDial asks for a connection; its extra data is a dialRequest in
	// JSON, and then the keeper asks (query) and dt answers (answer), one
	// JSON value per line, until the keeper says done or fail.
	chanDial = "dial@dt.mux"
	// chanOpen opens a channel on a leased connection: openMsg.
	chanOpen = "open@dt.mux"
	// reqAlive asks whether a leased connection is alive: leaseMsg in,
	// aliveMsg back. It stands in for keepalives over the connection.
	reqAlive = "alive@dt.mux"
	// reqRelease gives a lease back: leaseMsg.
	reqRelease = "release@dt.mux"
	// reqStatus asks for a Status in JSON.
	reqStatus = "status@dt.mux"
	// reqStop asks the keeper to close everything and exit; the reply is
	// a stopMsg.
	reqStop = "stop@dt.mux"
)

// lostPrefix starts the message of a channel open the keeper refuses
// because the kept connection has died: dt then asks for a new one.
const lostPrefix = "connection lost: "

// dialRequest asks the keeper for the connection through Hops.
type dialRequest struct {
	Hops []hopSpec `json:"hops"`
	// Environ is dt's environment, for the first hop's ProxyCommand.
	Environ []string `json:"environ,omitempty"`
}

// hopSpec is one hop of a connection as the keeper needs it: where to
// dial, and how long to keep it.
type hopSpec struct {
	Key               string        `json:"key"` // the connection key up to this hop
	Name              string        `json:"name"`
	Dest              string        `json:"dest"` // user@host:port via jumps, for status
	HostName          string        `json:"host"`
	Port              string        `json:"port"`
	User              string        `json:"user"`
	ProxyCommand      string        `json:"proxy,omitempty"`
	Shell             string        `json:"shell,omitempty"`
	ConnectTimeout    time.Duration `json:"connect_timeout"`
	KeepAlive         time.Duration `json:"keepalive"`
	KeepAliveMax      int           `json:"keepalive_max"`
	Persist           time.Duration `json:"persist"`
	HostKeyAlgorithms []string      `json:"host_key_algorithms,omitempty"`
}

// The queries of a dial conversation.
const (
	opHostKey = "hostkey" // check Key, the hop's host key; answer Err
	opKeys    = "keys"    // which keys to offer the hop; answer Keys
	opSign    = "sign"    // sign Data with key Index, Algo; answer Sig
	opDone    = "done"    // the connection: Lease
	opFail    = "fail"    // the dial failed at Hop
)

// query is what the keeper says during a dial.
type query struct {
	Op    string `json:"op"`
	Hop   int    `json:"hop"`
	Key   []byte `json:"key,omitempty"`
	Index int    `json:"index,omitempty"`
	Data  []byte `json:"data,omitempty"`
	Algo  string `json:"algo,omitempty"`

	// done
	Lease         uint64 `json:"lease,omitempty"`
	Reused        bool   `json:"reused,omitempty"`
	SessionID     []byte `json:"session_id,omitempty"`
	ServerVersion string `json:"server_version,omitempty"`
	ClientVersion string `json:"client_version,omitempty"`

	// fail: Stage and Msg, or Handshake and Msg (x/crypto's error)
	Stage     string `json:"stage,omitempty"`
	Msg       string `json:"msg,omitempty"`
	Handshake bool   `json:"handshake,omitempty"`
}

// answer is dt's reply to a query.
type answer struct {
	Err  string   `json:"err,omitempty"`
	Keys []pubKey `json:"keys,omitempty"`
	Sig  []byte   `json:"sig,omitempty"` // ssh.Marshal of an *ssh.Signature
}

// pubKey is one key dt offers: its public key and what its signer can do.
type pubKey struct {
	Blob []byte `json:"blob"`
	// Kind is "multi" (Algos are the signature algorithms it supports),
	// "algo" (it signs with any algorithm of its key type) or "plain".
	Kind  string   `json:"kind"`
	Algos []string `json:"algos,omitempty"`
}

// openMsg opens a channel of Type with Data on the connection of Lease.
type openMsg struct {
	Lease uint64
	Type  string
	Data  []byte
}

// leaseMsg names a lease.
type leaseMsg struct {
	Lease uint64
}

// aliveMsg answers reqAlive. A connection closed after Missed unanswered
// keepalives Interval apart says so, for dt's message.
type aliveMsg struct {
	Alive    bool
	Why      string
	Missed   uint32
	Interval uint64 // nanoseconds
}

// stopMsg answers reqStop.
type stopMsg struct {
	Closed uint32
}

// Status is what "dt mux status" shows.
type Status struct {
	PID     int       `json:"pid"`
	Socket  string    `json:"socket"`
	Started time.Time `json:"started"`
	Clients int       `json:"clients"` // dt processes connected now
	Conns   []Conn    `json:"conns"`
}

// Conn is one kept connection.
type Conn struct {
	Name     string        `json:"name"` // the host name it was last asked for
	Dest     string        `json:"dest"` // user@address:port, via its jump hosts
	Jump     bool          `json:"jump"` // a jump host connection under others
	Created  time.Time     `json:"created"`
	LastUsed time.Time     `json:"last_used"` // when it was last busy
	Busy     bool          `json:"busy"`      // a run or a session uses it now
	Sessions int           `json:"sessions"`  // sessions open now
	Served   int64         `json:"served"`    // sessions served since it was made
	Persist  time.Duration `json:"persist"`   // closed after this long idle
}
