package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The samples below are real output of each tool (Debian 12 packages)
// against a 2-host fleet plus an unresolvable "nohost", running
// `hostname; test $(hostname) = h001`: h001 succeeds, h002 exits 1, nohost
// cannot connect.
var threeHosts = map[string]bool{"h001": true, "h002": true, "nohost": true}

func TestParse(t *testing.T) {
	tests := []struct {
		name           string
		parse          func(stdout, stderr []byte, hosts map[string]bool) hostResults
		stdout, stderr string
		wantOK         []string // nil: the tool reports no successes
		wantFailed     []string
		wantOut        map[string]string
	}{
		{
			name:  "dt",
			parse: parseDT,
			stdout: "okay::dt:ssh:h001:h001\n" +
				"fail::dt:ssh:h002:exit 1: h002\n" +
				"fail::dt:ssh:nohost:resolve: lookup nohost: no such host\n",
			wantOK:     []string{"h001"},
			wantFailed: []string{"h002", "nohost"},
			wantOut:    map[string]string{"h001": "h001", "h002": "exit 1: h002", "nohost": "resolve: lookup nohost: no such host"},
		},
		{
			name:   "pdsh",
			parse:  parsePrefixed("pdsh@"),
			stdout: "h001: h001\nh002: h002\n",
			stderr: "nohost: ssh: Could not resolve hostname nohost: Name or service not known\n" +
				"pdsh@vm: nohost: ssh exited with exit code 255\n" +
				"pdsh@vm: h002: ssh exited with exit code 1\n",
			wantFailed: []string{"h002", "nohost"},
			wantOut:    map[string]string{"h001": "h001", "h002": "h002"},
		},
		{
			name:   "clush",
			parse:  parsePrefixed("clush: "),
			stdout: "h002: h002\nh001: h001\n",
			stderr: "nohost: ssh: Could not resolve hostname nohost: Name or service not known\n" +
				"clush: nohost: exited with exit code 255\n" +
				"clush: h002: exited with exit code 1\n",
			wantFailed: []string{"h002", "nohost"},
			wantOut:    map[string]string{"h001": "h001", "h002": "h002"},
		},
		{
			name:   "clush host key changed",
			parse:  parsePrefixed("clush: "),
			stdout: "h001: h001\n",
			stderr: "h002: @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n" +
				"h002: Host key verification failed.\n" +
				"clush: h002: exited with exit code 255\n",
			wantFailed: []string{"h002"},
			wantOut:    map[string]string{"h001": "h001"},
		},
		{
			name:  "pssh",
			parse: parsePSSH,
			stdout: "[1] 12:38:56 [FAILURE] nohost Exited with error code 255\n" +
				"Stderr: ssh: Could not resolve hostname nohost: Name or service not known\n" +
				"[2] 12:38:56 [FAILURE] h002 Exited with error code 1\n" +
				"h002\n" +
				"[3] 12:38:56 [SUCCESS] h001\n" +
				"h001\n",
			wantOK:     []string{"h001"},
			wantFailed: []string{"h002", "nohost"},
			wantOut:    map[string]string{"h001": "h001", "h002": "h002"},
		},
		{
			name:  "ansible",
			parse: parseAnsible,
			stdout: "nohost | UNREACHABLE! => {\n" +
				"    \"changed\": false,\n" +
				"    \"msg\": \"Failed to connect to the host via ssh: ssh: Could not resolve hostname nohost: Name or service not known\",\n" +
				"    \"unreachable\": true\n" +
				"}\n" +
				"h002 | FAILED | rc=1 >>\n" +
				"h002non-zero return code\n" +
				"h001 | CHANGED | rc=0 >>\n" +
				"h001\n",
			wantOK:     []string{"h001"},
			wantFailed: []string{"h002", "nohost"},
			wantOut:    map[string]string{"h001": "h001"},
		},
		{
			name:       "lines naming no fleet host are ignored",
			parse:      parsePrefixed("pdsh@"),
			stdout:     "stranger: hello\n",
			stderr:     "pdsh@vm: stranger: ssh exited with exit code 255\nWarning: something\n",
			wantFailed: nil,
			wantOut:    map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.parse([]byte(tt.stdout), []byte(tt.stderr), threeHosts)
			if tt.wantOK == nil {
				if r.ok != nil {
					t.Errorf("ok = %v, want nil (no success lines)", r.ok)
				}
			} else if got := keys(r.ok); !reflect.DeepEqual(got, tt.wantOK) {
				t.Errorf("ok = %v, want %v", got, tt.wantOK)
			}
			if got := keys(r.failed); !reflect.DeepEqual(got, tt.wantFailed) {
				t.Errorf("failed = %v, want %v", got, tt.wantFailed)
			}
			if !reflect.DeepEqual(r.out, tt.wantOut) {
				t.Errorf("out = %q, want %q", r.out, tt.wantOut)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for _, k := range []string{"h001", "h002", "nohost", "stranger"} {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

func TestInvocations(t *testing.T) {
	e := &env{dt: "/x/dt", dtBase: "/x/dt-main", sshConfig: "/f/config", hostsFile: "/f/hosts", dtdb: "/f/dtdb", ansInv: "/f/inv",
		user: "fleet", fanout: 64, workDir: "/w"}
	seq, _ := jobByName("seq3")
	line, _ := jobByName("seq3line")
	tests := []struct {
		tool, mode string
		j          job
		want       []string // argv of each invocation, joined by spaces
		wantEnv    string   // must appear in the first invocation's env
	}{
		{"dt", modeDT, seq, []string{"/x/dt -N -F /f/config -D /f/dtdb -C 64 all: ssh uname -s; date +%s; hostname"}, ""},
		{"dt", modeGather, seq, []string{"/x/dt -N -F /f/config -D /f/dtdb -C 64 -b all: ssh uname -s; date +%s; hostname"}, ""},
		{"dt", modeTTY, seq, []string{"/x/dt -N -F /f/config -D /f/dtdb -C 64 -q all: ssh uname -s; date +%s; hostname"}, ""},
		{"dt", modeProgress, seq, []string{"/x/dt -N -F /f/config -D /f/dtdb -C 64 all: ssh uname -s; date +%s; hostname"}, ""},
		{"dt", modeBase, seq, []string{"/x/dt-main -N -F /f/config -D /f/dtdb -C 64 all: ssh uname -s; date +%s; hostname"}, ""},
		{"dt", modeBatch, seq, []string{"/x/dt -N -F /f/config -D /f/dtdb -C 64 --batch 10% all: ssh uname -s; date +%s; hostname"}, ""},
		{"dt", modeWarm, line, []string{"/x/dt -N -F /f/config -D /f/dtdb -C 64 --persist 30m all: ssh uname -s; date +%s; hostname"}, ""},
		{"pdsh", modeDefault, seq, []string{
			"pdsh -R ssh -S -l fleet -w ^/f/hosts uname -s",
			"pdsh -R ssh -S -l fleet -w ^/f/hosts date +%s",
			"pdsh -R ssh -S -l fleet -w ^/f/hosts hostname"}, "PDSH_SSH_ARGS_APPEND=-F /f/config"},
		{"pdsh", modeTuned, line, []string{"pdsh -R ssh -S -l fleet -w ^/f/hosts -f 64 uname -s; date +%s; hostname"},
			"PDSH_SSH_ARGS_APPEND=-F /f/config -o KexAlgorithms=curve25519-sha256"},
		{"clush", modeTuned, line, []string{"clush -S --hostfile /f/hosts -f 64 -o -F /f/config -o KexAlgorithms=curve25519-sha256 uname -s; date +%s; hostname"}, ""},
		{"pssh", modeDefault, line, []string{"parallel-ssh -i -h /f/hosts -x -F /f/config uname -s; date +%s; hostname"}, ""},
		{"ansible", modeDefault, line, []string{"ansible all -i /f/inv -u fleet -m shell -a uname -s; date +%s; hostname"}, "ANSIBLE_SSH_COMMON_ARGS=-F /f/config"},
		{"ansible", modeTuned, seq, []string{
			"ansible all -i /f/inv -u fleet -m command -f 64 -a uname -s",
			"ansible all -i /f/inv -u fleet -m command -f 64 -a date +%s",
			"ansible all -i /f/inv -u fleet -m command -f 64 -a hostname"}, "ANSIBLE_PIPELINING=True"},
	}
	for _, tt := range tests {
		t.Run(tt.tool+"/"+tt.mode+"/"+tt.j.name, func(t *testing.T) {
			tl, _ := toolByName(tt.tool)
			invs := tl.invocations(e, tt.j, tt.mode)
			var got []string
			for _, inv := range invs {
				got = append(got, strings.Join(inv.argv, " "))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, tt.want)
			}
			if tt.wantEnv != "" && !contains(invs[0].env, tt.wantEnv) {
				t.Errorf("env %q lacks %q", invs[0].env, tt.wantEnv)
			}
		})
	}
}

func TestMatrix(t *testing.T) {
	c := config{sizes: []int{100, 500}, scaleSizes: []int{1000}, tools: []string{"dt", "pdsh", "ansible"},
		modes: []string{modeDefault, modeTuned}, jobs: []string{"true", "hostname"}, bigJobs: []string{"true"},
		allJobsMax: 100, ansibleMax: 100, ansibleJobs: []string{"hostname"}, defaultsAt: []int{100},
		dtModes: []string{modeDT, modeWarm}, latencies: []int{0}}
	plan := c.matrix()
	var got []string
	for _, s := range sortedSizes(plan) {
		for _, cl := range plan[s] {
			got = append(got, cl.String())
		}
	}
	want := []string{
		"100/true/dt/-", "100/true/dt/warm", "100/true/pdsh/default", "100/true/pdsh/tuned",
		"100/hostname/dt/-", "100/hostname/dt/warm", "100/hostname/pdsh/default", "100/hostname/pdsh/tuned", "100/hostname/ansible/default", "100/hostname/ansible/tuned",
		"500/true/dt/-", "500/true/dt/warm", "500/true/pdsh/tuned",
		"1000/true/dt/-", "1000/true/dt/warm",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("matrix\n  %q\nwant\n  %q", got, want)
	}

	// With latencies, every cell runs at each.
	c = config{sizes: []int{300}, tools: []string{"dt", "pdsh"}, modes: []string{modeTuned}, jobs: []string{"true"}, bigJobs: []string{"true"},
		allJobsMax: 100, dtModes: []string{modeDT, modeWarm}, latencies: []int{0, 50}}
	got = nil
	for _, cl := range c.matrix()[300] {
		got = append(got, cl.String())
	}
	want = []string{"300/true/dt/-", "300/true/dt/warm", "300/true/pdsh/tuned", "300/true/dt/-/50ms", "300/true/dt/warm/50ms", "300/true/pdsh/tuned/50ms"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("matrix with latencies\n  %q\nwant\n  %q", got, want)
	}
}

func TestStat(t *testing.T) {
	tests := []struct {
		in   []float64
		want stat
	}{
		{nil, stat{}},
		{[]float64{3}, stat{3, 3, 3}},
		{[]float64{5, 1, 3}, stat{3, 1, 5}},
		{[]float64{4, 1, 3, 2}, stat{2.5, 1, 4}},
	}
	for _, tt := range tests {
		if got := statOf(tt.in); got != tt.want {
			t.Errorf("statOf(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseDTViews(t *testing.T) {
	hostSet := map[string]bool{"h001": true, "h002": true, "h003": true, "db1": true}
	gather := "fail  h003  (1 host)\n    exit 1: no\n\nokay  db1,h[001-002]  (3 hosts)\n    Linux\n"
	r := parseDTGather([]byte(gather), nil, hostSet)
	if len(r.ok) != 3 || !r.ok["db1"] || !r.ok["h002"] || r.failed["h003"] != "exit 1: no" || r.out["h001"] != "Linux" {
		t.Errorf("gather: ok %v failed %v out %v", r.ok, r.failed, r.out)
	}
	screen := "\rdt: 0/2 done, 2 running, 0.1s\x1b[K\r\x1b[Kokay::dt:ssh:h001:h001\r\n\rdt: 1/2 done\x1b[K\r\x1b[Kfail::dt:ssh:h002:exit 1\r\n\r\x1b[K2 hosts in 0.2s: 1 okay, 1 fail (exit 1: h002)\r\n"
	r = parseDTTerminal([]byte(screen), nil, hostSet)
	if !r.ok["h001"] || r.out["h001"] != "h001" || r.failed["h002"] != "exit 1" || len(r.ok) != 1 {
		t.Errorf("terminal: ok %v failed %v out %v", r.ok, r.failed, r.out)
	}
}

func TestCheckBigOutput(t *testing.T) {
	j := job{name: "big", outBytes: 60}
	// 60 bytes: two 27-byte lines and 6 more: two newlines, escaped.
	msg := `abcdefghijklmnopqrstuvwxyz\nabcdefghijklmnopqrstuvwxyz\nabcdef`
	path := filepath.Join(t.TempDir(), "out")
	os.WriteFile(path, []byte("okay::dt:ssh:h001:"+msg+"\nokay::dt:ssh:h002:"+msg+"x\nfail::dt:ssh:h003:exit 1\n"), 0o644)
	r, n, err := checkBigOutput(path, j, map[string]bool{"h001": true, "h002": true, "h003": true})
	if err != nil || n == 0 {
		t.Fatal(n, err)
	}
	if !r.ok["h001"] || r.ok["h002"] || r.failed["h002"] == "" || r.failed["h003"] != "not okay" {
		t.Errorf("ok %v failed %v", r.ok, r.failed)
	}
}

func TestCheckBigGather(t *testing.T) {
	j := job{name: "big", outBytes: 60}
	text := "    abcdefghijklmnopqrstuvwxyz\n    abcdefghijklmnopqrstuvwxyz\n    abcdef\n"
	path := filepath.Join(t.TempDir(), "out")
	os.WriteFile(path, []byte("fail  h003  (1 host)\n    exit 1\n\nokay  h[001-002]  (2 hosts)\n"+text), 0o644)
	r, _, err := checkBigGather(path, j, map[string]bool{"h001": true, "h002": true, "h003": true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.ok["h001"] || !r.ok["h002"] || r.ok["h003"] || r.failed["h003"] == "" {
		t.Errorf("ok %v failed %v", r.ok, r.failed)
	}
	os.WriteFile(path, []byte("okay  h[001-002]  (2 hosts)\n"+text+"    extra\n"), 0o644)
	if r, _, _ = checkBigGather(path, j, map[string]bool{"h001": true}); r.ok["h001"] {
		t.Error("a group with more text than the output passed")
	}
}
