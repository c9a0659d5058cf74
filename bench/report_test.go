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
	assert.Regexp(t, `(?m)^case\s+allocator\s+time/op\s+min – max\s+×like peer\s+allocs/op\s+faults/op\s+GC CPU$`, s)
	// mmalloc: median 12 ns, range 10–30, half the time of go-heap (the
	// fastest zeroed peer), no allocations, no faults, GC 2%.
	assert.Regexp(t, `(?m)^size=64B\s+mmalloc\s+12\.0 ns\s+10\.0 ns – 30\.0 ns\s+0\.50\s+0\s+0\s+2\.00%$`, s)
	// go-heap is its own fastest like peer; one allocation per op; faults
	// in one run of three only, so the median is none.
	assert.Regexp(t, `(?m)^\s+go-heap\s+24\.0 ns\s+23\.0 ns – 25\.0 ns\s+1\.00\s+1\.00\s+0\s*$`, s)
	// The reference's malloc does not zero, and no peer here is like it:
	// no ratio, and no Go-heap allocation or fault count.
	assert.Regexp(t, `(?m)^\s+c-malloc\s+6\.00 ns\s+6\.00 ns – 6\.00 ns\s+—\s+—\s+—\s*$`, s)
	assert.Regexp(t, `(?m)^size=1KiB\s+go-heap\s+2\.5 µs\s+2\.5 µs – 2\.5 µs\s+1\.00\s+1\.00\s+0\s*$`, s)
	assert.Contains(t, s, "note: a note")
	assert.NotContains(t, s, "wall time", "unknown")

	rep := sampleReport()
	rep.Elapsed = 83*time.Second + 400*time.Millisecond
	out.Reset()
	writeTable(&out, rep)
	assert.Contains(t, out.String(), "   wall time of this workload: 1m23s\n")
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

// resultOf is a result of one run of ns per op.
func resultOf(workload, c, alloc string, ns float64) *Result {
	return &Result{Workload: workload, Case: c, Alloc: alloc, Runs: []Run{runOf(1000, ns, 0)}}
}

// unlikeReport is a pair-like report where the fastest peer overall does
// not zero: comparing mmalloc's zeroed Alloc with it would measure a
// memclr, not an allocator.
func unlikeReport() *WorkloadReport {
	return &WorkloadReport{Name: "pair", Results: []*Result{
		resultOf("pair", "size=16B", "mmalloc", 25),
		resultOf("pair", "size=16B", "mmalloc-uninit", 23),
		resultOf("pair", "size=16B", "mmalloc-guard", 120),
		resultOf("pair", "size=16B", "go-heap", 22),
		resultOf("pair", "size=16B", "sync.Pool", 18),
		resultOf("pair", "size=16B", "modernc", 13),
		resultOf("pair", "size=4MiB", "mmalloc", 210_000),
		resultOf("pair", "size=4MiB", "mmalloc-uninit", 8_000),
		resultOf("pair", "size=4MiB", "mmalloc-guard", 1_800_000),
		resultOf("pair", "size=4MiB", "go-heap", 466_000),
		resultOf("pair", "size=4MiB", "sync.Pool", 9_000),
		resultOf("pair", "size=4MiB", "modernc", 7_710),
		{Workload: "pair", Case: "size=4MiB", Alloc: cRefName, Reference: true, Runs: []Run{runOf(1000, 5, 0)}},
	}}
}

func TestLikeRatio(t *testing.T) {
	rep := unlikeReport()
	ratio := func(c, a string) float64 { return rep.LikeRatio(rep.Find(c, a)) }
	// Zeroed rows against the fastest zeroed peer, go-heap.
	assert.InDelta(t, 210.0/466, ratio("size=4MiB", "mmalloc"), 1e-9)
	assert.InDelta(t, 1800.0/466, ratio("size=4MiB", "mmalloc-guard"), 1e-9)
	assert.InDelta(t, 1.0, ratio("size=4MiB", "go-heap"), 1e-9)
	// Rows that do not zero against the fastest such peer, modernc; the
	// C reference too, since malloc does not zero.
	assert.InDelta(t, 8000/7710.0, ratio("size=4MiB", "mmalloc-uninit"), 1e-9)
	assert.InDelta(t, 9000/7710.0, ratio("size=4MiB", "sync.Pool"), 1e-9)
	assert.InDelta(t, 5/7710.0, ratio("size=4MiB", cRefName), 1e-9)
	// No like peer: no ratio.
	solo := &WorkloadReport{Name: "pair", Results: []*Result{resultOf("pair", "x", "mmalloc", 1), resultOf("pair", "x", "modernc", 1)}}
	assert.True(t, math.IsNaN(solo.LikeRatio(solo.Results[0])))
}

