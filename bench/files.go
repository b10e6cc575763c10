package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/dtools/dt/internal/fleet"
)

// Kinds of file job: every tool pushes the same file to every host, or
// fetches it from every host; push-again is dt pushing what the hosts
// already have (its unchanged run).
const (
	kindPush      = "push"
	kindPushAgain = "push-again"
	kindFetch     = "fetch"
)

// fileSize is the size of the file the file jobs move.
const fileSize = 10 << 20

// tunedFileSSH are the OpenSSH options of the tuned rivals for file jobs:
// the key exchange of tunedSSH and the cipher dt negotiates with these
// servers (aes128-gcm@openssh.com; OpenSSH's default is chacha20-poly1305,
// which costs more per byte here).
var tunedFileSSH = append(append([]string{}, tunedSSH...), "-o", "Ciphers=aes128-gcm@openssh.com")

// files is the state of the file jobs on one fleet: two local files of
// fileSize with different content, which one the hosts were last sent,
// and where things go.
type files struct {
	src     [2]string // local files
	sums    [2]string // their sha256
	current int       // index of the file the hosts have (-1: none yet)
	dest    string    // remote path, the same on every host (in fleet.Private)
	fetches int       // fetch runs so far, for fresh local directories
}

// newFiles writes the two source files into dir.
func newFiles(dir string, f *fleet.Fleet) (*files, error) {
	fs := &files{current: -1, dest: filepath.Join(f.Private, "bench.bin")}
	// Written in small pieces: dtbench's own RSS stays small, and the
	// kernel reports it as the maxrss of every child it forks (see
	// meter.exec).
	buf := make([]byte, 64<<10)
	for i := range fs.src {
		fs.src[i] = filepath.Join(dir, fmt.Sprintf("src%d.bin", i))
		out, err := os.Create(fs.src[i])
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		for n := 0; n < fileSize; n += len(buf) {
			if _, err := rand.Read(buf); err != nil {
				out.Close()
				return nil, err
			}
			h.Write(buf)
			if _, err := out.Write(buf); err != nil {
				out.Close()
				return nil, err
			}
		}
		if err := out.Close(); err != nil {
			return nil, err
		}
		fs.sums[i] = hex.EncodeToString(h.Sum(nil))
	}
	return fs, nil
}

// next is the source of the next push: the other file than the hosts have
// (every push run writes), or the same one for push-again.
func (fs *files) next(kind string) int {
	if kind == kindPushAgain && fs.current >= 0 {
		return fs.current
	}
	return (fs.current + 1) % 2
}

// warmFiles puts the second file on every host before the first measured
// run, unmeasured.
func warmFiles(ctx context.Context, e *env, fs *files) error {
	inv := fileInvocations(e, "dt", job{kind: kindPush}, fs.src[1], "")[0]
	cmd := exec.CommandContext(ctx, inv.argv[0], inv.argv[1:]...)
	cmd.Env = e.baseEnv
	cmd.Dir = e.workDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("putting the first file on the hosts: %v: %s", err, out)
	}
	fs.current = 1
	return nil
}

// fileInvocations are the commands of tool for a file job: push src to
// dest, or fetch dest into dir.
func fileInvocations(e *env, tool string, j job, src, dir string) []invocation {
	dtBase := []string{e.dt, "-N", "-F", e.sshConfig, "-D", e.dtdb, "-C", strconv.Itoa(e.fanout), "all:"}
	sshArgs := "-F " + e.sshConfig + " " + strings.Join(tunedFileSSH, " ")
	f := strconv.Itoa(e.fanout)
	push := j.kind != kindFetch
	switch tool {
	case "dt":
		if push {
			return []invocation{{argv: append(dtBase, "copy", src, e.dest)}}
		}
		return []invocation{{argv: append(dtBase, "fetch", e.dest, dir)}}
	case "pdsh":
		env := "PDSH_SSH_ARGS_APPEND=" + sshArgs
		if push {
			return []invocation{{argv: []string{"pdcp", "-R", "ssh", "-l", e.user, "-w", "^" + e.hostsFile, "-f", f, src, e.dest}, env: []string{env}}}
		}
		return []invocation{{argv: []string{"rpdcp", "-R", "ssh", "-l", e.user, "-w", "^" + e.hostsFile, "-f", f, e.dest, dir}, env: []string{env}}}
	case "clush":
		argv := []string{"clush", "-S", "--hostfile", e.hostsFile, "-f", f, "-o", sshArgs}
		if push {
			return []invocation{{argv: append(argv, "--copy", src, "--dest", e.dest)}}
		}
		return []invocation{{argv: append(argv, "--rcopy", e.dest, "--dest", dir)}}
	case "pssh":
		if push {
			return []invocation{{argv: []string{"parallel-scp", "-h", e.hostsFile, "-x", sshArgs, "-p", f, src, e.dest}}}
		}
		return []invocation{{argv: []string{"parallel-slurp", "-h", e.hostsFile, "-x", sshArgs, "-p", f, "-L", dir, e.dest, "bench.bin"}}}
	}
	return nil
}

// fetchedPath is where tool put host's copy of the fetched file in dir.
func fetchedPath(tool, dir, host string) string {
	switch tool {
	case "pdsh", "clush": // rpdcp and clush --rcopy: NAME.HOST
		return filepath.Join(dir, "bench.bin."+host)
	case "pssh": // parallel-slurp -L: HOST:PORT/NAME, PORT "None" when unset
		return filepath.Join(dir, host+":None", "bench.bin")
	}
	return filepath.Join(dir, host, "bench.bin") // dt: HOST/NAME
}

// verifyFiles checks every host's copy after a run, outside the timed
// window: the hosts' files for a push (read from outside through the
// hosts' /proc roots), the local files for a fetch. It returns the hosts
// whose bytes are wrong, with why.
func verifyFiles(f *fleet.Fleet, tool, kind, dir, want string) map[string]string {
	bad := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range f.Hosts {
		h := &f.Hosts[i]
		p := h.PrivatePath(f, "bench.bin")
		if kind == kindFetch {
			p = fetchedPath(tool, dir, h.Name)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			got, err := fileSum(p)
			if err == nil && got == want {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				bad[h.Name] = "checksum: " + err.Error()
			} else {
				bad[h.Name] = fmt.Sprintf("checksum: sha256 %.12s, want %.12s", got, want)
			}
		}()
	}
	wg.Wait()
	return bad
}

func fileSum(p string) (string, error) {
	fd, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fd.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fd); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// unchangedMissing lists the hosts dt did not report unchanged in a
// push-again run.
func unchangedMissing(stdout []byte, hosts []string) map[string]string {
	bad := map[string]string{}
	for _, h := range hosts {
		if !bytes.Contains(stdout, []byte("okay::dt:copy:"+h+":")) {
			bad[h] = "no okay line"
		}
	}
	for _, l := range lines(stdout) {
		if strings.Contains(l, " changed ") {
			host := strings.SplitN(l, ":", 6)
			if len(host) > 4 {
				bad[host[4]] = "changed in a run that should change nothing"
			}
		}
	}
	return bad
}
