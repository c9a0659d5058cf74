package main

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runOf makes a run of ops operations taking ns each, with allocs in all.
func runOf(ops int64, ns float64, allocs uint64) Run {
	return Run{Iters: ops, Ops: ops, Elapsed: time.Duration(float64(ops) * ns), Allocs: allocs, Procs: 2}
}

// withFaults sets a run's page-fault count.
func withFaults(r Run, faults uint64) Run {
	r.Faults = faults
	return r
}

// sampleReport is a pair-like report with a baseline, a peer, a figure
// and a reference row.
func sampleReport() *WorkloadReport {
	return &WorkloadReport{
		Name: "pair", Models: "a model", Measure: "one thing",
		Results: []*Result{
			{Workload: "pair", Case: "size=64B", Alloc: "mmalloc",
				Runs:    []Run{runOf(1000, 10, 0), runOf(1000, 12, 0), runOf(1000, 30, 0)},
				Figures: []Figure{{Label: "GC CPU", Unit: "gc-cpu-%", Values: []float64{1, 2, 3}, Format: fmtPercent}}},
			{Workload: "pair", Case: "size=64B", Alloc: "go-heap",
				Runs: []Run{withFaults(runOf(1000, 24, 1000), 500), runOf(1000, 25, 1000), runOf(1000, 23, 1000)}},
			{Workload: "pair", Case: "size=64B", Alloc: cRefName, Reference: true,
				Runs: []Run{runOf(1000, 6, 0)}},
			{Workload: "pair", Case: "size=1KiB", Alloc: "go-heap",
				Runs: []Run{runOf(10, 2500, 10)}},
		},
		Notes: []string{"a note"},
	}
}

func TestMedian(t *testing.T) {
	assert.True(t, math.IsNaN(median(nil)))
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
}

func TestFormatters(t *testing.T) {
	assert.Equal(t, "9.50 ns", fmtNs(9.5))
	assert.Equal(t, "123.4 ns", fmtNs(123.4))
	assert.Equal(t, "1.23 µs", fmtNs(1234))
	assert.Equal(t, "110 µs", fmtNs(110_000))
	assert.Equal(t, "2.5 ms", fmtNs(2_500_000))
	assert.Equal(t, "—", fmtNs(math.NaN()))
	assert.Equal(t, "1.00", fmtRatio(1))
	assert.Equal(t, "0.021", fmtRatio(0.0213))
	assert.Equal(t, "12", fmtRatio(12.3))
	assert.Equal(t, "×1.85", fmtTimes(1.85))
	assert.Equal(t, "0", fmtAllocs(0))
	assert.Equal(t, "1.00", fmtAllocs(1))
	assert.Equal(t, "5.00%", fmtPercent(5))
	assert.Equal(t, "12", gobenchNum(12))
	assert.Equal(t, "12.345", gobenchNum(12.3451))
	assert.Equal(t, "123457", gobenchNum(123456.7))
	assert.Equal(t, "0.0025", gobenchNum(0.0025))
	assert.Equal(t, "0", gobenchNum(0))
	assert.Equal(t, "64B", sizeName(64))
	assert.Equal(t, "4KiB", sizeName(4096))
	assert.Equal(t, "1MiB", sizeName(1<<20))
	assert.Equal(t, "5000B", sizeName(5000))
	assert.Equal(t, "1M", countName(1_000_000))
	assert.Equal(t, "100k", countName(100_000))
}

func TestWriteTable(t *testing.T) {
	var out bytes.Buffer
	writeTable(&out, sampleReport())
	s := out.String()
	lines := strings.Split(s, "\n")
	assert.Equal(t, "== pair: a model", lines[0])
	assert.Contains(t, s, "op = one thing")
	assert.Regexp(t, `(?m)^case\s+allocator\s+time/op\s+min – max\s+×mmalloc\s+allocs/op\s+faults/op\s+GC CPU$`, s)
	// mmalloc: median 12 ns, range 10–30, ratio 1, no allocations, no faults, GC 2%.
	assert.Regexp(t, `(?m)^size=64B\s+mmalloc\s+12\.0 ns\s+10\.0 ns – 30\.0 ns\s+1\.00\s+0\s+0\s+2\.00%$`, s)
	// go-heap: 24 ns is 2× mmalloc's 12, one allocation per op; faults
	// in one run of three only, so the median is none.
	assert.Regexp(t, `(?m)^\s+go-heap\s+24\.0 ns\s+23\.0 ns – 25\.0 ns\s+2\.00\s+1\.00\s+0\s*$`, s)
	// The reference has no Go-heap allocation or fault count.
	assert.Regexp(t, `(?m)^\s+c-malloc\s+6\.00 ns\s+6\.00 ns – 6\.00 ns\s+0\.50\s+—\s+—\s*$`, s)
	// No baseline in this case: no ratio.
	assert.Regexp(t, `(?m)^size=1KiB\s+go-heap\s+2\.5 µs\s+2\.5 µs – 2\.5 µs\s+—\s+1\.00\s+0\s*$`, s)
	assert.Contains(t, s, "note: a note")
}

