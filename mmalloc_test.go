package mmalloc_test

// The Allocator of mmalloc.go: Alloc, Free, Trim, Close, Stats, Options
// and the bad calls to each.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arena"
	"github.com/mmalloc/mmalloc/internal/slabs"
	"github.com/mmalloc/mmalloc/stats"
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
		{"chunk not a power of two", mmalloc.Options{ChunkBytes: 3 * mib}},
		{"chunk below 1 MiB", mmalloc.Options{ChunkBytes: 512 * kib}},
		{"chunk above 1 GiB", mmalloc.Options{ChunkBytes: 2 << 30}},
		{"negative chunk", mmalloc.Options{ChunkBytes: -4 * mib}},
		{"negative limit", mmalloc.Options{Limit: -1}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			a, err := mmalloc.New(tc.o)
			assert.ErrorIs(t, err, mmalloc.ErrInvalidOption)
			assert.Nil(t, a)
		})
	}
	a := newAlloc(t, mmalloc.Options{LargeThreshold: 4 * kib, ChunkBytes: mib})
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

func TestCloseUnmapsEverything(t *testing.T) {
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

var globalBuf [4096]byte

const literal = "a string literal lives in read-only data"

// TestBadCalls runs each caller mistake (63 of them, across Alloc, Free,
// the Cache, New's Options, Realloc, the typed helpers, Buffer and region
// arenas) against an Allocator (and a Region) that holds live
// buffers of every kind, and checks that the call returns its sentinel and
// changes nothing: not the stats, not a byte of any live buffer. Guard
// mode's own table is TestGuardBadCalls.
func TestBadCalls(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	other := newAlloc(t, mmalloc.Options{})

	// Freed buffers whose slots are not handed out again: the small one
	// stays in a slab with live neighbours, the large one is unmapped.
	f := newBuffers(t, a, other,
		[]int{8, 16, 100, 4096, 32 * kib, threshold, threshold + 1, 3 * mib},
		[]int{100, 2 * mib}, []int{100, threshold + 1})
	freedSmall, freedLarge := f.freed[0], f.freed[1]
	otherBuf, otherLarge := f.foreign[0], f.foreign[1]
	heapBuf := make([]byte, 100)

	small, page, class4k, big, huge := f.live[2], f.live[3], f.live[4], f.live[6], f.live[7]

	type call struct {
		name string
		do   func() error
		want error
	}
	alloc := func(n int) func() error {
		return func() error { _, err := a.Alloc(n); return err }
	}
	uninit := func(n int) func() error {
		return func() error { _, err := a.AllocUninit(n); return err }
	}
	free := func(b []byte) func() error { return func() error { return a.Free(b) } }
	realloc := func(b []byte, n int) func() error {
		return func() error { _, err := a.Realloc(b, n); return err }
	}
	// A Region with a live allocation, and one closed.
	region, err := arena.NewRegion(arena.RegionOptions{Limit: 2 * mib})
	require.NoError(t, err)
	t.Cleanup(func() { _ = region.Close() })
	regionBuf, err := region.Alloc(1000)
	require.NoError(t, err)
	fill(regionBuf, 77)
	closedRegion, err := arena.NewRegion(arena.RegionOptions{})
	require.NoError(t, err)
	require.NoError(t, closedRegion.Close())
	c := a.NewCache()
	cfree := func(b []byte) func() error { return func() error { return c.Free(b) } }
	newWith := func(o mmalloc.Options) func() error {
		return func() error {
			b, err := mmalloc.New(o)
			if b != nil {
				_ = b.Close()
			}
			return err
		}
	}
	calls := []call{
		{"Alloc negative", alloc(-1), mmalloc.ErrInvalidSize},
		{"Alloc most negative", alloc(-1 << 63), mmalloc.ErrInvalidSize},
		{"Alloc max int", alloc(int(^uint(0) >> 1)), mmalloc.ErrInvalidSize},
		{"Alloc beyond the address space", alloc(mmalloc.MaxAllocBytes + 1), mmalloc.ErrInvalidSize},
		{"AllocUninit negative", uninit(-100), mmalloc.ErrInvalidSize},
		{"AllocUninit overflow when page-rounded", uninit(int(^uint(0)>>1) - 10), mmalloc.ErrInvalidSize},
		{"Free Go heap slice", free(heapBuf), mmalloc.ErrForeignPointer},
		{"Free global array", free(globalBuf[:]), mmalloc.ErrForeignPointer},
		{"Free stack-ish escaped array", free(new([64]byte)[:]), mmalloc.ErrForeignPointer},
		{"Free another allocator's small object", free(otherBuf), mmalloc.ErrForeignPointer},
		{"Free another allocator's large mapping", free(otherLarge), mmalloc.ErrForeignPointer},
		{"Free interior of small object", free(small[1:]), mmalloc.ErrInvalidPointer},
		{"Free interior at 16 B of small object", free(small[16:]), mmalloc.ErrInvalidPointer},
		{"Free interior of 4 KiB object", free(page[4000:]), mmalloc.ErrInvalidPointer},
		{"Free interior of 32 KiB object", free(class4k[kib:]), mmalloc.ErrInvalidPointer},
		{"Free interior of large mapping, page aligned", free(big[pageBytes:]), mmalloc.ErrInvalidPointer},
		{"Free interior of large mapping, odd offset", free(huge[12345:]), mmalloc.ErrInvalidPointer},
		{"Free small object twice", free(freedSmall), mmalloc.ErrDoubleFree},
		{"Free large mapping twice", free(freedLarge), mmalloc.ErrDoubleFree},
		{"Free the last byte of a small slot", free(small[:cap(small)][cap(small)-1:]), mmalloc.ErrInvalidPointer},
		{"Free a forged pointer into free pages of a chunk", free(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(small)), 2*mib)), 16)), mmalloc.ErrDoubleFree},
		{"Free an empty reslice inside a small object", free(small[5:5]), mmalloc.ErrInvalidPointer},
		{"Free inside a freed large mapping kept for reuse", free(freedLarge[pageBytes:]), mmalloc.ErrDoubleFree},
		{"Free a string literal's bytes", free(unsafe.Slice(unsafe.StringData(literal), len(literal))), mmalloc.ErrForeignPointer},
		{"Cache.Alloc negative", func() error { _, err := c.Alloc(-5); return err }, mmalloc.ErrInvalidSize},
		{"Cache.AllocUninit max int", func() error { _, err := c.AllocUninit(int(^uint(0) >> 1)); return err }, mmalloc.ErrInvalidSize},
		{"Cache.Free Go heap slice", cfree(heapBuf), mmalloc.ErrForeignPointer},
		{"Cache.Free another allocator's small object", cfree(otherBuf), mmalloc.ErrForeignPointer},
		{"Cache.Free interior of small object", cfree(small[8:]), mmalloc.ErrInvalidPointer},
		{"Cache.Free interior of large mapping", cfree(big[100:]), mmalloc.ErrInvalidPointer},
		{"Cache.Free small object twice", cfree(freedSmall), mmalloc.ErrDoubleFree},
		{"Cache.Free large mapping twice", cfree(freedLarge), mmalloc.ErrDoubleFree},
		{"New with a negative LargeThreshold", newWith(mmalloc.Options{LargeThreshold: -1}), mmalloc.ErrInvalidOption},
		{"New with LargeThreshold above the largest class", newWith(mmalloc.Options{LargeThreshold: threshold + 1}), mmalloc.ErrInvalidOption},
		{"New with a ChunkBytes not a power of two", newWith(mmalloc.Options{ChunkBytes: 3 * mib}), mmalloc.ErrInvalidOption},
		{"New with a ChunkBytes below 1 MiB", newWith(mmalloc.Options{ChunkBytes: 512 * kib}), mmalloc.ErrInvalidOption},
		{"New with a ChunkBytes above 1 GiB", newWith(mmalloc.Options{ChunkBytes: 2 << 30}), mmalloc.ErrInvalidOption},
		{"New with a negative Limit", newWith(mmalloc.Options{Limit: -1}), mmalloc.ErrInvalidOption},
		{"Realloc to a negative size", realloc(small, -1), mmalloc.ErrInvalidSize},
		{"Realloc beyond the address space", realloc(big, mmalloc.MaxAllocBytes+1), mmalloc.ErrInvalidSize},
		{"Realloc a Go heap slice", realloc(heapBuf, 10), mmalloc.ErrForeignPointer},
		{"Realloc another allocator's object", realloc(otherBuf, 1000), mmalloc.ErrForeignPointer},
		{"Realloc the interior of a small object", realloc(small[4:], 10), mmalloc.ErrInvalidPointer},
		{"Realloc the interior of a large mapping", realloc(big[pageBytes:], 5*mib), mmalloc.ErrInvalidPointer},
		{"Realloc a freed small object", realloc(freedSmall, 50), mmalloc.ErrDoubleFree},
		{"Realloc a freed large mapping", realloc(freedLarge, 3*mib), mmalloc.ErrDoubleFree},
		{"MakeSlice of a pointer type", func() error { _, err := mmalloc.MakeSlice[*int](a, 1, 1); return err }, mmalloc.ErrPointerType},
		{"MakeSlice with length above capacity", func() error { _, err := mmalloc.MakeSlice[int64](a, 5, 4); return err }, mmalloc.ErrInvalidSize},
		{"MakeSlice whose bytes overflow", func() error { _, err := mmalloc.MakeSlice[int64](a, 0, int(^uint(0)>>2)); return err }, mmalloc.ErrInvalidSize},
		{"NewValue of a struct hiding a string", func() error { _, err := mmalloc.NewValue[struct{ N [2]struct{ S string } }](a); return err }, mmalloc.ErrPointerType},
		{"FreeSlice of a Go heap slice", func() error { return mmalloc.FreeSlice(a, make([]uint64, 4)) }, mmalloc.ErrForeignPointer},
		{"FreeValue of a Go heap value", func() error { return mmalloc.FreeValue(a, new([4]uint64)) }, mmalloc.ErrForeignPointer},
		{"FreeSlice of a pointer type", func() error { return mmalloc.FreeSlice(a, []*int{nil}) }, mmalloc.ErrPointerType},
		{"Buffer.Grow negative", func() error { return mmalloc.NewBuffer(a).Grow(-1) }, mmalloc.ErrInvalidSize},
		{"Buffer.Grow beyond the address space", func() error { return mmalloc.NewBuffer(a).Grow(mmalloc.MaxAllocBytes + 1) }, mmalloc.ErrInvalidSize},
		{"region Alloc negative", func() error { _, err := region.Alloc(-1); return err }, mmalloc.ErrInvalidSize},
		{"region Alloc past its limit", func() error { _, err := region.Alloc(4 * mib); return err }, mmalloc.ErrOutOfMemory},
		{"region MakeSlice of strings", func() error { _, err := arena.MakeSlice[string](region, 1, 1); return err }, mmalloc.ErrPointerType},
		{"region NewValue of a map holder", func() error { _, err := arena.NewValue[struct{ M map[int]int }](region); return err }, mmalloc.ErrPointerType},
		{"region Alloc after Close", func() error { _, err := closedRegion.Alloc(8); return err }, mmalloc.ErrClosed},
		{"region Reset after Close", closedRegion.Reset, mmalloc.ErrClosed},
		{"region Close twice", closedRegion.Close, mmalloc.ErrClosed},
		{"region New with odd ChunkBytes", func() error { _, err := arena.NewRegion(arena.RegionOptions{ChunkBytes: 1000}); return err }, mmalloc.ErrInvalidOption},
	}
	require.GreaterOrEqual(t, len(calls), 30)

	before, regionBefore := a.Stats(), region.Stats()
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = c.do() })
			assert.ErrorIs(t, err, c.want)
			assert.Equal(t, before, a.Stats(), "stats moved")
			assert.Equal(t, regionBefore, region.Stats(), "region stats moved")
			require.Equal(t, -1, check(regionBuf, 77), "the region's live allocation changed")
			f.requireIntact(t)
			require.NoError(t, a.Validate())
		})
	}

	// After Close every call is ErrClosed and still changes nothing.
	// (TestEveryCallAtTheEdges makes every call of the API so.)
	buf := mmalloc.NewBuffer(a)
	_, err = buf.WriteString("room left")
	require.NoError(t, err)
	require.NoError(t, a.Close())
	closed := a.Stats()
	for _, c := range []call{
		{"Alloc after Close", alloc(10), mmalloc.ErrClosed},
		{"Alloc 0 after Close", alloc(0), mmalloc.ErrClosed},
		{"Alloc -1 after Close", alloc(-1), mmalloc.ErrClosed},
		{"AllocUninit after Close", uninit(10), mmalloc.ErrClosed},
		{"Free after Close", free(small), mmalloc.ErrClosed},
		{"Realloc after Close", realloc(small, 10), mmalloc.ErrClosed},
		{"Trim after Close", a.Trim, mmalloc.ErrClosed},
		{"CheckGuards after Close", a.CheckGuards, mmalloc.ErrClosed},
		{"Cache.Alloc after Close", func() error { _, err := c.Alloc(10); return err }, mmalloc.ErrClosed},
		{"Cache.Free after Close", cfree(small), mmalloc.ErrClosed},
		{"Buffer.Write after Close", func() error { _, err := buf.WriteString("x"); return err }, mmalloc.ErrClosed},
		{"NewValue after Close", func() error { _, err := mmalloc.NewValue[int](a); return err }, mmalloc.ErrClosed},
		{"Close after Close", a.Close, mmalloc.ErrClosed},
	} {
		assert.ErrorIs(t, c.do(), c.want, c.name)
		assert.Equal(t, closed, a.Stats(), c.name)
	}
}

