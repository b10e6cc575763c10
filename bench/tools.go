package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/dtools/dt/output"
)

// A job is what every tool runs on every host.
type job struct {
	name string
	// cmds are the remote commands, run one after the other on each host.
	cmds []string
	// oneLine: every tool, dt too, runs cmds as one command line
	// "a; b; c" (one connection per host). Otherwise a rival runs one
	// invocation per command (one connection per command per host), while
	// dt runs them over one connection per host.
	oneLine bool
	// wantHost: the output of the last command must be the host's name.
	wantHost bool
	// kind, for a file job: kindPush, kindPushAgain or kindFetch (cmds
	// are then unused); every host's bytes are checked after the run.
	kind string
	// outBytes: each host prints this many bytes (dt only); stdout goes
	// to a file, checked record by record without holding it.
	outBytes int64
}

var jobs = []job{
	{name: "true", cmds: []string{"true"}},
	// A command that takes a while (a restart that waits), for --batch:
	// each batch then lasts at least that long.
	{name: "sleep", cmds: []string{"sleep 0.2"}},
	{name: "hostname", cmds: []string{"hostname"}, wantHost: true},
	// A restart-and-verify: three steps, the last prints the host name.
	{name: "seq3", cmds: []string{"uname -s", "date +%s", "hostname"}, wantHost: true},
	// The same three steps as one command line, for every tool.
	{name: "seq3line", cmds: []string{"uname -s", "date +%s", "hostname"}, oneLine: true, wantHost: true},
	// Files: a 10 MiB file pushed to every host (a new one each run), the
	// same again (dt only: its unchanged run), and fetched from every host.
	{name: "push", kind: kindPush},
	{name: "push-again", kind: kindPushAgain},
	{name: "fetch", kind: kindFetch},
	// Large outputs (dt's memory bound): 1 MB and 100 MB per host.
	{name: "out1m", cmds: []string{"yes abcdefghijklmnopqrstuvwxyz | head -c 1000000"}, outBytes: 1000000},
	{name: "out100m", cmds: []string{"yes abcdefghijklmnopqrstuvwxyz | head -c 100000000"}, outBytes: 100000000},
}

func jobByName(name string) (job, bool) {
	for _, j := range jobs {
		if j.name == name {
			return j, true
		}
	}
	return job{}, false
}

// Modes of a rival: what its users get, and tuned to its best.
const (
	modeDefault = "default"
	modeTuned   = "tuned"
	modeDT      = "-" // dt has one mode: its defaults
)

// tunedSSH are the OpenSSH client options of the tuned rivals: the cheapest
// key exchange that both ends support and is still secure. OpenSSH's default
// (sntrup761x25519-sha512) costs about four times the CPU per connection.
var tunedSSH = []string{"-o", "KexAlgorithms=curve25519-sha256"}

// env is what a tool invocation needs to know about the fleet.
type env struct {
	dt        string   // dt binary
	dtBase    string   // baseline dt binary (mode base)
	sshConfig string   // the fleet's ssh_config (absolute paths inside)
	hostsFile string   // one host name per line
	dtdb      string   // dt inventory of exactly these hosts
	ansInv    string   // ansible inventory
	hosts     []string // host names, in order
	user      string   // remote login user
	fanout    int      // dt's fanout, given to the tuned rivals
	baseEnv   []string // the fleet's clean environment (HOME, PATH...)
	workDir   string   // cwd of every tool
	dest      string   // file jobs: the remote file, the same path on every host
	src       string   // file jobs: the local file of this push
	fetchDir  string   // file jobs: the local directory of this fetch
}

// invocation is one command the harness runs (a run may be several).
type invocation struct {
	argv []string
	env  []string // added to env.baseEnv
	// pty runs it with stdout and stderr on a terminal (what it shows is
	// its stdout); parse, when set, reads its output instead of the
	// tool's parse; bigOutput sends stdout to a file (see checkBigOutput).
	pty       bool
	parse     func(stdout, stderr []byte, hosts map[string]bool) hostResults
	bigOutput bool
}

// tool is dt or one of its rivals.
type tool struct {
	name string
	// defaultFanout is the tool's own default (documented, for the table).
	defaultFanout int
	// invocations returns the commands that run job j in mode m.
	invocations func(e *env, j job, m string) []invocation
	// parse reads one invocation's stdout and stderr into per-host results.
	parse func(stdout, stderr []byte, hosts map[string]bool) hostResults
}

// hostResults is what a tool said about each host in one invocation.
type hostResults struct {
	// ok: hosts the tool reported as successful. Tools that print nothing
	// for a success (pdsh, clush) leave it nil.
	ok map[string]bool
	// failed: hosts the tool reported as failed, with the first reason.
	failed map[string]string
	// out: each host's output (lines joined by "\n").
	out map[string]string
}

