#!/usr/bin/env bash
# Runs every dt test on this machine: a check that git tracks no
# executable binary and no file over 1 MiB, format and vet checks, unit tests,
# short fuzz runs, and the end-to-end tests that drive the built dt binary
# against a throwaway fleet of real OpenSSH sshd hosts on 127.0.0.0/8.
#
# On a fresh Debian machine it installs what the tests need first
# (openssh-server, runit, and systemd-container and debootstrap for the
# systemd containers), which takes root. Set DT_REQUIRE_SSHD=1 and
# DT_REQUIRE_SYSTEMD=1 (CI does) to make a missing sshd or systemd-nspawn a
# failure instead of a skip. The first systemd test builds a Debian base
# under /var/cache/dt-fleet (debootstrap, about a minute, from the mirror
# apt uses); later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v runsvdir >/dev/null 2>&1 || need+=(runit)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v file >/dev/null 2>&1 || need+=(file)
command -v openssl >/dev/null 2>&1 || need+=(openssl) # fleet password hosts hash their password with it
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "test.sh: missing ${need[*]}; run as root to install them, or install them yourself" >&2
		exit 1
	fi
	echo "== installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== tracked files: no executable binaries, none over 1 MiB"
scripts/checkfiles.sh

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then
	echo "gofmt would change:"; echo "$bad"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== unit and end-to-end tests"
go test -count=1 -timeout 30m ./...

echo "== race detector (unit tests of the concurrent packages)"
go test -count=1 -race -timeout 20m ./output/ ./runner/ ./runner/mux/ ./modules/

echo "== fuzz (short)"
# Budgets are execution counts, not durations: a duration -fuzztime races
# Go's fuzz coordinator at the deadline and can fail with a bare "context
# deadline exceeded" and no crasher (golang/go#75804, unfixed in Go 1.26).
# FUZZTIME overrides every budget (e.g. FUZZTIME=20000000x for a long run).
fuzz() { go test -run='^$' -fuzz="^$2\$" -fuzztime="${FUZZTIME:-$3}" "$1"; }
fuzz ./output/ FuzzEscapeRoundTrip 300000x
fuzz ./output/ FuzzParse 300000x
fuzz ./hosts/ FuzzParseInventory 200000x
fuzz ./hosts/ FuzzParsePattern 100000x
fuzz ./hosts/ FuzzFold 100000x
fuzz ./hosts/ FuzzDocEdits 50000x
fuzz ./modules/ FuzzParseSVStatus 200000x
fuzz ./modules/ FuzzExpandHost 100000x
fuzz ./modules/ FuzzFetchLocalPath 100000x
fuzz ./modules/ FuzzPlanTree 1000x # each input is a real directory tree

echo "== all tests passed"