// TestFreeOfAppendedSlice: append past cap moves an off-heap slice to the
// Go heap. Its Free returns ErrForeignPointer with a message that says
// what probably happened, and the allocation it came from is still live:
// freeing that one works — in every mode and through every Free.
func TestFreeOfAppendedSlice(t *testing.T) {
	for _, o := range []mmalloc.Options{{}, {Guard: true}} {
		a := newAlloc(t, o)
		c := a.NewCache()
		for _, n := range []int{16, 1000, 2 * mib} {
			b, err := a.Alloc(n)
			require.NoError(t, err)
			grown := append(b[:cap(b)], 1)
			require.NotEqual(t, addr(b), addr(grown), "append moved it")
			before := a.Stats()
			for name, free := range map[string]func([]byte) error{"Allocator": a.Free, "Cache": c.Free} {
				err := free(grown)
				require.ErrorIs(t, err, mmalloc.ErrForeignPointer, name)
				assert.Contains(t, err.Error(), "grown by append past its cap", name)
				assert.Contains(t, err.Error(), "free the slice that was allocated", name)
			}
			s, err := mmalloc.MakeSlice[uint64](a, n/8, n/8)
			require.NoError(t, err)
			err = mmalloc.FreeSlice(a, append(s, 1))
			require.ErrorIs(t, err, mmalloc.ErrForeignPointer)
			assert.Contains(t, err.Error(), "append")
			assert.Equal(t, before.Live+1, a.Stats().Live, "b (and now s) are still live")
			require.NoError(t, a.Free(b))
			require.NoError(t, mmalloc.FreeSlice(a, s))
		}
		c.Flush()
		require.NoError(t, a.Validate())
		assert.Zero(t, a.Stats().Live)
	}
}

