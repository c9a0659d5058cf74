package mmalloc_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

const (
	kib       = 1 << 10
	mib       = 1 << 20
	threshold = mmalloc.DefaultLargeThreshold
)

var pageBytes = os.Getpagesize()

// TestAllocSemantics allocates every boundary size and checks length,
// capacity, alignment and zeroing on first use and on every reuse.
func TestAllocSemantics(t *testing.T) {
	sizes := []int{1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 64, 100, 112, 113, 127, 128, 129,
		144, 145, 255, 256, 257, 1000, 1023, 1024, 1025, 2048, 4095, 4096, 4097, 8191, 8192,
		16 * kib, 32*kib + 1, 64 * kib, 65*kib + 3, 100 * kib, threshold - 1, threshold,
		threshold + 1, threshold + pageBytes, 256 * kib, mib - 1, mib, mib + 1, 3*mib + 5, 8 * mib}
	a := newAlloc(t, mmalloc.Options{})
	for _, n := range sizes {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			wantCap := a.UsableSize(n)
			for round := range 3 { // first use, then two reuses of dirty memory
				b, err := a.Alloc(n)
				require.NoError(t, err)
				assert.Equal(t, n, len(b))
				assert.Equal(t, wantCap, cap(b), "usable size")
				assert.GreaterOrEqual(t, cap(b), n)
				if n > threshold {
					assert.Zero(t, addr(b)%uintptr(pageBytes), "large allocations are page aligned")
					assert.Equal(t, (n+pageBytes-1)/pageBytes*pageBytes, cap(b), "large capacity is page-rounded")
				} else {
					assert.LessOrEqual(t, cap(b), threshold)
					if n >= 16 {
						assert.Zero(t, addr(b)%16, "objects of 16 B or more are 16-byte aligned")
					} else {
						assert.Zero(t, addr(b)%8, "small objects are 8-byte aligned")
					}
				}
				if n >= 128 && n <= threshold {
					assert.Less(t, (cap(b)-n)*8, cap(b), "size classes waste under 12.5%%")
				}
				require.True(t, allZero(b), "round %d: memory not zeroed up to cap", round)
				fill(b, uint64(n))
				require.NoError(t, a.Free(b))
			}
			require.NoError(t, a.Validate())
		})
	}
}

// TestAllocUninitReusesWithoutClearing shows the variant really skips the
// clearing (the point of it) while Alloc clears the same slots. A slab
// hands its objects out in address order and comes back to freed ones
// once it has handed out the rest, so the test fills slabs, frees them
// and allocates until freed slots return (through a Cache, so that no
// other P's slab serves it).
func TestAllocUninitReusesWithoutClearing(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()
	defer c.Close()
	const n = 100
	freed := map[uintptr]bool{}
	var bufs [][]byte
	for range 2 * 65536 / 112 { // two slabs' worth
		b, err := c.AllocUninit(n)
		require.NoError(t, err)
		fill(b, 1)
		freed[addr(b)] = true
		bufs = append(bufs, b)
	}
	for _, b := range bufs {
		require.NoError(t, c.Free(b))
	}
	reuse := func(alloc func(int) ([]byte, error), ok func([]byte) bool, what string) {
		var held [][]byte
		hits := 0
		for range 4 * len(freed) {
			b, err := alloc(n)
			require.NoError(t, err)
			held = append(held, b)
			if freed[addr(b)] {
				hits++
				require.True(t, ok(b), "%s: slot %#x", what, addr(b))
			}
		}
		assert.Greater(t, hits, len(freed)/2, "%s: freed slots are handed out again", what)
		for _, b := range held {
			require.NoError(t, c.Free(b))
		}
	}
	reuse(c.AllocUninit, func(b []byte) bool { return check(b, 1) == -1 }, "uninitialised memory keeps its old bytes")
	reuse(c.Alloc, allZero, "Alloc clears a reused slot")
}

