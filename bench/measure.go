// Timing: calibrated runs, runtime counters, medians.

package main

import (
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"slices"
	"syscall"
	"time"
)

// Runtime metrics every run reads before and after its timed loop.
const (
	metricGCCPU    = "/cpu/classes/gc/total:cpu-seconds"
	metricGCCycles = "/gc/cycles/total:gc-cycles"
)

// counters is a reading of the runtime's and the kernel's cumulative
// counters.
type counters struct {
	faults     uint64  // page faults this process has taken ever (minor + major)
	heapAllocs uint64  // Go-heap objects allocated ever
	gcCPU      float64 // CPU seconds the GC has used ever (an estimate, see runtime/metrics)
	gcCycles   uint64  // GC cycles completed ever
}

// readCounters reads the runtime counters. The allocation count comes
// from runtime.ReadMemStats, as testing's allocs/op does: it is exact,
// where the runtime/metrics counter lags by whatever the per-P caches
// have not flushed yet. ReadMemStats stops the world for a few
// microseconds, outside any timed loop.
func readCounters() counters {
	s := []metrics.Sample{{Name: metricGCCPU}, {Name: metricGCCycles}}
	metrics.Read(s)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	c := counters{heapAllocs: ms.Mallocs}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.faults = uint64(ru.Minflt + ru.Majflt)
	}
	if s[0].Value.Kind() == metrics.KindFloat64 {
		c.gcCPU = s[0].Value.Float64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		c.gcCycles = s[1].Value.Uint64()
	}
	return c
}

// Run is one timed run of one allocator on one case.
type Run struct {
	Iters    int64         // rounds the body was asked to do (the N of a gobench line)
	Ops      int64         // operations done; time and allocations are per op
	Elapsed  time.Duration // wall time of the timed loop
	Allocs   uint64        // Go-heap objects allocated during the loop, by anyone
	Faults   uint64        // page faults the process took during the loop
	GCCPU    float64       // GC CPU seconds during the loop
	GCCycles uint64        // GC cycles completed during the loop
	Procs    int           // GOMAXPROCS during the loop
}

// NsPerOp is the wall time per operation.
func (r Run) NsPerOp() float64 {
	if r.Ops == 0 {
		return math.NaN()
	}
	return float64(r.Elapsed.Nanoseconds()) / float64(r.Ops)
}

// AllocsPerOp is the Go-heap allocations per operation.
func (r Run) AllocsPerOp() float64 {
	if r.Ops == 0 {
		return math.NaN()
	}
	return float64(r.Allocs) / float64(r.Ops)
}

// FaultsPerOp is the page faults per operation: first touches of fresh
// pages, the kernel's share of an allocator's cost.
func (r Run) FaultsPerOp() float64 {
	if r.Ops == 0 {
		return math.NaN()
	}
	return float64(r.Faults) / float64(r.Ops)
}

// GCShare is the fraction of the machine's CPU (wall time × GOMAXPROCS)
// that the GC used during the loop.
func (r Run) GCShare() float64 {
	if r.Elapsed <= 0 || r.Procs <= 0 {
		return math.NaN()
	}
	return r.GCCPU / (r.Elapsed.Seconds() * float64(r.Procs))
}

// Body does n rounds of a workload and returns how many operations that was.
type Body func(n int64) (ops int64, err error)

// timeRun runs body(n) once and measures it.
func timeRun(body Body, n int64) (Run, error) {
	before := readCounters()
	start := time.Now()
	ops, err := body(n)
	elapsed := time.Since(start)
	after := readCounters()
	if err != nil {
		return Run{}, err
	}
	return Run{
		Iters:    n,
		Ops:      ops,
		Elapsed:  elapsed,
		Allocs:   after.heapAllocs - before.heapAllocs,
		Faults:   after.faults - before.faults,
		GCCPU:    after.gcCPU - before.gcCPU,
		GCCycles: after.gcCycles - before.gcCycles,
		Procs:    runtime.GOMAXPROCS(0),
	}, nil
}

// maxRounds bounds calibration, so a body that does nothing cannot spin.
const maxRounds = 1 << 40

// calibrate finds how many rounds of body fill about d, the way testing.B
// does: grow n until a run takes at least a fifth of d, then scale. Its runs
// are the warm-up and are not reported.
func calibrate(body Body, d time.Duration) (int64, error) {
	n := int64(1)
	for {
		r, err := timeRun(body, n)
		if err != nil {
			return 0, err
		}
		if r.Elapsed >= d/5 || n >= maxRounds {
			want := float64(n) * float64(d) / float64(max(r.Elapsed, 1))
			return int64(max(1, min(want, maxRounds))), nil
		}
		// Predict from this run, aiming 20% past a fifth of d, and grow
		// at least by one and at most 100-fold per step.
		per := float64(max(r.Elapsed, 1)) / float64(n)
		next := int64(1.2 * float64(d/5) / per)
		n = max(n+1, min(next, 100*n))
	}
}

// median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// touchBytes is the stride at which workloads write into each buffer: one
// byte per 4 KiB page, so that an allocator handing out fresh pages pays
// their first-touch faults inside the measurement, as its user would.
const touchBytes = 4096

// touch writes one byte in every page of b. It returns an error for a
// short slice, which would mean a broken adapter.
func touch(b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("allocator returned %d bytes, want %d", len(b), n)
	}
	for i := 0; i < len(b); i += touchBytes {
		b[i] = byte(i)
	}
	b[len(b)-1] = 1
	return nil
}