func TestSummaryLikeForLike(t *testing.T) {
	pair := unlikeReport()
	churn := &WorkloadReport{Name: "churn", Locked: map[string]bool{"modernc": true}, Results: []*Result{
		resultOf("churn", "live=100k", "mmalloc", 170),
		resultOf("churn", "live=100k", "mmalloc-cache", 60),
		resultOf("churn", "live=100k", "go-heap", 250),
		resultOf("churn", "live=100k", "modernc", 40),
	}}
	peerless := &WorkloadReport{Name: "rss", Results: []*Result{resultOf("rss", "x", "mmalloc", 10)}}
	var out bytes.Buffer
	writeSummary(&out, []*WorkloadReport{pair, churn, peerless})
	s := out.String()
	assert.Equal(t, 1, strings.Count(s, "== summary"), "one header")
	// Leads most: zeroed mmalloc against make at 4 MiB, not against modernc.
	assert.Regexp(t, `(?m)^pair\s+leads most\s+size=4MiB\s+mmalloc\s+210 µs\s+go-heap\s+466 µs\s+0\.45\s+same \(goroutine-safe\)$`, s)
	// Trails most: uninitialised against uninitialised, and the summary
	// says that modernc takes no lock while mmalloc is goroutine-safe.
	assert.Regexp(t, `(?m)^pair\s+trails most\s+size=16B\s+mmalloc-uninit\s+23\.0 ns\s+modernc\s+13\.0 ns\s+1\.77\s+`+
		`mmalloc-uninit: goroutine-safe; modernc: not goroutine-safe, no lock$`, s)
	assert.NotRegexp(t, `mmalloc\s+210 µs\s+modernc`, s, "zeroed mmalloc is never set against modernc")
	assert.NotContains(t, s, "mmalloc-guard", "a debugging mode is no standing of mmalloc's")
	assert.Regexp(t, `(?m)^churn\s+leads most\s+live=100k\s+mmalloc\s+170\.0 ns\s+go-heap\s+250\.0 ns\s+0\.68\s+same \(goroutine-safe\)$`, s)
	// Against modernc behind the workload's mutex, a Cache takes no lock.
	assert.Regexp(t, `(?m)^churn\s+trails most\s+live=100k\s+mmalloc-cache\s+60\.0 ns\s+modernc\s+40\.0 ns\s+1\.50\s+`+
		`mmalloc-cache: a Cache per goroutine, no lock; modernc: behind one mutex$`, s)
	assert.NotRegexp(t, `(?m)^rss\s`, s, "no peer, no row")

	out.Reset()
	writeSummary(&out, []*WorkloadReport{peerless})
	assert.Empty(t, out.String(), "nothing to compare: no summary")

	// Where mmalloc leads nowhere its best row is the closest, and where
	// it trails nowhere its worst row leads least.
	behind := &WorkloadReport{Name: "batch", Results: []*Result{
		resultOf("batch", "a", "mmalloc", 30), resultOf("batch", "a", "mmalloc-uninit", 30),
		resultOf("batch", "a", "go-heap", 20), resultOf("batch", "a", "sync.Pool", 10)}}
	ahead := &WorkloadReport{Name: "buffer", Results: []*Result{
		resultOf("buffer", "a", "mmalloc", 10), resultOf("buffer", "b", "mmalloc", 5),
		resultOf("buffer", "a", "go-heap", 20), resultOf("buffer", "b", "go-heap", 20)}}
	out.Reset()
	writeSummary(&out, []*WorkloadReport{behind, ahead})
	s = out.String()
	assert.Regexp(t, `(?m)^batch\s+closest\s+a\s+mmalloc\s+30\.0 ns\s+go-heap\s+20\.0 ns\s+1\.50\s`, s)
	assert.Regexp(t, `(?m)^batch\s+trails most\s+a\s+mmalloc-uninit\s+30\.0 ns\s+sync\.Pool\s+10\.0 ns\s+3\.00\s`, s)
	assert.Regexp(t, `(?m)^buffer\s+leads most\s+b\s+mmalloc\s+5\.00 ns\s+go-heap\s+20\.0 ns\s+0\.25\s`, s)
	assert.Regexp(t, `(?m)^buffer\s+leads least\s+a\s+mmalloc\s+10\.0 ns\s+go-heap\s+20\.0 ns\s+0\.50\s`, s)
}

func TestContractsLine(t *testing.T) {
	var ks []Kind
	for _, n := range []string{"mmalloc", "mmalloc-uninit", "mmalloc-guard", "mmalloc-cache", "go-heap", "sync.Pool", "modernc"} {
		k, ok := lookupKind(n)
		require.True(t, ok, n)
		ks = append(ks, k)
	}
	assert.Equal(t, "zeroed: mmalloc against go-heap; not zeroed: mmalloc-uninit, mmalloc-cache, c-malloc against sync.Pool, modernc",
		contractsLine(ks, true))
	assert.Equal(t, "zeroed: mmalloc against none", contractsLine(ks[:1], false))
}

func TestAddVersus(t *testing.T) {
	rep := unlikeReport()
	addVersus(rep)
	f, ok := rep.Find("size=16B", "mmalloc-guard").figure("×mmalloc")
	require.True(t, ok, "guard rows are compared with the mode they debug")
	assert.InDelta(t, 120.0/25, f.Median(), 1e-9)
	_, ok = rep.Find("size=16B", "mmalloc").figure("×mmalloc")
	assert.False(t, ok)
}

func TestAddThroughput(t *testing.T) {
	rep := &WorkloadReport{Name: "prodcons", Results: []*Result{
		resultOf("prodcons", "size=8B-128B", "mmalloc", 50),
		resultOf("prodcons", "size=8B-128B", "mmalloc-uninit", 40),
		resultOf("prodcons", "size=8B-128B", "go-heap", 100),
	}}
	addThroughput(rep)
	tp, ok := rep.Find("size=8B-128B", "mmalloc").figure("ops/s")
	require.True(t, ok)
	assert.InDelta(t, 2e7, tp.Median(), 1)
	x, ok := rep.Find("size=8B-128B", "mmalloc").figure("thrpt ÷ go-heap")
	require.True(t, ok)
	assert.InDelta(t, 2.0, x.Median(), 1e-9, "twice the Go heap's throughput")
	_, ok = rep.Find("size=8B-128B", "mmalloc-uninit").figure("thrpt ÷ go-heap")
	assert.False(t, ok, "a row that does not zero is not set against make")
	assert.Equal(t, "20M", fmtOpsPerSec(2e7))
	assert.Equal(t, "1.5k", fmtOpsPerSec(1500))
}
