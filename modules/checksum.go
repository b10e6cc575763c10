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

// bigSum is the size from which a file is hashed with openssl rather than
// sha256sum: OpenSSL uses the CPU's SHA instructions (about 5x faster
// here) but takes a few milliseconds to start.
const bigSum = 2 << 20

// sumScript picks the hashers: sha256sum for small files, openssl for big
// ones, whichever exists when the other does not; exit 127 when neither
// does. Each file is read on standard input, so its name (newlines and
// all) never reaches the hasher's output: one line per file, its hash
// first, or "-" when it could not be read.
const sumScript = `s=sha256sum; command -v sha256sum >/dev/null 2>&1 || s=; ` +
	`o='openssl dgst -sha256 -r'; command -v openssl >/dev/null 2>&1 || o=$s; ` +
	`[ -n "$o" ] || exit 127; [ -n "$s" ] || s=$o; `

// sumCommandMax bounds the length of one hashing command. The host's
// shell gets the command as one argument (sh -c CMD; under --sudo quoted
// once more), and Linux refuses an argument over 128 KiB (E2BIG): a tree
// of thousands of files is hashed in several commands instead.
const sumCommandMax = 24 << 10

// remoteSums returns the sha256 (hex) of each remote file in paths (whose
// sizes are sizes), by index; a file it could not hash has "". It runs as
// few commands on the host as sumCommandMax allows (one for a few hundred
// files), on the existing connection; on a host with neither sha256sum nor
// openssl it reads the files back over SFTP and hashes them here, which
// costs their transfer but writes nothing.
func (c *sftpConn) remoteSums(ctx context.Context, paths []string, sizes []int64) []string {
	sums := make([]string, len(paths))
	for start := 0; start < len(paths); {
		var b strings.Builder
		b.WriteString(sumScript)
		end := start
		for end < len(paths) {
			hasher := "$s"
			if sizes[end] >= bigSum {
				hasher = "$o"
			}
			part := "{ " + hasher + " < " + Quote(paths[end]) + " || echo -; } 2>/dev/null; "
			if end > start && b.Len()+len(part) > sumCommandMax {
				break
			}
			b.WriteString(part)
			end++
		}
		if !c.runSums(ctx, b.String(), paths[start:end], sums[start:end]) {
			return sums
		}
		start = end
	}
	return sums
}

// runSums runs one hashing command for paths and fills sums. It returns
// false when the session failed, so the rest is not tried.
func (c *sftpConn) runSums(ctx context.Context, script string, paths, sums []string) bool {
	var stdout, stderr bytes.Buffer
	res, err := c.h.Run(ctx, runner.Command{Cmd: script, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return false
	}
	if res.ExitCode == 127 {
		for i, p := range paths {
			sums[i] = c.sumOverSFTP(p)
		}
		return true
	}
	parseSums(stdout.Bytes(), sums)
	return true
}

// parseSums reads sumScript's output, one line per file in the order
// given: "HASH  -" (sha256sum), "HASH *stdin" (openssl) or "-". When the
// count of lines is off, nothing is trusted.
func parseSums(out []byte, sums []string) {
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(sums) {
		return
	}
	got := make([]string, len(sums))
	for i, l := range lines {
		if len(l) < 65 || l[64] != ' ' {
			continue // "-": unreadable
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
