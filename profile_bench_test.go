package mmalloc_test

import (
	"fmt"
	"testing"

	"github.com/mmalloc/mmalloc"
)

// profileRates are the two sides of BenchmarkProfileCost.
var profileRates = []struct {
	name string
	rate int
}{
	{"off", -1},
	{"default", 0}, // DefaultProfileRate, 512 KiB
}

// BenchmarkProfileCost measures what sampling at the default rate costs
// against sampling off, on the bench program's three workloads: pair (one
// Alloc+Free of one size), churn (a live set of 10,000 buffers of mixed
// sizes, each op freeing one at random and allocating its successor) and
// batch (10,000 allocations, then 10,000 frees; ns/op is per buffer).
// Compare the two sides with benchstat -col /profile.
func BenchmarkProfileCost(b *testing.B) {
	for _, p := range profileRates {
		opts := mmalloc.Options{ProfileRate: p.rate}
		for _, n := range []int{16, 1 << 10, 4 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("workload=pair/size=%d/impl=mmalloc/profile=%s", n, p.name), func(b *testing.B) {
				a := newBenchAlloc(b, opts)
				benchPairOn(b, n, a.Alloc, a.Free)
			})
			b.Run(fmt.Sprintf("workload=pair/size=%d/impl=mmalloc-cache/profile=%s", n, p.name), func(b *testing.B) {
				c := newBenchAlloc(b, opts).NewCache()
				benchPairOn(b, n, c.AllocUninit, c.Free)
			})
		}
		b.Run(fmt.Sprintf("workload=churn/size=16-8192/impl=mmalloc/profile=%s", p.name), func(b *testing.B) {
			a := newBenchAlloc(b, opts)
			benchChurn(b, a.Alloc, a.Free)
		})
		b.Run(fmt.Sprintf("workload=churn/size=16-8192/impl=mmalloc-cache/profile=%s", p.name), func(b *testing.B) {
			c := newBenchAlloc(b, opts).NewCache()
			benchChurn(b, c.AllocUninit, c.Free)
		})
		for _, n := range []int{64, 4 << 10} {
			b.Run(fmt.Sprintf("workload=batch/size=%d/impl=mmalloc-uninit/profile=%s", n, p.name), func(b *testing.B) {
				a := newBenchAlloc(b, opts)
				benchBatch(b, n, a.AllocUninit, a.Free)
			})
			b.Run(fmt.Sprintf("workload=batch/size=%d/impl=mmalloc-cache/profile=%s", n, p.name), func(b *testing.B) {
				c := newBenchAlloc(b, opts).NewCache()
				benchBatch(b, n, c.AllocUninit, c.Free)
			})
		}
	}
}

// BenchmarkProfileSample measures one sampled allocation: a pair with
// every allocation sampled (ProfileRate 1), against a pair with sampling
// off; the difference is what a sample costs (its call stack, the lock,
// the live set) in a shallow stack.
func BenchmarkProfileSample(b *testing.B) {
	for _, rate := range []int{-1, 1} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			a := newBenchAlloc(b, mmalloc.Options{ProfileRate: rate})
			benchPairOn(b, 64, a.Alloc, a.Free)
		})
	}
}

func newBenchAlloc(b *testing.B, opts mmalloc.Options) *mmalloc.Allocator {
	a, err := mmalloc.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	return a
}

// benchPairOn is benchPair through the given functions.
func benchPairOn(b *testing.B, n int, alloc allocFunc, free freeFunc) {
	b.ReportAllocs()
	b.SetBytes(int64(n))
	for b.Loop() {
		buf, err := alloc(n)
		if err != nil {
			b.Fatal(err)
		}
		buf[0] = 1
		if err := free(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// Shape of the churn benchmark, after the bench program's churn workload
// on one goroutine: log-uniform sizes from 16 B to 8 KiB, so that small
// buffers dominate the count and large ones the bytes.
const (
	churnLive  = 10_000
	churnSteps = 1 << 16 // precomputed (slot, size) steps, replayed
)

func benchChurn(b *testing.B, alloc allocFunc, free freeFunc) {
	type step struct{ slot, size int }
	steps := make([]step, churnSteps)
	x := uint64(0x9E3779B97F4A7C15)
	next := func() uint64 { // xorshift64*
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		return x * 2685821657736338717
	}
	churnSize := func(r uint64) int {
		lo := 16 << (r % 9) // 16 B .. 4 KiB, then up to twice that
		return lo + int((r>>8)%uint64(lo)) + 1
	}
	for i := range steps {
		steps[i] = step{int(next() % churnLive), churnSize(next())}
	}
	slots := make([][]byte, churnLive)
	for i := range slots {
		buf, err := alloc(churnSize(next()))
		if err != nil {
			b.Fatal(err)
		}
		slots[i] = buf
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := steps[i%churnSteps]
		i++
		if err := free(slots[s.slot]); err != nil {
			b.Fatal(err)
		}
		buf, err := alloc(s.size)
		if err != nil {
			b.Fatal(err)
		}
		buf[0] = 1
		slots[s.slot] = buf
	}
	b.StopTimer()
	for _, buf := range slots {
		if err := free(buf); err != nil {
			b.Fatal(err)
		}
	}
}
