package runner

import (
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Every algorithm dt offers is one x/crypto implements and does not call
// insecure.
func TestAlgorithmsAreSupportedAndSecure(t *testing.T) {
	sup, bad := ssh.SupportedAlgorithms(), ssh.InsecureAlgorithms()
	for _, tt := range []struct {
		kind          string
		offered       []string
		supported, in []string
	}{
		{"key exchange", algorithms.KeyExchanges, sup.KeyExchanges, bad.KeyExchanges},
		{"cipher", algorithms.Ciphers, sup.Ciphers, bad.Ciphers},
		{"MAC", algorithms.MACs, sup.MACs, bad.MACs},
	} {
		if len(tt.offered) == 0 {
			t.Errorf("no %s offered: x/crypto's defaults would apply", tt.kind)
		}
		for _, a := range tt.offered {
			if !slices.Contains(tt.supported, a) {
				t.Errorf("%s %s is not supported by x/crypto/ssh", tt.kind, a)
			}
			if slices.Contains(tt.in, a) {
				t.Errorf("%s %s is insecure", tt.kind, a)
			}
		}
	}
}
