package fleet

import (
	"bytes"
	"os"
	"sort"
	"strconv"
	"syscall"
)

// fleetProcs returns the PIDs of live processes whose environment holds
// DT_TEST_FLEET=id and (if substr is not empty) whose command line, its
// arguments joined by spaces, contains substr. Zombies and kernel threads are
// never listed (they have no environment and no command line).
func fleetProcs(id, substr string) ([]int, error) {
	want := []byte("DT_TEST_FLEET=" + id)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !hasEnv(env, want) {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(cmd) == 0 {
			continue
		}
		cmd = bytes.TrimRight(cmd, "\x00")
		cmd = bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})
		if bytes.Contains(cmd, []byte(substr)) {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// hasEnv reports whether the NUL-separated environment block env has the
// entry kv exactly.
func hasEnv(env, kv []byte) bool {
	for len(env) > 0 {
		var entry []byte
		entry, env, _ = bytes.Cut(env, []byte{0})
		if bytes.Equal(entry, kv) {
			return true
		}
	}
	return false
}

// envOf returns the value of NAME in process pid's environment.
func envOf(pid int, name string) (string, bool) {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return "", false
	}
	prefix := []byte(name + "=")
	for len(env) > 0 {
		var entry []byte
		entry, env, _ = bytes.Cut(env, []byte{0})
		if bytes.HasPrefix(entry, prefix) {
			return string(entry[len(prefix):]), true
		}
	}
	return "", false
}

// comm returns the command name of process pid.
func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return string(bytes.TrimSpace(b))
}

// killAll sends sig to every pid, ignoring processes already gone.
func killAll(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}