func TestAllocZeroAndReslicedFree(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	b, err := a.Alloc(0)
	require.NoError(t, err)
	assert.NotNil(t, b)
	assert.Len(t, b, 0)
	require.NoError(t, a.Free(b), "a zero-capacity slice is ignored")

	for _, n := range []int{64, 4 * kib, threshold + 1} {
		b, err := a.Alloc(n)
		require.NoError(t, err)
		require.NoError(t, a.Free(b[:1]), "a shortened slice frees the allocation")
		b, err = a.Alloc(n)
		require.NoError(t, err)
		require.NoError(t, a.Free(b[:0]), "so does a zero-length one with capacity")
	}
	s := a.Stats()
	assert.Equal(t, int64(0), s.Live)
	assert.Equal(t, uint64(6), s.Allocs, "Alloc(0) allocates nothing and is not counted")
}

// TestLargeIsOneMapping checks the contract of large allocations without
// retention: exactly one mmap each, and one munmap on Free.
func TestLargeIsOneMapping(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
	for _, n := range []int{threshold + 1, mib, 5*mib + 3} {
		before := a.Stats()
		b, err := a.Alloc(n)
		require.NoError(t, err)
		mid := a.Stats()
		assert.Equal(t, before.Mmaps+1, mid.Mmaps, "one mmap")
		assert.Equal(t, before.Munmaps, mid.Munmaps)
		assert.Equal(t, before.Mapped+int64(cap(b)), mid.Mapped)
		require.NoError(t, a.Free(b))
		after := a.Stats()
		assert.Equal(t, mid.Mmaps, after.Mmaps)
		assert.Equal(t, mid.Munmaps+1, after.Munmaps, "one munmap")
		assert.Equal(t, before.Mapped, after.Mapped)
	}
}

func TestEmptyChunksAreUnmapped(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
	var bs [][]byte
	for range 3000 { // 3000 × 4 KiB: three 4 MiB chunks
		b, err := a.Alloc(4 * kib)
		require.NoError(t, err)
		bs = append(bs, b)
	}
	s := a.Stats()
	require.Equal(t, 3, s.Chunks)
	for _, b := range bs {
		require.NoError(t, a.Free(b))
	}
	s = a.Stats()
	// Only the one empty slab the class keeps, and the free objects the
	// per-P caches hold, can keep a chunk now.
	assert.LessOrEqual(t, s.Chunks, 1+runtime.GOMAXPROCS(0))
	assert.Less(t, s.Chunks, 3)
	require.NoError(t, a.Trim())
	s = a.Stats()
	assert.Equal(t, 0, s.Chunks)
	assert.Equal(t, int64(0), s.Mapped)
	assert.GreaterOrEqual(t, s.Munmaps, s.Mmaps, "every chunk mapped was unmapped")
	require.NoError(t, a.Validate())
}

func TestOptions(t *testing.T) {
	bad := []struct {
		name string
		o    mmalloc.Options
	}{
		{"negative threshold", mmalloc.Options{LargeThreshold: -1}},
		{"threshold above the classes", mmalloc.Options{LargeThreshold: threshold + 1}},
		{"chunk not a power of two", mmalloc.Options{ChunkSize: 3 * mib}},
		{"chunk below 1 MiB", mmalloc.Options{ChunkSize: 512 * kib}},
		{"chunk above 1 GiB", mmalloc.Options{ChunkSize: 2 << 30}},
		{"negative chunk", mmalloc.Options{ChunkSize: -4 * mib}},
		{"negative limit", mmalloc.Options{Limit: -1}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			a, err := mmalloc.New(tc.o)
			assert.ErrorIs(t, err, mmalloc.ErrInvalidOption)
			assert.Nil(t, a)
		})
	}
	a := newAlloc(t, mmalloc.Options{LargeThreshold: 4 * kib, ChunkSize: mib})
	b, err := a.Alloc(4*kib + 1)
	require.NoError(t, err)
	assert.Equal(t, 8*kib, cap(b), "above a lowered threshold allocations are page-rounded mappings")
	assert.Equal(t, int64(1), a.Stats().Large.Live)
	require.NoError(t, a.Free(b))
}

