#!/bin/sh
# profile-rate.sh [ARGS...]
#
# What heap-profile sampling at the default rate costs the bench program's
# rows: builds the program once and runs it with ARGS (its default run
# unless ARGS say otherwise) in Go benchmark format, with sampling off
# (-profile-rate -1) and at the default rate (-profile-rate 0), in turns,
# two rounds of -runs 5 each (ten runs a side), so that a noisy spell of
# a shared machine falls on both. Prints the results file: header,
# benchstat of the two, and the raw output.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BENCHSTAT=${BENCHSTAT:-go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}
args=${*:--alloc mmalloc,mmalloc-uninit,mmalloc-cache}

(cd "$here" && go build -o "$tmp/bench" .)
start=$(date -u '+%Y-%m-%d %H:%M UTC')
for i in 1 2; do
	echo "profile-rate.sh: round $i of 2" >&2
	"$tmp/bench" -q -format gobench -runs 5 $args -profile-rate -1 >> "$tmp/off.txt"
	"$tmp/bench" -q -format gobench -runs 5 $args -profile-rate 0 >> "$tmp/default.txt"
done
end=$(date -u '+%H:%M UTC')

echo "mmalloc bench: what sampling at the default rate costs — date: $start, run until $end"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores, $(go version | cut -d' ' -f3-4), Linux $(uname -r)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "Made by: make -C bench results/profile-rate.txt (profile-rate.sh $args): the bench program,"
echo "-format gobench -runs 5 $args, with -profile-rate -1 (off) and -profile-rate 0"
echo "(default: mmalloc.DefaultProfileRate, 512 KiB), in turns, two rounds: ten runs a side."
echo
$BENCHSTAT "off=$tmp/off.txt" "default=$tmp/default.txt" 2>&1 | grep -v '^\(goos\|goarch\|pkg\):'
echo
echo "== raw output, off"
cat "$tmp/off.txt"
echo "== raw output, default"
cat "$tmp/default.txt"