// TestMessagesPointTheRightWay: each error says what most likely
// happened, and not what did not. ErrForeignPointer blames append past cap
// only among the possibilities for a slice, never for a Ref or for memory
// known to be another Allocator's; ErrInvalidSize gives the maximum;
// ErrDoubleFree names a Realloc that moved the memory; the zero
// Allocator's error names New. Every mode, and nothing changes.
func TestMessagesPointTheRightWay(t *testing.T) {
	for _, mode := range []struct {
		name string
		o    mmalloc.Options
	}{{"default", mmalloc.Options{}}, {"Guard", mmalloc.Options{Guard: true}}, {"Shared", mmalloc.Options{Shared: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			a := newAlloc(t, mode.o)
			other := newAlloc(t, mode.o)
			alloc := func(a *mmalloc.Allocator, n int) []byte {
				b, err := a.Alloc(n)
				require.NoError(t, err)
				return b
			}
			small, large := alloc(a, 100), alloc(a, 3*mib)
			otherSmall, otherLarge := alloc(other, 100), alloc(other, 3*mib)
			movedSmall, movedLarge := alloc(a, 100), alloc(a, 3*mib)
			nb, err := a.Realloc(movedSmall, 5000) // another class
			require.NoError(t, err)
			require.NotEqual(t, addr(movedSmall), addr(nb))
			defer a.Free(nb)
			nb, err = a.Realloc(movedLarge, 100) // large to small
			require.NoError(t, err)
			require.NotEqual(t, addr(movedLarge), addr(nb))
			defer a.Free(nb)

			for _, c := range []struct {
				name string
				call func() error
				want error
				says []string
				not  []string
			}{
				{"Free of another Allocator's small object", func() error { return a.Free(otherSmall) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, []string{"append"}},
				{"Realloc of another Allocator's small object", func() error { return err1(a.Realloc(otherSmall, 10)) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, []string{"append"}},
				{"FreeRef of another Allocator's small object", func() error { return a.FreeRef(mmalloc.RefOf(otherSmall)) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, []string{"append"}},
				{"Free of another Allocator's large object", func() error { return a.Free(otherLarge) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, nil},
				{"FreeRef of another Allocator's large object", func() error { return a.FreeRef(mmalloc.RefOf(otherLarge)) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, []string{"append"}},
				{"FreeRef of a forged Ref", func() error { return a.FreeRef(0x12345) },
					mmalloc.ErrForeignPointer, []string{"Ref 0x12345", "another Allocator", "no AllocRef or RefOf"}, []string{"append"}},
				{"Bytes of a forged Ref", func() error { return err1(a.Bytes(0x12345)) },
					mmalloc.ErrForeignPointer, []string{"Ref 0x12345", "another Allocator"}, []string{"append"}},
				{"Realloc of a slice from make", func() error { return err1(a.Realloc(make([]byte, 10), 20)) },
					mmalloc.ErrForeignPointer, []string{"make", "another Allocator"}, nil},
				{"Free of a slice grown by append", func() error { return a.Free(append(small[:cap(small)], 1)) },
					mmalloc.ErrForeignPointer, []string{"grown by append past its cap", "free the slice that was allocated"}, nil},
				{"Alloc(1<<62)", func() error { return err1(a.Alloc(1 << 62)) },
					mmalloc.ErrInvalidSize, []string{"4611686018427387904", "MaxAllocBytes", fmt.Sprint(mmalloc.MaxAllocBytes)}, nil},
				{"Realloc to 1<<62", func() error { return err1(a.Realloc(large, 1<<62)) },
					mmalloc.ErrInvalidSize, []string{"MaxAllocBytes", fmt.Sprint(mmalloc.MaxAllocBytes)}, nil},
				{"MakeSlice of 1<<62 words", func() error { return err1(mmalloc.MakeSlice[uint64](a, 1<<62, 1<<62)) },
					mmalloc.ErrInvalidSize, []string{"MaxAllocBytes", fmt.Sprint(mmalloc.MaxAllocBytes)}, nil},
				{"Alloc(-5)", func() error { return err1(a.Alloc(-5)) },
					mmalloc.ErrInvalidSize, []string{"-5", "negative"}, []string{"MaxAllocBytes"}},
				{"Free of the old slice of a small Realloc that moved", func() error { return a.Free(movedSmall) },
					mmalloc.ErrDoubleFree, []string{"Realloc that moved it"}, nil},
				{"Free of the old slice of a large Realloc that moved", func() error { return a.Free(movedLarge) },
					mmalloc.ErrDoubleFree, []string{"Realloc that moved it"}, nil},
				{"FreeRef of the old Ref of a Realloc that moved", func() error { return a.FreeRef(mmalloc.RefOf(movedSmall)) },
					mmalloc.ErrDoubleFree, []string{"Realloc that moved it"}, nil},
			} {
				before, beforeOther := a.Stats(), other.Stats()
				err := c.call()
				require.ErrorIs(t, err, c.want, c.name)
				for _, s := range c.says {
					assert.Contains(t, err.Error(), s, c.name)
				}
				for _, s := range c.not {
					assert.NotContains(t, err.Error(), s, c.name)
				}
				assert.Equal(t, before, a.Stats(), "%s: nothing changed", c.name)
				assert.Equal(t, beforeOther, other.Stats(), "%s: nothing changed", c.name)
			}
			require.NoError(t, a.Validate())
			require.NoError(t, other.Validate())
		})
	}

	r, err := arena.NewRegion(arena.RegionOptions{})
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Alloc(1 << 62)
	require.ErrorIs(t, err, mmalloc.ErrInvalidSize)
	assert.Contains(t, err.Error(), fmt.Sprint(mmalloc.MaxAllocBytes))

	for name, a := range map[string]*mmalloc.Allocator{"zero": {}, "nil": nil} {
		for call, err := range map[string]error{
			"Alloc":   err1(a.Alloc(1)),
			"Free":    a.Free(make([]byte, 1)),
			"Realloc": err1(a.Realloc(nil, 1)),
			"FreeRef": a.FreeRef(1),
			"Trim":    a.Trim(),
		} {
			require.ErrorIs(t, err, mmalloc.ErrUninitialized, "%s Allocator: %s", name, call)
			assert.Contains(t, err.Error(), "New", "%s Allocator: %s", name, call)
		}
	}
}

func err1(_ any, err error) error { return err }

// TestStatsLiveNeverNegative: one goroutine allocates through the
// Allocator and frees through its Cache, another does the reverse (and
// every 16 objects they swap roles, so that the snapshots meet both
// whichever one the scheduler runs beside them), each holding at most one
// object at a time, while snapshots are taken (Stats,
// and the live:objects gauge of Metrics). In every snapshot, every row's
// Live, the large row's and the total are at least 0 and at most the
// bound Stats documents: what was live when the call returned (2 objects
// at most) plus the frees made during the call. The test counts those
// frees itself: every Free that began before the call returned, less
// every Free that had ended before it began.
func TestStatsLiveNeverNegative(t *testing.T) {
	snapshots := 500
	if testing.Short() || raceEnabled || mmalloc.Invariants {
		snapshots = 200
	}
	// A P for each goroutine, on any number of cores: where there are
	// fewer, the kernel runs them in turns, and a snapshot the kernel
	// preempts overlaps many calls.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	a := newAlloc(t, mmalloc.Options{})
	var stop atomic.Bool
	var freesBegun, freesEnded atomic.Int64
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := a.NewCache()
			defer func() { assert.NoError(t, c.Close()) }()
			for i := 0; !stop.Load(); i++ {
				alloc, free := a.Alloc, c.Free
				if (i/16+g)%2 == 1 {
					alloc, free = c.Alloc, a.Free
				}
				b, err := alloc([]int{64, 1000}[i%2])
				if !assert.NoError(t, err) {
					return
				}
				freesBegun.Add(1)
				err = free(b)
				freesEnded.Add(1)
				if !assert.NoError(t, err) {
					return
				}
			}
		}()
	}
	stopAll := func() { stop.Store(true); wg.Wait() }
	defer stopAll()    // also when a check below fails: no goroutine outlives the test
	const mostLive = 2 // each goroutine holds at most one object
	overlapped := 0
	for i := range snapshots {
		// Let the goroutines free something between two snapshots,
		// whatever the scheduler does.
		for last := freesEnded.Load(); freesEnded.Load() == last; {
			runtime.Gosched()
		}
		ended := freesEnded.Load()
		var rows []stats.Class
		var total int64
		if i%4 == 3 {
			byName, _ := metricsOf(a)
			total = int64(byName["/mmalloc/live:objects"].Value)
		} else {
			s := a.Stats()
			rows = append(s.Classes, s.Large)
			total = s.Live
		}
		bound := mostLive + freesBegun.Load() - ended
		if bound > mostLive {
			overlapped++
		}
		require.GreaterOrEqual(t, total, int64(0), "snapshot %d: Live", i)
		require.LessOrEqual(t, total, bound, "snapshot %d: Live", i)
		for r, row := range rows {
			require.GreaterOrEqual(t, row.Live, int64(0), "snapshot %d, row %d (size %d): Live", i, r, row.Size)
			require.LessOrEqual(t, row.Live, bound, "snapshot %d, row %d (size %d): Live", i, r, row.Size)
		}
	}
	stopAll()
	t.Logf("%d snapshots, %d of them overlapping a Free; %d frees", snapshots, overlapped, freesEnded.Load())
	s := a.Stats()
	assert.Zero(t, s.Live, "exact at a quiet point")
	assert.Equal(t, s.Allocs, s.Frees)
	assert.Equal(t, uint64(freesEnded.Load()), s.Frees)
	require.NoError(t, a.Validate())
}

// TestStatsAfterClose: Close unmaps everything but frees nothing, so
// Stats after Close counts what was live at Close as live: every row's
// figures are those of just before Close, and Live == Allocs − Frees
// holds in every row, the large one included, and in the totals.
func TestStatsAfterClose(t *testing.T) {
	for _, o := range []mmalloc.Options{{}, {Guard: true}, {Shared: true}} {
		t.Run(fmt.Sprintf("guard %v, shared %v", o.Guard, o.Shared), func(t *testing.T) {
			a, err := mmalloc.New(o)
			require.NoError(t, err)
			c := a.NewCache()
			for _, n := range []int{100, 3000, mib} {
				_ = mustAlloc(t, a, n) // live at Close
				require.NoError(t, a.Free(mustAlloc(t, a, n)))
			}
			b, err := c.Alloc(200) // live in a Cache left open
			require.NoError(t, err)
			require.NotEmpty(t, b)
			before := a.Stats()
			require.Equal(t, int64(4), before.Live)
			require.Equal(t, int64(1), before.Large.Live)
			require.NoError(t, a.Close())
			after := a.Stats()

			assert.Zero(t, after.Mapped, "everything is unmapped")
			assert.Equal(t, before.Allocs, after.Allocs)
			assert.Equal(t, before.Frees, after.Frees)
			assert.Equal(t, before.Live, after.Live, "what was live at Close stays counted live")
			assert.Equal(t, before.InUse, after.InUse)
			assert.Equal(t, before.Large, after.Large)
			require.Len(t, after.Classes, len(before.Classes))
			for i, row := range append(after.Classes, after.Large) {
				assert.Equal(t, int64(row.Allocs-row.Frees), row.Live, "row %d (size %d): Live == Allocs - Frees", i, row.Size)
				if i < len(before.Classes) {
					assert.Equal(t, before.Classes[i].Live, row.Live, "row %d", i)
					assert.Equal(t, before.Classes[i].InUse, row.InUse, "row %d", i)
				}
			}
			assert.Equal(t, int64(after.Allocs-after.Frees), after.Live, "the totals")
			require.ErrorIs(t, c.Close(), mmalloc.ErrClosed)
			assert.Equal(t, after, a.Stats(), "a Cache's Close after the Allocator's changes nothing")
		})
	}
}

// TestOneUsableSize: after every kind of Realloc (in place within a class
// or within a large allocation's pages, by mremap, by moving, growing and
// shrinking, small and large), the allocation has one usable size,
// UsableSize of its new size: its cap, the length Bytes gives its Ref,
// what Stats counts in use, and what the heap profile (sampling every
// allocation) holds live. So in every mode.
func TestOneUsableSize(t *testing.T) {
	steps := []struct {
		name     string
		from, to int
	}{
		{"small shrinks to a smaller class", 1024, 600},
		{"small shrinks within its class", 1024, 1000},
		{"small grows within its class", 600, 640},
		{"small grows to another class", 600, 2000},
		{"small to large", 1000, 200 * kib},
		{"large shrinks within its pages", mib, mib - 100},
		{"large grows within its pages", mib - 100, mib},
		{"large grows", mib, 3 * mib},
		{"large shrinks", 3 * mib, mib + 1},
		{"large to small", 200 * kib, 1000},
	}
	for _, o := range []mmalloc.Options{{}, {Guard: true}, {Shared: true}} {
		o.ProfileRate = 1
		a := newAlloc(t, o)
		for _, st := range steps {
			name := fmt.Sprintf("guard %v, shared %v: %s, %d to %d", o.Guard, o.Shared, st.name, st.from, st.to)
			b := mustAlloc(t, a, st.from)
			fill(b, 1)
			nb, err := a.Realloc(b, st.to)
			require.NoError(t, err, name)
			want := a.UsableSize(st.to)
			assert.Equal(t, want, cap(nb), "%s: cap", name)
			got, err := a.Bytes(mmalloc.RefOf(nb))
			require.NoError(t, err, name)
			assert.Equal(t, want, len(got), "%s: Bytes", name)
			s := a.Stats()
			assert.Equal(t, int64(1), s.Live, name)
			assert.Equal(t, int64(want), s.InUse, "%s: Stats.InUse", name)
			assert.Equal(t, int64(want), mmalloc.ProfileLiveBytes(a), "%s: the profile's live bytes", name)
			require.NoError(t, a.Validate(), name)
			require.NoError(t, a.Free(nb), name)
		}
	}
}

// TestStatsTotalsAreRowSums: InUse, Live, Allocs and Frees of a Snapshot
// are the sums of its rows, the class rows and the large one, with small
// and large allocations live and freed, in guard mode too.
func TestStatsTotalsAreRowSums(t *testing.T) {
	for _, o := range []mmalloc.Options{{}, {Guard: true}} {
		t.Run(fmt.Sprintf("guard=%v", o.Guard), func(t *testing.T) {
			a := newAlloc(t, o)
			var live [][]byte
			for i, n := range []int{8, 100, 100, 5000, threshold + 1, 3 * mib} {
				b, err := a.Alloc(n)
				require.NoError(t, err)
				if i%2 == 0 {
					require.NoError(t, a.Free(b))
				} else {
					live = append(live, b)
				}
			}
			s := a.Stats()
			var sum stats.Class
			for _, c := range append(s.Classes, s.Large) {
				sum.InUse += c.InUse
				sum.Live += c.Live
				sum.Allocs += c.Allocs
				sum.Frees += c.Frees
			}
			require.Positive(t, s.Large.Live, "the large row has a live allocation")
			assert.Equal(t, sum.InUse, s.InUse, "InUse")
			assert.Equal(t, int64(len(live)), s.Live, "Live")
			assert.Equal(t, sum.Live, s.Live, "Live")
			assert.Equal(t, uint64(6), s.Allocs, "Allocs")
			assert.Equal(t, sum.Allocs, s.Allocs, "Allocs")
			assert.Equal(t, sum.Frees, s.Frees, "Frees")
			freeAll(t, a.Free, live)
		})
	}
}

// TestMemoryReturnsToOS allocates 256 MiB of mixed sizes, touches every
// byte, frees it all and trims: nothing stays mapped and the RSS is back.
func TestMemoryReturnsToOS(t *testing.T) {
	skipWithInvariants(t, "every call runs validate, whose garbage counts in the RSS")
	const total = 256 * mib
	// Metadata of the objects below lives on the Go heap; settle it first.
	objs := make([][]byte, 0, 400_000)
	runtime.GC()
	debug.FreeOSMemory()
	start := offHeapRSS(t)

	a := newAlloc(t, mmalloc.Options{})
	r := rand.New(rand.NewPCG(7, 7))
	sum := 0
	for sum < total {
		b, err := a.Alloc(randSize(r))
		require.NoError(t, err)
		bb := b[:cap(b)]
		for i := 0; i < len(bb); i += 512 {
			bb[i] = 1 // touch every page (and then some)
		}
		sum += cap(b)
		objs = append(objs, b)
	}
	peak := offHeapRSS(t)
	require.Greater(t, a.Resident(), int64(total*9/10), "the memory was really touched")
	for _, b := range objs {
		require.NoError(t, a.Free(b))
	}
	require.NoError(t, a.Trim())
	s := a.Stats()
	assert.Zero(t, s.Mapped, "Mapped after free and Trim")
	assert.GreaterOrEqual(t, s.Munmaps, s.Mmaps)
	runtime.GC()
	debug.FreeOSMemory()
	end := offHeapRSS(t)
	t.Logf("off-heap RSS start %d MiB, peak %d MiB, end %d MiB (%d objects)", start>>20, peak>>20, end>>20, len(objs))
	assert.Zero(t, a.Resident(), "nothing of the Allocator's is resident")
	assert.Less(t, end-start, int64(16*mib), "off-heap RSS back within 16 MiB of the start")
	runtime.KeepAlive(objs)
}

// TestLimit checks that Mapped never passes Limit, that the allocation that
// would pass it fails with ErrOutOfMemory, and that frees make room again.
func TestLimit(t *testing.T) {
	const limit = 16 * mib
	a := newAlloc(t, mmalloc.Options{Limit: limit, ChunkBytes: mib})
	var held [][]byte
	r := rand.New(rand.NewPCG(3, 3))
	fails := 0
	for range 5000 {
		b, err := a.Alloc(randSize(r))
		s := a.Stats()
		require.LessOrEqual(t, s.Held, int64(limit), "Limit bounds what is held: mapped and not released")
		require.LessOrEqual(t, s.PeakHeld, int64(limit))
		if err != nil {
			require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
			fails++
			// Free a few to make room and carry on.
			for i := 0; i < 3 && len(held) > 0; i++ {
				require.NoError(t, a.Free(held[len(held)-1]))
				held = held[:len(held)-1]
			}
			continue
		}
		held = append(held, b)
	}
	require.Greater(t, fails, 0, "the limit was reached")
	require.NoError(t, a.Validate())

	// Exactly at the limit: a large mapping of all that is left fits, one
	// page more does not.
	for _, b := range held {
		require.NoError(t, a.Free(b))
	}
	require.NoError(t, a.Trim())
	require.Zero(t, a.Stats().Mapped)
	_, err := a.Alloc(limit + 1)
	require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	b, err := a.Alloc(limit)
	require.NoError(t, err, "an allocation of exactly the limit fits")
	assert.Equal(t, int64(limit), a.Stats().Mapped)
	_, err = a.Alloc(1)
	require.ErrorIs(t, err, mmalloc.ErrOutOfMemory, "a chunk would pass the limit")
	require.NoError(t, a.Free(b))
	b, err = a.Alloc(1)
	require.NoError(t, err, "room again after the free")
	require.NoError(t, a.Free(b))
}

// TestLimitReclaimsEmptySlabs checks that empty slabs kept for reuse (up
// to the retention budget) do not cost a refusal under Limit: memory that
// one size class freed serves another class, and a large allocation. It
// goes through a Cache and flushes it, so that every freed object is back
// in its slab: objects resting in per-P caches (wherever the scheduler ran
// the test) are not kept slabs, and no reclaim touches them.
func TestLimitReclaimsEmptySlabs(t *testing.T) {
	const limit = 8 * mib
	for _, next := range []struct {
		name string
		size int
		n    int
	}{{"other class", 1 << 10, 6 * mib / (1 << 10)}, {"large", 6 * mib, 1}} {
		t.Run(next.name, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{Limit: limit, ChunkBytes: mib})
			c := a.NewCache()
			var held [][]byte
			for {
				b, err := c.Alloc(4 << 10)
				if err != nil {
					require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
					break
				}
				held = append(held, b)
			}
			require.Greater(t, len(held), (limit-mib)/(4<<10), "4 KiB objects filled the limit")
			for _, b := range held {
				require.NoError(t, c.Free(b))
			}
			c.Flush()
			require.Greater(t, a.Stats().Retained, int64(mib), "the freed slabs are kept")
			held = held[:0]
			for range next.n {
				b, err := c.Alloc(next.size)
				require.NoError(t, err, "kept slabs are given back before a refusal")
				held = append(held, b)
			}
			require.LessOrEqual(t, a.Stats().PeakHeld, int64(limit))
			c.Flush()
			require.NoError(t, a.Validate())
			for _, b := range held {
				require.NoError(t, c.Free(b))
			}
			c.Flush()
		})
	}
}

// TestRacingDoubleFree frees one object from two goroutines at the same
// moment, again and again, through the shared Allocator and through two
// Caches: exactly one Free may succeed and the other must be refused as
// a double free. Were both to succeed, the object would be handed out
// twice and the slab's counts would no longer agree with its bitmap
// (validate says so, and a refill from that slab could loop). In "cache
// owned" the object comes from the first Cache, whose Free takes its
// quickest step (the object goes back into its reserve) while the other
// Cache's takes the chunk's.
func TestRacingDoubleFree(t *testing.T) {
	rounds := 20000
	if testing.Short() || raceEnabled {
		rounds = 3000
	}
	for _, via := range []string{"allocator", "caches", "cache owned"} {
		t.Run(via, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{})
			free := [2]func([]byte) error{a.Free, a.Free}
			alloc := a.Alloc
			var caches []*mmalloc.Cache
			if via != "allocator" {
				c0, c1 := a.NewCache(), a.NewCache()
				caches = []*mmalloc.Cache{c0, c1}
				free = [2]func([]byte) error{c0.Free, c1.Free}
				// Both caches remember the chunk, so both take the fast path.
				for _, c := range []*mmalloc.Cache{c0, c1} {
					b, err := c.Alloc(16)
					require.NoError(t, err)
					require.NoError(t, c.Free(b))
				}
				if via == "cache owned" {
					alloc = c0.Alloc
				}
			}
			for range rounds {
				b, err := alloc(16)
				require.NoError(t, err)
				var ready atomic.Int32
				var errs [2]error
				var wg sync.WaitGroup
				for g := range 2 {
					wg.Go(func() {
						ready.Add(1)
						for ready.Load() < 2 {
						}
						errs[g] = free[g](b)
					})
				}
				wg.Wait()
				ok := 0
				for _, err := range errs {
					if err == nil {
						ok++
					} else {
						require.ErrorIs(t, err, mmalloc.ErrDoubleFree)
					}
				}
				require.Equal(t, 1, ok, "exactly one of two racing Frees succeeds: %v", errs)
				if errors.Is(errs[0], mmalloc.ErrDoubleFree) && errors.Is(errs[1], mmalloc.ErrDoubleFree) {
					t.Fatal("both refused")
				}
			}
			for _, c := range caches {
				c.Flush()
			}
			require.NoError(t, a.Validate(), "the counts agree with the bitmaps")
			b, err := a.Alloc(16)
			require.NoError(t, err, "and the class still allocates")
			require.NoError(t, a.Free(b))
		})
	}
}

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

