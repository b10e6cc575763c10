package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroupRoot is where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on
// a pure v2 machine, /sys/fs/cgroup/unified on a hybrid one. v2 accounts CPU
// (cpu.stat usage_usec) in every cgroup even when no controller is enabled,
// which is all the harness needs.
func cgroupRoot() (string, error) {
	for _, d := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "cpu.stat")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy with cpu.stat at /sys/fs/cgroup/unified or /sys/fs/cgroup")
}

// cgroup is one cgroup v2 directory.
type cgroup struct{ dir string }

func newCgroup(parent, name string) (*cgroup, error) {
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	return &cgroup{dir: d}, nil
}

// cpu returns usage, user and system CPU time of everything that ever ran
// in the cgroup (and its children).
func (c *cgroup) cpu() (usage, user, sys time.Duration, err error) {
	data, err := os.ReadFile(filepath.Join(c.dir, "cpu.stat"))
	if err != nil {
		return 0, 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		d := time.Duration(n) * time.Microsecond
		switch k {
		case "usage_usec":
			usage = d
		case "user_usec":
			user = d
		case "system_usec":
			sys = d
		}
	}
	return usage, user, sys, nil
}

// procs lists the PIDs in the cgroup itself (not its children).
func (c *cgroup) procs() ([]int, error) {
	data, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// enter moves the process pid (all its threads) into the cgroup.
func (c *cgroup) enter(pid int) error {
	return os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// kill SIGKILLs everything in the cgroup and waits until it is empty.
func (c *cgroup) kill() error {
	if err := os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0o644); err != nil {
		return err
	}
	for i := 0; i < 500; i++ {
		p, err := c.procs()
		if err != nil || len(p) == 0 {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("cgroup %s: processes left after cgroup.kill", c.dir)
}

// remove kills what is left and removes the cgroup.
func (c *cgroup) remove() error {
	if _, err := os.Stat(c.dir); err != nil {
		return nil
	}
	_ = c.kill()
	return os.Remove(c.dir)
}

// ownCgroup returns this process's cgroup v2 directory under root.
func ownCgroup(root string) (*cgroup, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return &cgroup{dir: filepath.Join(root, p)}, nil
		}
	}
	return nil, errors.New("no cgroup v2 line in /proc/self/cgroup")
}

// memSample is the summed memory of a set of processes at one moment.
type memSample struct {
	rssKiB, pssKiB int64
	procs          int
}

// sampleMem sums Rss and Pss (from /proc/PID/smaps_rollup) over pids.
// Processes that exit meanwhile are skipped, and so is the maxrss wrapper
// (see maxrssWrapper): it is not the tool.
func sampleMem(pids []int) memSample {
	var s memSample
	for _, pid := range pids {
		if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) == "time" {
			continue
		}
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
		if err != nil {
			continue
		}
		s.procs++
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			n, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				s.rssKiB += n
			case "Pss:":
				s.pssKiB += n
			}
		}
	}
	return s
}
