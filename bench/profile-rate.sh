#!/bin/sh
# profile-rate.sh [ARGS...]
#
# What heap-profile sampling at the default rate costs the bench program's
# rows: builds the program once and runs it with ARGS (its default run
# unless ARGS say otherwise) in Go benchmark format, with sampling off
# (-profile-rate -1) and at the default rate (-profile-rate 0), in turns,
# five rounds of -runs 2 each (ten runs a side), so that a noisy spell of
# a shared machine falls on both. Prints the results file: header,
# benchstat of the two, and the raw output.
set -eu
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BENCHSTAT=${BENCHSTAT:-go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}
args=${*:--alloc mmalloc,mmalloc-uninit,mmalloc-cache}

# medians FILE: each benchmark's median ns/op, "name<TAB>median", sorted.
medians() {
	awk '/^Benchmark/ {print $1 "\t" $3}' "$1" | sort -t '	' -k1,1 -k2,2g |
		awk -F '\t' '{n[$1]++; v[$1, n[$1]] = $2}
			END {for (k in n) {c = n[k]; m = (c % 2) ? v[k, (c + 1) / 2] : (v[k, c / 2] + v[k, c / 2 + 1]) / 2; printf "%s\t%s\n", k, m}}' |
		sort -t '	' -k1,1
}

(cd "$here" && go build -o "$tmp/bench" .)
load=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date -u '+%Y-%m-%d %H:%M UTC')
for i in 1 2 3 4 5; do
	echo "profile-rate.sh: round $i of 5" >&2
	"$tmp/bench" -q -format gobench -runs 2 $args -profile-rate -1 >> "$tmp/off.txt"
	"$tmp/bench" -q -format gobench -runs 2 $args -profile-rate 0 >> "$tmp/default.txt"
done
end=$(date -u '+%H:%M UTC')

echo "mmalloc bench: what sampling at the default rate costs"
echo "date: $start, run until $end"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "$(nproc) cores, $(go version | cut -d' ' -f3-4), Linux $(uname -r)"
echo "load average at the start: $load; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "Made by: make -C bench results/profile-rate.txt (profile-rate.sh $args): the bench program,"
echo "-format gobench -runs 2 $args, with -profile-rate -1 (off) and -profile-rate 0"
echo "(default: mmalloc.DefaultProfileRate, 512 KiB), in turns, five rounds: ten runs a side."
echo
echo "Each row's median ns/op, off and default, and default ÷ off − 1 (what sampling costs the row,"
echo "significant or not: benchstat's table below says which differences it can tell from noise)."
medians "$tmp/off.txt" > "$tmp/off.med"
medians "$tmp/default.txt" > "$tmp/default.med"
join -t '	' "$tmp/off.med" "$tmp/default.med" |
	awk -F '\t' '{printf "%-48s %12.2f %12.2f %+8.1f%%\n", $1, $2, $3, ($3 / $2 - 1) * 100}' > "$tmp/ratios"
cat "$tmp/ratios"
sort -k4,4g "$tmp/ratios" | awk '{r[NR] = $4; n[NR] = $1} END {
	printf "over %d rows, default ÷ off − 1 runs from %s (%s) to %s (%s)\n", NR, r[1], n[1], r[NR], n[NR]}'
echo
$BENCHSTAT -col profile-rate "$tmp/off.txt" "$tmp/default.txt" 2>&1 | grep -v '^\(goos\|goarch\|pkg\):'
echo
echo "== raw output, off"
cat "$tmp/off.txt"
echo "== raw output, default"
cat "$tmp/default.txt"