// TestFreeGivesMemoryBack: a million buffers of 100-2000 B, freed in
// random order with no Trim. Right after the frees, what is held (Mapped -
// Released) is within the retention budget, the decay allowance beyond it
// (Options.DecayBytes) and what the per-P caches may own (one slab per
// class per P, slabs.OwnedBytesBound()); once the documented decay time
// has passed, with no call, it is back within the budget and the caches'
// bound, and so are the resident pages and the RSS. With decay off
// (DecayTime < 0) it is within that bound at once. Resident is mmalloc's
// own (Allocator.Resident), cross-checked against the RSS less the Go
// runtime's memory: the test's index of a million slices is 23 MiB of Go
// heap, which the process's RSS counts too.
func TestFreeGivesMemoryBack(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	for _, tc := range []struct {
		name  string
		opts  mmalloc.Options
		decay bool
	}{
		{"default budget", mmalloc.Options{}, true},
		{"budget 8 MiB", mmalloc.Options{RetainBytes: 8 << 20}, true},
		{"budget 8 MiB, no decay", mmalloc.Options{RetainBytes: 8 << 20, DecayTime: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAlloc(t, tc.opts)
			budget := a.Stats().RetainBytes
			bound := budget + int64(slabs.OwnedBytesBound())*int64(runtime.GOMAXPROCS(0))
			bufs := make([][]byte, n)
			r := rand.New(rand.NewPCG(7, uint64(budget)))
			clear(bufs) // its pages resident before the first reading
			runtime.GC()
			rss0 := offHeapRSS(t)
			for i := range bufs {
				b, err := a.AllocUninit(100 + r.IntN(1901))
				require.NoError(t, err)
				b[0] = 1 // touch it, as a user would
				bufs[i] = b
			}
			peak := a.Stats()
			r.Shuffle(len(bufs), func(i, j int) { bufs[i], bufs[j] = bufs[j], bufs[i] })
			for i, b := range bufs {
				require.NoError(t, a.Free(b))
				bufs[i] = nil
			}
			freed := time.Now()
			s := a.Stats()
			held := s.Held
			t.Logf("peak mapped %d MiB; after the frees: held %d MiB, resident %d MiB, retained %d MiB (%d MiB decaying); bound %d MiB",
				peak.Mapped>>20, held>>20, s.Resident>>20, s.Retained>>20, s.Decaying>>20, bound>>20)
			assert.Zero(t, s.Live)
			assert.LessOrEqual(t, s.Resident, held, "resident pages are held pages")
			if tc.decay {
				assert.LessOrEqual(t, held, bound+mmalloc.DefaultDecayBytes, "held after the frees, no Trim")
				assert.Positive(t, s.Decaying, "the memory beyond the budget decays")
				var took time.Duration
				s, took = waitDecay(t, a, mmalloc.DefaultDecayTime, freed)
				t.Logf("nothing decays %v after the last free (documented: giving back starts %v to %v after it)",
					took.Round(time.Millisecond), mmalloc.DefaultDecayTime, mmalloc.DefaultDecayTime*5/4)
				assert.GreaterOrEqual(t, took, mmalloc.DefaultDecayTime*9/10, "memory in use was not given back early")
				assert.Zero(t, s.Decaying, "nothing decays once the decay time has passed")
			}
			held = s.Held
			rss := offHeapRSS(t) - rss0
			t.Logf("held %d MiB, resident %d MiB, retained %d MiB; off-heap RSS growth %d MiB", held>>20, s.Resident>>20, s.Retained>>20, rss>>20)
			assert.LessOrEqual(t, held, bound, "held after the frees, no Trim")
			assert.LessOrEqual(t, s.Resident, bound, "resident after the frees, no Trim")
			if !raceEnabled { // the race detector's shadow memory counts in RSS
				assert.LessOrEqual(t, rss, bound, "off-heap RSS growth after the frees, no Trim")
			}
			require.NoError(t, a.Validate())
			require.NoError(t, a.Trim())
			s = a.Stats()
			assert.Zero(t, s.Mapped, "after Trim nothing is mapped")
		})
	}
}

