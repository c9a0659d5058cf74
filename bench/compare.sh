#!/bin/sh
# compare.sh OLD BEFORE_OUT AFTER_OUT ARGS...
#
# Builds this benchmark program twice: once against the library as it was
# at commit OLD, once against the working tree. Runs the two in turn,
# three times each, with ARGS (say -format gobench), so that a noisy
# spell of a shared machine falls on both, and writes their output to
# BEFORE_OUT and AFTER_OUT for benchstat. The program itself is today's in
# both builds: only the library differs. It fails if the old library lacks
# something the program calls.
set -eu

if [ $# -lt 3 ]; then
	echo "usage: compare.sh OLD BEFORE_OUT AFTER_OUT [ARGS...]" >&2
	exit 2
fi
old=$1 before=$2 after=$3
shift 3

here=$(cd "$(dirname "$0")" && pwd)
top=$(git -C "$here" rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The library at OLD, and a copy of this program that uses it.
mkdir "$tmp/lib" "$tmp/prog"
git -C "$top" archive "$old" | tar -x -C "$tmp/lib"
(cd "$here" && tar -c --exclude=./results .) | tar -x -C "$tmp/prog"
(cd "$tmp/prog" && go mod edit -replace "github.com/mmalloc/mmalloc=$tmp/lib" &&
	GOFLAGS=-mod=mod go build -o "$tmp/before" .)
(cd "$here" && go build -o "$tmp/after" .)

: > "$before.tmp"
: > "$after.tmp"
for i in 1 2 3; do
	echo "compare.sh: round $i of 3" >&2
	"$tmp/before" "$@" >> "$before.tmp"
	"$tmp/after" "$@" >> "$after.tmp"
done
mv "$before.tmp" "$before"
mv "$after.tmp" "$after"