func newHostResults(positive bool) hostResults {
	r := hostResults{failed: map[string]string{}, out: map[string]string{}}
	if positive {
		r.ok = map[string]bool{}
	}
	return r
}

func (r hostResults) fail(h, why string) {
	if _, ok := r.failed[h]; !ok {
		r.failed[h] = why
	}
}

func (r hostResults) addOut(h, line string) {
	if o, ok := r.out[h]; ok {
		r.out[h] = o + "\n" + line
	} else {
		r.out[h] = line
	}
}

// jobLines returns the remote command lines a rival runs: one per command,
// or one joined line.
func jobLines(j job) []string {
	if j.oneLine {
		return []string{strings.Join(j.cmds, "; ")}
	}
	return j.cmds
}

var tools = []tool{
	{
		name: "dt",
		invocations: func(e *env, j job, m string) []invocation {
			if j.kind != "" {
				return fileInvocations(e, "dt", j, e.src, e.fetchDir)
			}
			return []invocation{dtInvocation(e, j, m)}
		},
		parse: parseDT,
	},
	{
		name:          "pdsh",
		defaultFanout: 32,
		invocations: func(e *env, j job, m string) []invocation {
			if j.kind != "" {
				return fileInvocations(e, "pdsh", j, e.src, e.fetchDir)
			}
			sshArgs := "-F " + e.sshConfig
			argv := []string{"pdsh", "-R", "ssh", "-S", "-l", e.user, "-w", "^" + e.hostsFile}
			if m == modeTuned {
				sshArgs += " " + strings.Join(tunedSSH, " ")
				argv = append(argv, "-f", strconv.Itoa(e.fanout))
			}
			return perLine(j, argv, nil, "PDSH_SSH_ARGS_APPEND="+sshArgs)
		},
		parse: parsePrefixed("pdsh@"),
	},
	{
		name:          "clush",
		defaultFanout: 64,
		invocations: func(e *env, j job, m string) []invocation {
			if j.kind != "" {
				return fileInvocations(e, "clush", j, e.src, e.fetchDir)
			}
			sshArgs := "-F " + e.sshConfig
			argv := []string{"clush", "-S", "--hostfile", e.hostsFile}
			if m == modeTuned {
				sshArgs += " " + strings.Join(tunedSSH, " ")
				argv = append(argv, "-f", strconv.Itoa(e.fanout))
			}
			argv = append(argv, "-o", sshArgs)
			return perLine(j, argv, nil)
		},
		parse: parsePrefixed("clush: "),
	},
	{
		name:          "pssh",
		defaultFanout: 32,
		invocations: func(e *env, j job, m string) []invocation {
			if j.kind != "" {
				return fileInvocations(e, "pssh", j, e.src, e.fetchDir)
			}
			sshArgs := "-F " + e.sshConfig
			argv := []string{"parallel-ssh", "-i", "-h", e.hostsFile}
			if m == modeTuned {
				sshArgs += " " + strings.Join(tunedSSH, " ")
				argv = append(argv, "-p", strconv.Itoa(e.fanout))
			}
			argv = append(argv, "-x", sshArgs)
			return perLine(j, argv, nil)
		},
		parse: parsePSSH,
	},
	{
		name:          "ansible",
		defaultFanout: 5,
		invocations: func(e *env, j job, m string) []invocation {
			module := "command"
			if j.oneLine {
				module = "shell" // the command module runs no shell
			}
			argv := []string{"ansible", "all", "-i", e.ansInv, "-u", e.user, "-m", module}
			vars := []string{
				"ANSIBLE_SSH_COMMON_ARGS=-F " + e.sshConfig,
				"ANSIBLE_NOCOLOR=1",
				"ANSIBLE_HOST_KEY_CHECKING=True",
				"ANSIBLE_LOCAL_TEMP=" + filepath.Join(e.workDir, "ansible-local"),
			}
			if m == modeTuned {
				argv = append(argv, "-f", strconv.Itoa(e.fanout))
				vars = append(vars,
					"ANSIBLE_PIPELINING=True",
					// No -C (compression), no ControlMaster: one command
					// per host needs neither.
					"ANSIBLE_SSH_ARGS=-o ControlMaster=no "+strings.Join(tunedSSH, " "))
			}
			return perLine(j, argv, []string{"-a"}, vars...)
		},
		parse: parseAnsible,
	},
}

func toolByName(name string) (tool, bool) {
	for _, t := range tools {
		if t.name == name {
			return t, true
		}
	}
	return tool{}, false
}

// parseDT reads dt's OMNI lines: one okay or fail record per host.
func parseDT(stdout, stderr []byte, hosts map[string]bool) hostResults {
	r := newHostResults(true)
	for _, line := range lines(stdout) {
		rec, err := output.Parse(line)
		if err != nil {
			continue
		}
		if rec.Status == output.Okay {
			r.ok[rec.Host] = true
		} else {
			r.fail(rec.Host, string(output.Message(rec)))
		}
		r.addOut(rec.Host, strings.TrimRight(string(output.Message(rec)), "\n"))
	}
	return r
}

