package mmalloc_test

import (
	"fmt"
	"testing"

	"github.com/mmalloc/mmalloc"
)

var benchSizes = []int{16, 64, 256, 1 << 10, 4 << 10, 32 << 10, 128 << 10, 1 << 20}

// sink keeps the Go heap baseline from being optimised away.
var sink []byte

// BenchmarkAllocFree measures one Alloc+Free pair per size, beside the Go
// heap doing the same with make (its cost includes the GC it causes).
// Compare the impl=mmalloc rows with impl=make: benchstat -col /impl.
func BenchmarkAllocFree(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("size=%d/impl=make", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				sink = make([]byte, n)
			}
		})
		b.Run(fmt.Sprintf("size=%d/impl=mmalloc", n), func(b *testing.B) {
			benchPair(b, n, (*mmalloc.Allocator).Alloc)
		})
		b.Run(fmt.Sprintf("size=%d/impl=mmalloc-uninit", n), func(b *testing.B) {
			benchPair(b, n, (*mmalloc.Allocator).AllocUninit)
		})
	}
}

func benchPair(b *testing.B, n int, alloc func(*mmalloc.Allocator, int) ([]byte, error)) {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	b.ReportAllocs()
	b.SetBytes(int64(n))
	for b.Loop() {
		buf, err := alloc(a, n)
		if err != nil {
			b.Fatal(err)
		}
		buf[0] = 1
		if err := a.Free(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllocFreeParallel runs the pair on every P at once through the
// shared Allocator.
func BenchmarkAllocFreeParallel(b *testing.B) {
	for _, n := range []int{64, 4 << 10} {
		b.Run(fmt.Sprintf("size=%d/impl=make", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var local []byte
				for pb.Next() {
					local = make([]byte, n)
				}
				sink = local
			})
		})
		b.Run(fmt.Sprintf("size=%d/impl=mmalloc", n), func(b *testing.B) {
			benchParallelPair(b, n, func(a *mmalloc.Allocator) (allocFunc, freeFunc, func()) {
				return a.Alloc, a.Free, func() {}
			})
		})
		b.Run(fmt.Sprintf("size=%d/impl=mmalloc-cache", n), func(b *testing.B) {
			benchParallelPair(b, n, func(a *mmalloc.Allocator) (allocFunc, freeFunc, func()) {
				c := a.NewCache()
				return c.AllocUninit, c.Free, c.Flush
			})
		})
	}
}

type (
	allocFunc func(int) ([]byte, error)
	freeFunc  func([]byte) error
)

// benchParallelPair runs Alloc+Free pairs of n bytes on every P at once
// on one Allocator, each goroutine through the functions handle gives it
// (and calling the last when it is done).
func benchParallelPair(b *testing.B, n int, handle func(*mmalloc.Allocator) (allocFunc, freeFunc, func())) {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		alloc, free, done := handle(a)
		defer done()
		for pb.Next() {
			buf, err := alloc(n)
			if err != nil {
				panic(err)
			}
			if err := free(buf); err != nil {
				panic(err)
			}
		}
	})
}

// BenchmarkFastPath times the small paths with nothing around them.
func BenchmarkFastPath(b *testing.B) {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()
	c := a.NewCache()
	b.Run("cache-uninit-16", func(b *testing.B) {
		for b.Loop() {
			x, _ := c.AllocUninit(16)
			_ = c.Free(x)
		}
	})
	b.Run("shared-zero-16", func(b *testing.B) {
		for b.Loop() {
			x, _ := a.Alloc(16)
			_ = a.Free(x)
		}
	})
	b.Run("shared-uninit-256", func(b *testing.B) {
		for b.Loop() {
			x, _ := a.AllocUninit(256)
			_ = a.Free(x)
		}
	})
}

// BenchmarkBatch allocates 10,000 buffers, then frees them all, as the
// bench program's batch workload does; ns/op is per buffer.
func BenchmarkBatch(b *testing.B) {
	for _, n := range []int{64, 4 << 10} {
		b.Run(fmt.Sprintf("size=%d/impl=mmalloc-uninit", n), func(b *testing.B) {
			a, _ := mmalloc.New(mmalloc.Options{})
			defer a.Close()
			benchBatch(b, n, a.AllocUninit, a.Free)
		})
		b.Run(fmt.Sprintf("size=%d/impl=mmalloc-cache", n), func(b *testing.B) {
			a, _ := mmalloc.New(mmalloc.Options{})
			defer a.Close()
			c := a.NewCache()
			benchBatch(b, n, c.AllocUninit, c.Free)
		})
	}
}

func benchBatch(b *testing.B, n int, alloc allocFunc, free freeFunc) {
	held := make([][]byte, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		for i := range held {
			buf, err := alloc(n)
			if err != nil {
				b.Fatal(err)
			}
			buf[0], buf[n-1] = 1, 1
			held[i] = buf
		}
		for _, buf := range held {
			if err := free(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(held)), "ns/buffer")
}
