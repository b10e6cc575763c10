package hosts

import (
	"bytes"
	"fmt"
	"testing"
)

// benchTags are the tags spread over the benchmark inventory.
var benchTags = []string{
	"web", "db", "cache", "lb", "prod", "staging", "dev", "canary", "linux", "bsd",
	"eu", "us", "asia", "ssd", "hdd", "k8s", "vm", "metal", "monitored", "backup",
}

// benchInventoryText returns n inventory lines with 3-5 tags each.
func benchInventoryText(n int) []byte {
	var b bytes.Buffer
	roles := []string{"web", "db", "cache", "lb"}
	for i := range n {
		role := roles[i%len(roles)]
		switch i % 10 {
		case 3:
			fmt.Fprintf(&b, "root@%s%d.example.com:2222", role, i)
		case 7:
			fmt.Fprintf(&b, "%s%d.example.com|bastion%d", role, i, i%3)
		default:
			fmt.Fprintf(&b, "%s%d.example.com", role, i)
		}
		fmt.Fprintf(&b, " %s %s %s", role, benchTags[4+i%3], benchTags[8+i%2])
		if i%5 == 0 {
			b.WriteString(" canary")
		}
		fmt.Fprintf(&b, " %s %s\n", benchTags[10+i%3], benchTags[13+i%7])
	}
	return b.Bytes()
}

func BenchmarkParseInventory(b *testing.B) {
	text := benchInventoryText(100000)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		inv, err := ParseInventory(bytes.NewReader(text), "bench")
		if err != nil || len(inv.Hosts) != 100000 {
			b.Fatal(err)
		}
	}
}

func BenchmarkSelect100k(b *testing.B) {
	inv := &Inventory{Hosts: make([]Host, 100000)}
	roles := []string{"web", "db", "cache", "lb"}
	for i := range inv.Hosts {
		role := roles[i%len(roles)]
		tags := []string{role, benchTags[4+i%3], benchTags[8+i%2], benchTags[10+i%3], benchTags[13+i%7]}
		if i%5 == 0 {
			tags = append(tags, "canary")
		}
		name := fmt.Sprintf("%s%d", role, i)
		if i%1000 == 1 {
			name = fmt.Sprintf("db%d", i) // some names that match ^db[0-9]+$ exactly
		}
		inv.Hosts[i] = Host{Hop: Hop{Name: name}, Tags: tags}
	}
	p, err := ParsePattern("tag:web,+prod,-canary+exp:^db[0-9]+$")
	if err != nil {
		b.Fatal(err)
	}
	hs, err := Select(p, Env{Inv: inv})
	if err != nil || len(hs) == 0 {
		b.Fatal(len(hs), err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Select(p, Env{Inv: inv}); err != nil {
			b.Fatal(err)
		}
	}
}
