#!/bin/sh
# One-command demo of dt: builds ./bin/dt and ./bin/dtfleet, starts a
# throwaway fleet of 5 real OpenSSH servers on loopback addresses
# (127.10.0.1-5, port 22), runs a few dt commands against it, and cleans up.
#
#   sudo scripts/demo.sh        # from any directory
#
# Needs root (sshd binds port 22 and runs in its own namespaces) and Go.
# Installs openssh-server with apt-get if /usr/sbin/sshd is missing.
# Set DT=/path/to/dt to use an existing dt binary instead of building one.
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: please run as root (e.g. sudo $0): the demo starts sshd servers on" >&2
	echo "loopback addresses and may need to install openssh-server." >&2
	exit 1
fi
if [ ! -x /usr/sbin/sshd ]; then
	echo "demo.sh: /usr/sbin/sshd is missing; installing openssh-server" >&2
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y openssh-server
fi
if ! command -v go >/dev/null 2>&1; then
	echo "demo.sh: needs the Go toolchain (go) on PATH" >&2
	exit 1
fi

mkdir -p bin
echo "demo.sh: building ${DT:+bin/dtfleet (dt is $DT)}${DT:-bin/dt and bin/dtfleet}" >&2
if [ -z "${DT:-}" ]; then
	go build -o bin/dt ./cmd/dt
	DT=$root/bin/dt
fi
go build -o bin/dtfleet ./cmd/dtfleet

dir=$(mktemp -d "${TMPDIR:-/tmp}/dt-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# dt on PATH as plain "dt", so that the commands shown are the ones run.
mkdir "$dir/bin"
ln -s "$DT" "$dir/bin/dt"
PATH=$dir/bin:$PATH
export PATH

# dtfleet runs the script below with HOME set to the fleet's home
# (~/.ssh/config, ~/.ssh/known_hosts, ~/.ssh/id_ed25519, ~/.dtdb), then
# stops every host and exits with the script's status.
"$root/bin/dtfleet" -dir "$dir/fleet" -n 5 -- sh -c '
run() {
	printf "\n$ %s\n" "$*"
	"$@" || echo "(exit status $?)"
}
echo
echo "# A throwaway fleet: 5 OpenSSH servers on loopback, each with its own"
echo "# address, host key and hostname. HOME=$HOME holds the ssh config,"
echo "# known_hosts, key and the dt host database:"
run cat "$HOME/.dtdb"
echo
echo "# Run date on every linux host, in parallel:"
run dt tag:linux ssh date
echo
echo "# Pretend (-p): which hosts are both web and prod, and what would run:"
run dt -p tag:web,+prod ssh true
echo
echo "# Every host really is a different machine:"
run dt tag:db ssh hostname
'
