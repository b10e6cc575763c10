package mux

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ReadyFDEnv names the environment variable that tells "dt mux serve" the
// file descriptor on which to say that it listens ("ok"), that another
// keeper already does ("running"), or why it cannot.
const ReadyFDEnv = "DT_MUX_READY_FD"

// The words a keeper says on its ready descriptor.
const (
	readyOK      = "ok"
	readyRunning = "running"
)

// spawnTimeout bounds how long dt waits for a keeper it started.
const spawnTimeout = 5 * time.Second

// spawn starts a keeper: exe ("dt") as "dt mux serve", in a session of its
// own (setsid: no terminal, and Ctrl-C on dt's terminal does not reach
// it), with env and no standard streams, and waits until it listens.
func spawn(exe string, env []string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(exe, "mux", "serve")
	cmd.Env = append(append([]string{}, env...), ReadyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("starting the keeper %s: %w", exe, err)
	}
	// Reap it if it exits while dt runs; otherwise it outlives dt.
	go cmd.Wait()

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		switch s {
		case readyOK, readyRunning:
			return nil
		case "":
			return errors.New("the keeper exited before it listened")
		}
		return errors.New(s)
	case <-time.After(spawnTimeout):
		cmd.Process.Kill()
		return fmt.Errorf("the keeper did not listen within %s", spawnTimeout)
	}
}

// keeperEnv is the environment a keeper gets: what it needs to find its
// socket directory and run ProxyCommands (each gets the environment of
// the dt that asked for it), nothing else of dt's.
func keeperEnv(getenv func(string) string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TMPDIR", "XDG_RUNTIME_DIR", LogEnv, "GOCOVERDIR"} {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// LogEnv names an environment variable holding a file the keeper appends
// its log to (for debugging; by default it logs nothing).
const LogEnv = "DT_MUX_LOG"
