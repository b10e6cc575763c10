package modules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"

	"github.com/dtools/dt/runner"
)

// remoteSums returns the sha256 (hex) of each remote file in paths, by
// index; a file it could not hash has "". It asks the host's sha256sum
// (one command for all of them, on the existing connection); on a host
// without one it reads the files back over SFTP and hashes them here,
// which costs their transfer but still writes nothing.
func (c *sftpConn) remoteSums(ctx context.Context, paths []string) []string {
	sums := make([]string, len(paths))
	if len(paths) == 0 {
		return sums
	}
	var stdout, stderr bytes.Buffer
	res, err := c.h.Run(ctx, runner.Command{
		Cmd:    "sha256sum -- " + QuoteAll(paths),
		Stdout: &stdout,
		Stderr: &stderr,
	})
	if err != nil {
		return sums
	}
	if res.ExitCode == 127 || res.ExitCode == 126 {
		// No sha256sum here (busybox-less minimal images, BSDs).
		for i, p := range paths {
			sums[i] = c.sumOverSFTP(p)
		}
		return sums
	}
	parseSums(stdout.Bytes(), sums)
	return sums
}

// parseSums reads sha256sum's output, one line per file in the order
// given: "HASH  NAME", or "\HASH  NAME" when the name needed escaping. A
// file it could not read has no line, so when the count is off nothing is
// trusted.
func parseSums(out []byte, sums []string) {
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(sums) {
		return
	}
	got := make([]string, len(sums))
	for i, l := range lines {
		l = strings.TrimPrefix(l, "\\")
		if len(l) < 66 || l[64] != ' ' {
			return
		}
		if _, err := hex.DecodeString(l[:64]); err != nil {
			return
		}
		got[i] = strings.ToLower(l[:64])
	}
	copy(sums, got)
}

// sumOverSFTP hashes a remote file by reading it, "" on any error.
func (c *sftpConn) sumOverSFTP(p string) string {
	f, err := c.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	bp := packetPool.Get().(*[]byte)
	defer packetPool.Put(bp)
	var off int64
	for {
		n, err := f.ReadAt(*bp, off)
		h.Write((*bp)[:n])
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return ""
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
