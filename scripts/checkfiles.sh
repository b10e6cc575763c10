#!/usr/bin/env bash
# Fails when a file git tracks (as staged in the index) is a compiled
# executable or larger than 1 MiB: build outputs belong in bin/ (ignored),
# and golden files and fixtures stay small text. scripts/test.sh runs it
# first; run it alone before committing a new kind of file.
#
# A file is an executable binary when `file` says ELF, or calls it
# "executable" without "text" (PE32, Mach-O), or when git records the
# executable bit and `file` does not call it text (a script with a
# shebang is text).
set -euo pipefail
cd "$(dirname "$0")/.."

max=$((1 << 20))
bad=0
while IFS= read -r -d '' entry; do
	read -r mode obj _ <<<"${entry%%$'\t'*}"
	path=${entry#*$'\t'}
	[ "$mode" = 160000 ] && continue # a submodule: a commit, not a file
	size=$(git cat-file -s "$obj")
	if [ "$size" -gt "$max" ]; then
		echo "checkfiles: $path: $size bytes, more than 1 MiB" >&2
		bad=1
	fi
	# file reads only the start; git may then die of SIGPIPE, which is fine.
	what=$({ git cat-file blob "$obj" || true; } | file -b -)
	case "$what" in
	*ELF*) binary=1 ;;
	*text*) binary=0 ;;
	*executable*) binary=1 ;;
	*) binary=$([ "$mode" = 100755 ] && echo 1 || echo 0) ;;
	esac
	if [ "$binary" = 1 ]; then
		echo "checkfiles: $path: executable binary ($what)" >&2
		bad=1
	fi
done < <(git ls-files -z --stage)

if [ "$bad" != 0 ]; then
	echo "checkfiles: hint: untrack them (git rm --cached FILE); build into bin/ (ignored), keep fixtures small" >&2
	exit 1
fi