// gobenchLine is the shape of a Go benchmark result line.
var gobenchLine = regexp.MustCompile(`^Benchmark[A-Za-z]+(/[^\s/]+)+-\d+\t\d+\t[0-9.]+ ns/op(\t[0-9.]+ \S+)*$`)

func TestWriteGobench(t *testing.T) {
	var out bytes.Buffer
	writeGobenchHeader(&out, "test cpu")
	writeGobench(&out, sampleReport(), 2)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4+3+3+1+1)
	assert.Equal(t, "goos: linux", lines[0])
	assert.Equal(t, "cpu: test cpu", lines[3])
	for _, l := range lines[4:] {
		assert.Regexp(t, gobenchLine, l)
	}
	assert.Equal(t, "BenchmarkPair/mmalloc/size=64B-2\t1000\t10 ns/op\t0 allocs/op\t0 page-faults/op\t1 gc-cpu-%", lines[4])
	assert.Equal(t, "BenchmarkPair/go-heap/size=64B-2\t1000\t24 ns/op\t1 allocs/op\t0.5 page-faults/op", lines[7])
	assert.Equal(t, "BenchmarkPair/c-malloc/size=64B-2\t1000\t6 ns/op", lines[10], "no allocs/op for the reference")

	out.Reset()
	writeGobench(&out, sampleReport(), 1)
	assert.True(t, strings.HasPrefix(out.String(), "BenchmarkPair/mmalloc/size=64B\t"), "no -1 suffix, as testing prints")
}

func TestParseCReference(t *testing.T) {
	rs, err := parseCReference("pair", []byte("16 1000 9.5\n16 1000 10.5\n64 2000 11.0\n"))
	require.NoError(t, err)
	require.Len(t, rs, 2)
	assert.Equal(t, "size=16B", rs[0].Case)
	assert.Equal(t, cRefName, rs[0].Alloc)
	assert.True(t, rs[0].Reference)
	assert.InDelta(t, 10.0, rs[0].MedianNs(), 0.01)
	assert.Equal(t, "size=64B", rs[1].Case)
	assert.Equal(t, "pair", rs[0].Workload)
	rs, err = parseCReference("batch", []byte("64 20000 12.5\n"))
	require.NoError(t, err)
	assert.Equal(t, "batch", rs[0].Workload)
	assert.InDelta(t, 12.5, rs[0].MedianNs(), 0.01)
	_, err = parseCReference("pair", []byte("garbage\n"))
	assert.Error(t, err)
	_, err = parseCReference("pair", nil)
	assert.Error(t, err)
}

func TestWriteChart(t *testing.T) {
	rep := sampleReport()
	var out bytes.Buffer
	require.NoError(t, writeChart(&out, []*WorkloadReport{rep}))
	assert.Contains(t, out.String(), "<svg")
	assert.Error(t, writeChart(&out, nil))
}

func TestGaps(t *testing.T) {
	pair := sampleReport()
	// Another case where mmalloc is further behind, and a variant that
	// must not count as a peer.
	pair.Results = append(pair.Results,
		&Result{Workload: "pair", Case: "size=1KiB", Alloc: "mmalloc", Runs: []Run{runOf(10, 10000, 0)}},
		&Result{Workload: "pair", Case: "size=1KiB", Alloc: "mmalloc-uninit", Runs: []Run{runOf(10, 1, 0)}})
	batch := &WorkloadReport{Name: "batch", Results: []*Result{
		{Workload: "batch", Case: "size=64B", Alloc: "mmalloc", Runs: []Run{runOf(10, 30, 0)}},
		{Workload: "batch", Case: "size=64B", Alloc: "modernc", Runs: []Run{runOf(10, 20, 0)}},
	}}
	none := &WorkloadReport{Name: "rss", Results: []*Result{
		{Workload: "rss", Case: "x", Alloc: "go-heap", Runs: []Run{runOf(10, 20, 0)}},
	}}
	gs := gaps([]*WorkloadReport{batch, pair, none})
	require.Len(t, gs, 2, "no gap for a workload without mmalloc")
	assert.Equal(t, "pair", gs[0].Workload, "furthest behind first")
	assert.Equal(t, "size=1KiB", gs[0].Case)
	assert.Equal(t, "go-heap", gs[0].Peer)
	assert.InDelta(t, 4.0, gs[0].Ratio(), 1e-9)
	assert.Equal(t, "modernc", gs[1].Peer)
	assert.InDelta(t, 1.5, gs[1].Ratio(), 1e-9)

	var out bytes.Buffer
	writeSummary(&out, []*WorkloadReport{batch, pair})
	assert.Regexp(t, `(?m)^pair\s+size=1KiB\s+10 µs\s+go-heap\s+2\.5 µs\s+4\.00$`, out.String())
}
