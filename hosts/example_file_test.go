package hosts

import "testing"

// TestHostsExample: the documented example inventory parses, with every
// host it shows.
func TestHostsExample(t *testing.T) {
	inv, err := LoadInventory("../hosts.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) != 10 {
		t.Errorf("hosts.example has %d hosts, want 10", len(inv.Hosts))
	}
	app2, ok := inv.Lookup("app2.internal")
	if !ok || len(app2.Jump) != 2 || app2.Jump[0].Name != "bastion.example.org" {
		t.Errorf("app2.internal = %+v, want a two-hop jump chain", app2)
	}
	v6, ok := inv.Lookup("2001:db8::10")
	if !ok || v6.Port != "2222" {
		t.Errorf("IPv6 host = %+v", v6)
	}
}
