package mux

import (
	"golang.org/x/crypto/ssh"
)

// localAlgorithms are those of the SSH link between dt and its keeper:
// the cheapest secure ones. The link never leaves the machine, and its
// peers are vouched for by the kernel (SO_PEERCRED), not by keys.
var localAlgorithms = ssh.Config{
	KeyExchanges: []string{ssh.KeyExchangeCurve25519},
	Ciphers:      []string{ssh.CipherAES128GCM, ssh.CipherChaCha20Poly1305},
	MACs:         []string{ssh.HMACSHA256ETM},
}

// localUser is the user name dt gives its keeper (the keeper checks the
// uid, not names).
const localUser = "dt"