func TestHugePagesOption(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{HugePages: true})
	for _, n := range []int{100, 3 * mib} {
		b, err := a.Alloc(n)
		require.NoError(t, err)
		require.True(t, allZero(b))
		fill(b, 3)
		require.Equal(t, -1, check(b, 3))
		require.NoError(t, a.Free(b))
	}
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped)
}

func TestCloseReleasesEverything(t *testing.T) {
	a, err := mmalloc.New(mmalloc.Options{})
	require.NoError(t, err)
	for _, n := range []int{10, 5000, threshold, 2 * mib} {
		_, err := a.Alloc(n)
		require.NoError(t, err)
	}
	require.NoError(t, a.Close())
	s := a.Stats()
	assert.Equal(t, int64(0), s.Mapped)
	assert.GreaterOrEqual(t, s.Munmaps, s.Mmaps, "every mapping is unmapped")
	assert.ErrorIs(t, a.Close(), mmalloc.ErrClosed)
	_, err = a.Alloc(10)
	assert.ErrorIs(t, err, mmalloc.ErrClosed)
	assert.ErrorIs(t, a.Trim(), mmalloc.ErrClosed)
}

func TestDefaultAllocator(t *testing.T) {
	b, err := mmalloc.Alloc(100)
	require.NoError(t, err)
	assert.Len(t, b, 100)
	require.NoError(t, mmalloc.Free(b))
	assert.ErrorIs(t, mmalloc.Free(b), mmalloc.ErrDoubleFree)
	assert.Same(t, mmalloc.Default(), mmalloc.Default())
}

// TestSteadyStateDoesNotAllocate proves the small Alloc+Free path makes no
// Go heap allocation once warm.
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	skipWithInvariants(t, "every call runs validate, which allocates")
	a := newAlloc(t, mmalloc.Options{})
	for _, n := range []int{16, 1000, 32 * kib} {
		allocs := testing.AllocsPerRun(1000, func() {
			b, err := a.Alloc(n)
			if err != nil {
				panic(err)
			}
			if err := a.Free(b); err != nil {
				panic(err)
			}
		})
		assert.Zero(t, allocs, "size %d", n)
	}
}

func TestErrorsWrapSentinels(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	_, err := a.Alloc(-5)
	require.Error(t, err)
	assert.True(t, errors.Is(err, mmalloc.ErrInvalidSize))
	assert.Contains(t, err.Error(), "-5")
}

// TestAllocGrowsAKeptMapping: a large request that no kept mapping fits
// grows the largest smaller one (mremap) instead of mapping afresh, and
// still returns zeroed memory: the old bytes are cleared, the pages added
// read as zero. Faulting fresh pages costs far more than clearing
// resident ones: a buffer rebuilt a little bigger each round reuses the
// last round's pages.
func TestAllocGrowsAKeptMapping(t *testing.T) {
	for _, uninit := range []bool{false, true} {
		a := newAlloc(t, mmalloc.Options{})
		old, err := a.Alloc(3 * mib)
		require.NoError(t, err)
		for i := range old {
			old[i] = 0xFF
		}
		require.NoError(t, a.Free(old))
		mmaps := a.Stats().Mmaps
		alloc := a.Alloc
		if uninit {
			alloc = a.AllocUninit
		}
		b, err := alloc(8*mib + 100)
		require.NoError(t, err)
		assert.Equal(t, mmaps, a.Stats().Mmaps, "no fresh mapping")
		assert.Equal(t, a.UsableSize(8*mib+100), cap(b))
		assert.Zero(t, a.Stats().Retained, "the kept mapping was taken")
		if !uninit {
			assert.True(t, allZero(b), "zeroed, the old bytes too")
		}
		require.NoError(t, a.Validate())
		require.NoError(t, a.Free(b))
	}
}
