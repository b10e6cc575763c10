package runner

import (
	"io"
	"sync"

	"golang.org/x/crypto/ssh"
)

// startSubsystem starts subsystem name (such as "sftp") on sess, copying
// stdin to it and its output to stdout and stderr, and returns the function
// that waits for it to end.
//
// x/crypto/ssh starts its stream copiers only for Start and Shell, not for
// RequestSubsystem (and Session.Wait then refuses), so a subsystem gets the
// session's pipes and copiers of its own. It has ended when the server has
// closed both output streams; its exit status, if it sends one, is not
// read (x/crypto/ssh keeps it private), so a subsystem always "exits 0" and
// its client learns of problems from what it says.
func startSubsystem(sess *ssh.Session, name string, stdin io.Reader, stdout, stderr io.Writer) (wait func() error, err error) {
	in, err := sess.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errs, err := sess.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := sess.RequestSubsystem(name); err != nil {
		return nil, err
	}
	// Like Session.Start's copier, the stdin copier may still be blocked
	// reading stdin when the subsystem ends: the caller ends its reader.
	go func() {
		if stdin != nil {
			_, _ = io.Copy(in, stdin)
		}
		in.Close()
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var copyErr error
	for _, p := range []struct {
		dst io.Writer
		src io.Reader
	}{{stdout, out}, {stderr, errs}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := io.Copy(p.dst, p.src); err != nil {
				mu.Lock()
				if copyErr == nil {
					copyErr = err
				}
				mu.Unlock()
			}
		}()
	}
	return func() error {
		wg.Wait()
		return copyErr
	}, nil
}
