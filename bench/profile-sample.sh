#!/bin/sh
# profile-sample.sh OLD
#
# What one heap-profile sample costs, before and after: runs the library's
# BenchmarkProfileSample (a 64-byte pair with sampling off, rate=-1, and
# with every allocation sampled, rate=1) on the library at commit OLD and
# on the working tree, in turns, five rounds of -count 2 each (ten runs a
# side), so that a noisy spell of a shared machine falls on both; then
# BenchmarkRecord (one sample and its drop, by frame pointers and by
# runtime.Callers), -count 10. Prints the results file: header, benchstat
# tables, each side's median cost of a sample, and the raw output.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: profile-sample.sh OLD" >&2
	exit 2
fi
old=$1

here=$(cd "$(dirname "$0")" && pwd)
top=$(git -C "$here" rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/lib"
git -C "$top" archive "$old" | tar -x -C "$tmp/lib"
BENCHSTAT=${BENCHSTAT:-go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}

bench='^BenchmarkProfileSample$'
(cd "$tmp/lib" && GOFLAGS=-mod=mod go test -c -o "$tmp/before.test" .)
(cd "$top" && go test -c -o "$tmp/after.test" .)
(cd "$top" && go test -c -o "$tmp/heapprof.test" ./internal/heapprof)
load=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date -u '+%Y-%m-%d %H:%M UTC')
for i in 1 2 3 4 5; do
	echo "profile-sample.sh: round $i of 5" >&2
	(cd "$tmp/lib" && "$tmp/before.test" -test.run '^$' -test.bench "$bench" -test.count 2) >> "$tmp/before.txt"
	(cd "$top" && "$tmp/after.test" -test.run '^$' -test.bench "$bench" -test.count 2) >> "$tmp/after.txt"
done
(cd "$top/internal/heapprof" && "$tmp/heapprof.test" -test.run '^$' -test.bench '^BenchmarkRecord$' -test.count 10) > "$tmp/record.txt"
end=$(date -u '+%H:%M UTC')

# median NAME FILE: the median ns/op of the lines of benchmark NAME.
median() {
	grep "^$1-" "$2" | awk '{print $3}' | sort -g |
		awk '{v[NR] = $1} END {if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m}'
}
cost() {
	awk -v a="$(median BenchmarkProfileSample/rate=1 "$1")" -v b="$(median BenchmarkProfileSample/rate=-1 "$1")" \
		'BEGIN {printf "%.1f ns (median rate=1 %.1f ns − median rate=-1 %.1f ns)", a - b, a, b}'
}

echo "mmalloc: what one heap-profile sample costs"
echo "date: $start, run until $end"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "$(nproc) cores, $(go version | cut -d' ' -f3-4), Linux $(uname -r)"
echo "load average at the start: $load; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "Made by: make -C bench results/profile-sample.txt (profile-sample.sh $old): the library at $old"
echo "(before) and at the working tree (after), BenchmarkProfileSample -count 2 in turns, five rounds;"
echo "then the working tree's BenchmarkRecord -count 10."
echo
echo "BenchmarkProfileSample: a 64-byte Alloc+Free pair with sampling off (rate=-1) and with every"
echo "allocation sampled (rate=1): the difference is what a sample costs, its Free's drop included."
echo "  before: one sample costs $(cost "$tmp/before.txt")"
echo "  after:  one sample costs $(cost "$tmp/after.txt")"
echo
echo "What that costs an op at the default rate (mmalloc.DefaultProfileRate, 512 KiB): an allocation"
echo "of n bytes is sampled with probability p = 1 - exp(-n / 524288), so an Alloc+Free pair pays p × the"
echo "sample's cost on average (the rest of what sampling adds is measured in profile-rate.txt):"
after=$(awk -v a="$(median BenchmarkProfileSample/rate=1 "$tmp/after.txt")" \
	-v b="$(median BenchmarkProfileSample/rate=-1 "$tmp/after.txt")" 'BEGIN {print a - b}')
for n in 16 1024 4096 32768 131072 1048576 4194304 16777216; do
	awk -v n=$n -v c="$after" 'BEGIN {p = 1 - exp(-n / 524288)
		printf "  %9d B   p = %7.4f%%   %8.3f ns per op\n", n, p * 100, p * c}'
done
echo
$BENCHSTAT -filter .unit:sec/op -table .file -col /rate "before=$tmp/before.txt" "after=$tmp/after.txt" 2>&1 |
	grep -v '^\(goos\|goarch\|pkg\):'
echo
$BENCHSTAT -filter .unit:sec/op -col .file "before=$tmp/before.txt" "after=$tmp/after.txt" 2>&1 |
	grep -v '^\(goos\|goarch\|pkg\):'
echo
echo "BenchmarkRecord (internal/heapprof): Record and Drop of one sample from a shallow stack, its"
echo "call stack taken by frame pointers (unwind=fp) and by runtime.Callers (unwind=callers)."
$BENCHSTAT -filter .unit:sec/op -col /unwind "$tmp/record.txt" 2>&1 | grep -v '^\(goos\|goarch\|pkg\):'
echo
echo "== raw output, before"
cat "$tmp/before.txt"
echo "== raw output, after"
cat "$tmp/after.txt"
echo "== raw output, BenchmarkRecord"
cat "$tmp/record.txt"