// parsePrefixed reads pdsh's and clush's "HOST: line" output. Their own
// errors go to stderr as PREFIX...HOST: reason (pdsh@node: h001: ssh exited
// with exit code 255; clush: h001: exited with exit code 1), and so does the
// ssh client's stderr, as "HOST: line": any stderr line naming a host is a
// failure of that host.
func parsePrefixed(prefix string) func(stdout, stderr []byte, hosts map[string]bool) hostResults {
	return func(stdout, stderr []byte, hosts map[string]bool) hostResults {
		r := newHostResults(false)
		for _, line := range lines(stdout) {
			if h, rest, ok := strings.Cut(line, ": "); ok && hosts[h] {
				r.addOut(h, rest)
			}
		}
		for _, line := range lines(stderr) {
			l := line
			if strings.HasPrefix(l, prefix) {
				l = l[len(prefix):]
				if prefix == "pdsh@" { // pdsh@NODE: HOST: reason
					_, l, _ = strings.Cut(l, ": ")
				}
			}
			if h, rest, ok := strings.Cut(l, ": "); ok && hosts[h] {
				r.fail(h, rest)
			}
		}
		return r
	}
}

var psshHeader = regexp.MustCompile(`^\[\d+\] \S+ \[(SUCCESS|FAILURE)\] (\S+)(.*)$`)

// parsePSSH reads parallel-ssh -i output: a "[n] TIME [SUCCESS] HOST" or
// "[n] TIME [FAILURE] HOST reason" header per host, then its output
// (stderr lines start with "Stderr: ").
func parsePSSH(stdout, stderr []byte, hosts map[string]bool) hostResults {
	r := newHostResults(true)
	cur := ""
	for _, line := range lines(stdout) {
		if m := psshHeader.FindStringSubmatch(line); m != nil && hosts[m[2]] {
			cur = m[2]
			if m[1] == "SUCCESS" {
				r.ok[cur] = true
			} else {
				r.fail(cur, strings.TrimSpace(m[3]))
			}
			continue
		}
		if cur != "" && !strings.HasPrefix(line, "Stderr: ") {
			r.addOut(cur, line)
		}
	}
	return r
}

var ansibleHeader = regexp.MustCompile(`^(\S+) \| (CHANGED|SUCCESS|FAILED|UNREACHABLE!)( \| rc=\d+)?( >>| =>)`)

// parseAnsible reads ansible's ad-hoc output: "HOST | CHANGED | rc=0 >>"
// then the output; "HOST | FAILED | rc=1 >>" or "HOST | UNREACHABLE! => {"
// for failures.
func parseAnsible(stdout, stderr []byte, hosts map[string]bool) hostResults {
	r := newHostResults(true)
	cur := ""
	for _, line := range lines(stdout) {
		if m := ansibleHeader.FindStringSubmatch(line); m != nil && hosts[m[1]] {
			cur = m[1]
			switch m[2] {
			case "CHANGED", "SUCCESS":
				r.ok[cur] = true
			default:
				r.fail(cur, strings.TrimSpace(m[2]+m[3]))
				cur = "" // the rest is a JSON blob or error output
			}
			continue
		}
		if cur != "" {
			r.addOut(cur, line)
		}
	}
	return r
}

func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// writeInventories writes the host list, dt's inventory and ansible's
// inventory of hosts into dir.
func writeInventories(e *env, dir string) error {
	var hf, db, inv strings.Builder
	inv.WriteString("[fleet]\n")
	for _, h := range e.hosts {
		fmt.Fprintln(&hf, h)
		fmt.Fprintln(&db, h, "bench")
		fmt.Fprintln(&inv, h)
	}
	// The fleet's hosts share this machine's /usr/bin/python3; naming it
	// saves ansible's interpreter discovery (an extra round trip per host
	// that real users also avoid this way).
	inv.WriteString("\n[fleet:vars]\nansible_python_interpreter=/usr/bin/python3\n")
	e.hostsFile = filepath.Join(dir, "hosts.txt")
	e.dtdb = filepath.Join(dir, "dtdb")
	e.ansInv = filepath.Join(dir, "ansible.ini")
	for p, s := range map[string]string{e.hostsFile: hf.String(), e.dtdb: db.String(), e.ansInv: inv.String()} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// perLine is one invocation per command line of j: argv, then before, then
// the line, with env added to the environment.
func perLine(j job, argv, before []string, env ...string) []invocation {
	var inv []invocation
	for _, c := range jobLines(j) {
		a := append(append(append([]string(nil), argv...), before...), c)
		inv = append(inv, invocation{argv: a, env: env})
	}
	return inv
}
