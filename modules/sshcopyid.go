package modules

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// SSHCopyID appends public keys to the hosts' authorized_keys.
type SSHCopyID struct{}

// Name implements Module.
func (SSHCopyID) Name() string { return "ssh-copy-id" }

// Summary implements Module.
func (SSHCopyID) Summary() string {
	return "add public keys to ~/.ssh/authorized_keys on every host (once; -i: password login)"
}

// Usage implements Module.
func (SSHCopyID) Usage() string {
	return `dt PATTERN ssh-copy-id KEYFILE...

Appends each public key (a .pub file, or an authorized_keys-style file of
several) to ~/.ssh/authorized_keys of the login user on every host, once:
a key already there (same type and key, whatever its options or comment)
is not added again. ~/.ssh is created with mode 0700 and authorized_keys
with 0600 when missing; existing ones are left as they are. One line per
host, each key "added" or "present":

  $ dt tag:new ssh-copy-id ~/.ssh/id_ed25519.pub
  okay::dt:ssh-copy-id:new1:added ssh-ed25519 SHA256:... me@laptop

To bootstrap hosts that have no key of yours yet, add -i: the hosts are
done one at a time, and where key authentication fails dt asks for the
password (or the server's keyboard-interactive questions) on the
terminal, once per host. Without a terminal nothing is asked and such a
host fails with "auth":

  dt -i sys:new1,new2 ssh-copy-id ~/.ssh/id_ed25519.pub

A private key file is refused (give its .pub). Under --sudo the keys go
to root's authorized_keys.`
}

// copyKey is one public key to install.
type copyKey struct {
	line string // the authorized_keys line, as in the file
	blob string // its base64 key, what "already there" compares
	desc string // "TYPE SHA256:... [comment]" for the record
}

// Prepare implements Module.
func (m SSHCopyID) Prepare(args []string, opts Options) (Job, error) {
	if len(args) == 0 {
		return nil, usagef(m.Name(), "missing KEYFILE; usage: dt PATTERN ssh-copy-id KEYFILE..., e.g. ~/.ssh/id_ed25519.pub")
	}
	read := opts.ReadFile
	if read == nil {
		read = readKeyFile
	}
	var keys []copyKey
	seen := map[string]bool{}
	for _, file := range args {
		data, err := read(file)
		if err != nil {
			return nil, usagef(m.Name(), "%v", err)
		}
		ks, err := parsePublicKeys(file, data)
		if err != nil {
			return nil, usagef(m.Name(), "%v", err)
		}
		for _, k := range ks {
			if !seen[k.blob] {
				seen[k.blob] = true
				keys = append(keys, k)
			}
		}
	}
	return copyIDJob{keys: keys}, nil
}

// maxKeyFile bounds a KEYFILE.
const maxKeyFile = 1 << 20

// keyFile is what ssh-copy-id reads: a public key is a line of at most a
// few KiB; an authorized_keys-style file of many keys stays far below the
// limit.
var keyFile = boundedFile{what: "a public key file", max: maxKeyFile, limit: "1 MiB",
	hint: "give a public key file, e.g. ~/.ssh/id_ed25519.pub"}

// readKeyFile reads a KEYFILE: a regular file of at most maxKeyFile bytes.
func readKeyFile(name string) ([]byte, error) { return keyFile.read(name) }

// parsePublicKeys reads the public keys of file: one or more
// authorized_keys lines; blank and '#' lines are skipped.
func parsePublicKeys(file string, data []byte) ([]copyKey, error) {
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		return nil, fmt.Errorf("%s is a private key; give its public half (%s.pub)", file, file)
	}
	var keys []copyKey
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not a public key: %v", file, i+1, err)
		}
		desc := pub.Type() + " " + ssh.FingerprintSHA256(pub)
		if comment != "" {
			desc += " " + comment
		}
		keys = append(keys, copyKey{
			line: line,
			blob: strings.TrimSpace(strings.TrimPrefix(string(ssh.MarshalAuthorizedKey(pub)), pub.Type()+" ")),
			desc: desc,
		})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s has no public key", file)
	}
	return keys, nil
}

// copyIDScript appends keys to ~/.ssh/authorized_keys of the user it runs
// as: the home directory comes from the user database, $HOME only where
// getent is missing, since sudo may keep the login user's HOME (env_keep,
// Ubuntu's old default) and --sudo must never write root's files into the
// login user's ~/.ssh. Its arguments are
// pairs: a key's base64 blob, then its whole line. For each it prints
// "present" when a line of the file (not a comment) has the blob as a
// field, else appends the line, after a newline if the file lacks a final
// one, and prints "added".
const copyIDScript = `umask 077
h=$(getent passwd "$(id -u)" 2>/dev/null | cut -d: -f6)
d="${h:-$HOME}/.ssh"
f="$d/authorized_keys"
[ -d "$d" ] || mkdir "$d" || exit 1
[ -e "$f" ] || { : >"$f" && chmod 600 "$f"; } || exit 1
while [ $# -ge 2 ]; do
	if awk -v b="$1" '$1 !~ /^#/ { for (i = 1; i <= NF; i++) if ($i == b) { found = 1; exit } } END { exit !found }' "$f"; then
		echo present
	else
		if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >>"$f" || exit 1; fi
		printf '%s\n' "$2" >>"$f" || exit 1
		echo added
	fi
	shift 2
done`

type copyIDJob struct {
	keys []copyKey
}

func (j copyIDJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	args := make([]string, 0, 2*len(j.keys))
	for _, k := range j.keys {
		args = append(args, k.blob, k.line)
	}
	cmd := "/bin/sh -c " + Quote(copyIDScript) + " dt-ssh-copy-id " + QuoteAll(args)
	res, err := h.Run(ctx, runner.Command{Cmd: cmd})
	if err != nil || res.ExitCode != 0 || res.Signal != "" {
		emit(h.Result(res, err))
		return
	}
	words := strings.Fields(string(res.Output))
	if len(words) != len(j.keys) {
		r := h.Result(res, nil)
		r.Status, r.Stage = output.Fail, output.StageModule
		r.Message = []byte(fmt.Sprintf("unexpected answer from the host for %d key(s): %q", len(j.keys), res.Output))
		emit(r)
		return
	}
	parts := make([]string, len(j.keys))
	for i, k := range j.keys {
		parts[i] = words[i] + " " + k.desc
	}
	emit(h.Okay([]byte(strings.Join(parts, "; "))))
}
