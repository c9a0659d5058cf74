package main

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkLineHandover measures what it costs to hand one cache line from
// one core to another and back: two goroutines take turns incrementing a
// counter alone on its line, each spinning until it is its turn. ns/op is
// one round trip; ns/handover is half of it.
//
// It is the price of every write to memory the other core wrote last, so
// it bounds what a workload that frees on one core what another allocated
// (larson, prodcons) can gain from any allocator: run it beside those
// workloads to tell the machine's state from the allocator's cost.
func BenchmarkLineHandover(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		b.Skip("needs two cores and GOMAXPROCS >= 2")
	}
	var line struct {
		_ [64]byte
		n atomic.Uint64
		_ [64]byte
	}
	turns := 2 * uint64(b.N)
	done := make(chan struct{})
	// take makes the turns of one parity: it waits for the counter to
	// reach each of them, then passes the turn on.
	take := func(parity uint64) {
		for t := parity; t < turns; t += 2 {
			for line.n.Load() != t {
			}
			line.n.Add(1)
		}
	}
	b.ResetTimer()
	go func() {
		defer close(done)
		take(1)
	}()
	take(0)
	<-done
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(turns), "ns/handover")
}
