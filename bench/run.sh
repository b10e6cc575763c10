#!/bin/sh
# bench/run.sh [dtbench flags...] — the one command behind BENCHMARKS.md.
#
# Installs the rivals from Debian packages when missing (pdsh, clustershell,
# pssh, ansible-core; openssh-server for the fleet), builds bin/dt and
# bin/dtbench, and runs dtbench: a loopback fleet of real sshd hosts per size,
# every job through dt and each rival, results under bench/results/LABEL/.
# Needs root (sshd on port 22, namespaces, cgroups). Quick check:
#
#   bench/run.sh -sizes 100 -scale '' -reps 1
#
# Warm runs (--persist) are in the matrix (-dt-modes cold,warm); -latency
# 25,50,100 puts a delaying relay in front of every host; -rtt counts the
# round trips of one login; -deploy N runs the deploy hook on N systemd
# containers.
#
# bin/dtbench -h lists every flag; -n prints the matrix without running it.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: error: must run as root (the fleet binds port 22 on 127.x addresses and uses namespaces and cgroups)" >&2
	exit 2
fi

missing=""
for pair in pdsh:pdsh clush:clustershell parallel-ssh:pssh ansible:ansible-core /usr/sbin/sshd:openssh-server /usr/bin/python3:python3 /usr/bin/time:time; do
	cmd=${pair%%:*} pkg=${pair#*:}
	command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
	echo "bench/run.sh: installing$missing" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

go build -o bin/dt ./cmd/dt
go build -o bin/dtbench ./bench
exec bin/dtbench "$@"