// BenchmarkFreeAcrossChunks frees and reallocates 1 KiB objects that lie
// in 16 different chunks, in turn, so that every Free misses the chunk its
// P's cache remembers and looks the address up: the path a reservation's
// one contiguous range could shorten.
func BenchmarkFreeAcrossChunks(b *testing.B) {
	for _, k := range []struct {
		name string
		o    mmalloc.Options
	}{{"private", mmalloc.Options{ChunkBytes: mib}}, {"reserve", mmalloc.Options{ChunkBytes: mib, Reserve: 1 << 30}}} {
		b.Run(k.name, func(b *testing.B) {
			a := newAlloc(b, k.o)
			const chunks = 16
			var objs [chunks][]byte
			seen := map[uintptr]bool{}
			var fillers [][]byte
			for n := 0; n < chunks; {
				x, err := a.Alloc(kib)
				require.NoError(b, err)
				if c := addr(x) / mib; !seen[c] {
					seen[c] = true
					objs[n] = x
					n++
					continue
				}
				fillers = append(fillers, x)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				j := i % chunks
				if err := a.Free(objs[j]); err != nil {
					b.Fatal(err)
				}
				x, err := a.Alloc(kib)
				if err != nil {
					b.Fatal(err)
				}
				objs[j] = x
			}
			b.StopTimer()
			for _, x := range append(fillers, objs[:]...) {
				require.NoError(b, a.Free(x))
			}
		})
	}
}
