package mappings

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
)

func TestAllocFreeClassify(t *testing.T) {
	src := osmem.NewSource(0)
	r := NewRegistry(src)
	defer r.Close()
	p, size, dirty, err := r.Alloc(200_000)
	require.NoError(t, err)
	assert.Zero(t, dirty, "a fresh mapping reads as zero")
	assert.Equal(t, RoundUp(200_000), size)
	assert.Zero(t, uintptr(p)%osmem.PageBytes)
	b := unsafe.Slice((*byte)(p), size)
	for i := range b {
		require.Zero(t, b[i])
	}
	n, ok := r.Owns(uintptr(p))
	assert.True(t, ok)
	assert.Equal(t, size, n)
	assert.Equal(t, Stats{Live: 1, InUse: int64(size), Allocs: 1}, r.Stats())

	require.ErrorIs(t, r.Free(uintptr(p)+1), errs.ErrInvalidPointer)
	require.ErrorIs(t, r.Free(uintptr(p)+size-1), errs.ErrInvalidPointer)
	require.ErrorIs(t, r.Free(uintptr(p)+size), errs.ErrForeignPointer)
	require.ErrorIs(t, r.Free(uintptr(unsafe.Pointer(&n))), errs.ErrForeignPointer)
	require.NoError(t, r.Validate())
	require.NoError(t, r.Free(uintptr(p)))
	require.ErrorIs(t, r.Free(uintptr(p)), errs.ErrDoubleFree)
	assert.Equal(t, Stats{Allocs: 1, Frees: 1}, r.Stats())
	assert.Equal(t, uint64(1), src.Mmaps())
	assert.Equal(t, uint64(1), src.Munmaps())
	assert.Zero(t, src.Mapped())
}

func TestLimitAndClose(t *testing.T) {
	src := osmem.NewSource(1 << 20)
	r := NewRegistry(src)
	_, _, _, err := r.Alloc(1<<20 + 1)
	require.ErrorIs(t, err, errs.ErrOutOfMemory)
	require.ErrorIs(t, err, osmem.ErrLimit)
	_, _, _, err = r.Alloc(1 << 20)
	require.NoError(t, err)
	r.Close()
	assert.Zero(t, src.Mapped())
	_, _, _, err = r.Alloc(4096)
	require.ErrorIs(t, err, errs.ErrClosed)
	_, _, err = r.Remap(0, 4096)
	require.ErrorIs(t, err, errs.ErrClosed)
	assert.Zero(t, src.Mapped())
}

// TestCloseWhileMapping closes the Registry while Alloc's mapping, and
// Remap's, is being made (outside the Registry's lock): the Source's
// reclaim, which runs when the mapping would pass the limit while memory
// is retained, is where Close runs. The mapping finds the Registry closed
// when it comes back, is unmapped, and ErrClosed returned: nothing stays
// mapped.
func TestCloseWhileMapping(t *testing.T) {
	page := osmem.PageBytes
	for _, call := range []string{"Alloc", "Remap"} {
		t.Run(call, func(t *testing.T) {
			src := osmem.NewSource(int64(8 * page))
			src.SetRetainBytes(int64(8 * page))
			r := NewRegistry(src)
			live, _, _, err := r.Alloc(2 * page)
			require.NoError(t, err)
			one, _, _, err := r.Alloc(page)
			require.NoError(t, err)
			kept, _, _, err := r.Alloc(3 * page)
			require.NoError(t, err)
			require.NoError(t, r.Free(uintptr(one)))  // retained: the limit will call reclaim
			require.NoError(t, r.Free(uintptr(kept))) // the same, or grown by Alloc
			closed := false
			src.SetReclaim(func() {
				r.Close() // unmaps the live and the kept mapping: room for the retry
				closed = true
			})
			if call == "Alloc" {
				_, _, _, err = r.Alloc(6 * page) // grows the 3-page kept mapping: 2+1+3+3 pass the limit of 8
			} else {
				_, _, err = r.Remap(uintptr(live), 7*page) // 5 more pages: 2+1+3+5 pass it
			}
			require.True(t, closed, "the mapping ran into the limit, and Close ran")
			require.ErrorIs(t, err, errs.ErrClosed)
			assert.Zero(t, src.Mapped(), "the mapping made while closing was undone")
			assert.Equal(t, src.Mmaps(), src.Munmaps(), "every mapping made was unmapped")
			assert.Equal(t, Stats{Live: 1, InUse: int64(2 * page), Allocs: 3, Frees: 2}, r.Stats(),
				"the figures stay as they were at Close: the live mapping was never freed")
			assert.Zero(t, src.Retained())
		})
	}
}

func TestRetention(t *testing.T) {
	const mib = 1 << 20
	src := osmem.NewSource(0)
	src.SetRetainBytes(3 * mib)
	r := NewRegistry(src)
	defer r.Close()
	var ps []unsafe.Pointer
	for range 4 {
		p, _, _, err := r.Alloc(mib)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	for _, p := range ps {
		require.NoError(t, r.Free(uintptr(p)))
	}
	n, bytes := r.Kept()
	assert.Equal(t, 3, n, "three fit the budget; the fourth is unmapped")
	assert.Equal(t, int64(3*mib), bytes)
	assert.Equal(t, int64(3*mib), src.Retained())
	assert.Equal(t, int64(3*mib), src.Mapped())
	require.ErrorIs(t, r.Free(uintptr(ps[0])), errs.ErrDoubleFree, "a kept mapping is not live")
	require.ErrorIs(t, r.Free(uintptr(ps[3])), errs.ErrDoubleFree, "an unmapped one was freed lately")
	require.NoError(t, r.Validate())

	// Reuse: same size, or up to an eighth smaller; not much smaller.
	mm := src.Mmaps()
	p, size, dirty, err := r.Alloc(mib - 100)
	require.NoError(t, err)
	assert.Equal(t, uintptr(mib), size)
	assert.Equal(t, size, dirty, "a reused mapping may hold old bytes")
	assert.Equal(t, mm, src.Mmaps(), "no new mapping")
	_, size, dirty, err = r.Alloc(mib / 2)
	require.NoError(t, err)
	assert.Equal(t, uintptr(mib/2), size, "a kept 1 MiB mapping would waste half")
	assert.Zero(t, dirty)
	require.NoError(t, r.Free(uintptr(p)))

	r.Trim()
	n, _ = r.Kept()
	assert.Zero(t, n)
	assert.Zero(t, src.Retained())
	require.NoError(t, r.Validate())
}

func TestNoRetentionIsOneMunmapPerFree(t *testing.T) {
	src := osmem.NewSource(0)
	r := NewRegistry(src)
	defer r.Close()
	p, _, _, err := r.Alloc(300 << 10)
	require.NoError(t, err)
	require.NoError(t, r.Free(uintptr(p)))
	assert.Equal(t, uint64(1), src.Mmaps())
	assert.Equal(t, uint64(1), src.Munmaps())
	assert.Zero(t, src.Mapped())
}

func TestAllocAtLeastTakesAnyKeptFit(t *testing.T) {
	const mib = 1 << 20
	src := osmem.NewSource(0)
	src.SetRetainBytes(64 * mib)
	r := NewRegistry(src)
	defer r.Close()
	p, _, _, err := r.Alloc(16 * mib)
	require.NoError(t, err)
	q, _, _, err := r.Alloc(4 * mib)
	require.NoError(t, err)
	require.NoError(t, r.Free(uintptr(p)))
	require.NoError(t, r.Free(uintptr(q)))
	mm := src.Mmaps()
	// Alloc would not take a mapping wasting more than an eighth.
	_, size, dirty, err := r.AllocAtLeast(300 << 10)
	require.NoError(t, err)
	assert.Equal(t, uintptr(4*mib), size, "the smallest kept mapping that holds it")
	assert.Equal(t, size, dirty)
	assert.Equal(t, mm, src.Mmaps())
	_, size, _, err = r.AllocAtLeast(5 * mib)
	require.NoError(t, err)
	assert.Equal(t, uintptr(16*mib), size)
	_, size, dirty, err = r.AllocAtLeast(5 * mib)
	require.NoError(t, err)
	assert.Equal(t, RoundUp(5*mib), size, "none kept: a fresh mapping")
	assert.Zero(t, dirty)
	assert.Equal(t, mm+1, src.Mmaps())
	require.NoError(t, r.Validate())
}

// TestValidateReportsEachBrokenInvariant breaks each of Validate's
// equations on purpose, one at a time, and shows that Validate reports it
// and holds again once it is mended.
func TestValidateReportsEachBrokenInvariant(t *testing.T) {
	const mib = 1 << 20
	src := osmem.NewSource(0)
	src.SetRetainBytes(64 * mib)
	r := NewRegistry(src)
	defer r.Close()
	p, _, _, err := r.Alloc(mib)
	require.NoError(t, err)
	q, _, _, err := r.Alloc(2 * mib)
	require.NoError(t, err)
	require.NoError(t, r.Free(uintptr(q))) // kept
	require.NoError(t, r.Validate())
	live := uintptr(p)
	for _, tc := range []struct {
		name, want string
		brk        func() (mend func())
	}{
		{"a mapping not page aligned", "is not page aligned", func() func() {
			r.spans[live+1] = r.spans[live]
			return func() { delete(r.spans, live+1) }
		}},
		{"bytes in use miscounted", "counts", func() func() {
			r.inUse += int64(osmem.PageBytes)
			return func() { r.inUse -= int64(osmem.PageBytes) }
		}},
		{"a mapping both live and kept", "both live and kept", func() func() {
			r.kept = append(r.kept, osmem.Span{Base: live, Size: mib})
			return func() { r.kept = r.kept[:len(r.kept)-1] }
		}},
		{"kept bytes not charged", "charged to the budget", func() func() {
			src.Unretain(2 * mib)
			return func() { src.TryRetain(2 * mib) }
		}},
		{"allocations miscounted", "allocs-frees", func() func() {
			r.allocs++
			return func() { r.allocs-- }
		}},
	} {
		mend := tc.brk()
		err := r.Validate()
		require.Error(t, err, "%s went unnoticed", tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
		mend()
		require.NoError(t, r.Validate(), "%s mended", tc.name)
	}
}

// TestReuseHandsOutExactlyRoundUp: a kept mapping up to an eighth bigger
// than asked is reused, and handed out as big as asked (RoundUp(n), the
// one cap rule), its spare pages unmapped; AllocAtLeast, for a caller that
// will grow into it, takes it whole.
func TestReuseHandsOutExactlyRoundUp(t *testing.T) {
	page := osmem.PageBytes
	src := osmem.NewSource(0)
	src.SetRetainBytes(1 << 30)
	r := NewRegistry(src)
	defer r.Close()
	p, _, _, err := r.Alloc(36 * page)
	require.NoError(t, err)
	require.NoError(t, r.Free(uintptr(p)))
	mm, mu := src.Mmaps(), src.Munmaps()
	q, size, dirty, err := r.Alloc(35*page - 10)
	require.NoError(t, err)
	assert.Equal(t, p, q, "the kept mapping is reused")
	assert.Equal(t, size, dirty)
	assert.Equal(t, 35*page, size, "as big as asked, rounded to pages")
	assert.Equal(t, mm, src.Mmaps(), "no new mapping")
	assert.Equal(t, mu+1, src.Munmaps(), "the spare page is unmapped")
	assert.Equal(t, int64(35*page), src.Mapped())
	n, ok := r.Owns(uintptr(q))
	require.True(t, ok)
	assert.Equal(t, 35*page, n)
	require.NoError(t, r.Validate())
	require.NoError(t, r.Free(uintptr(q)))

	// 35 pages kept; AllocAtLeast of 32 takes all 35.
	q, size, _, err = r.AllocAtLeast(32 * page)
	require.NoError(t, err)
	assert.Equal(t, p, q)
	assert.Equal(t, 35*page, size)
	require.NoError(t, r.Free(uintptr(q)))
	require.NoError(t, r.Validate())
}

// TestZeroRegistry: the zero Registry maps nothing and owns nothing; every
// call returns an error or an empty figure, none follows a nil pointer.
func TestZeroRegistry(t *testing.T) {
	var r Registry
	_, _, _, err := r.Alloc(4096)
	assert.ErrorIs(t, err, errs.ErrUninitialized)
	_, _, _, err = r.AllocAtLeast(4096)
	assert.ErrorIs(t, err, errs.ErrUninitialized)
	_, _, err = r.Remap(4096, 8192)
	assert.ErrorIs(t, err, errs.ErrUninitialized)
	assert.ErrorIs(t, r.Free(4096), errs.ErrForeignPointer)
	_, err = r.Usable(4096)
	assert.ErrorIs(t, err, errs.ErrForeignPointer)
	_, ok := r.Owns(4096)
	assert.False(t, ok)
	n, bytes := r.Kept()
	assert.Zero(t, n)
	assert.Zero(t, bytes)
	assert.Equal(t, Stats{}, r.Stats())
	require.NoError(t, r.Validate())
	r.Trim()
	r.TryTrim()
	r.Close()
}

// TestRemapRefusals: Remap of an address that is no live mapping's start
// returns Free's error, and a growth the kernel refuses leaves the
// mapping as it was, live, with its bytes; neither changes a figure.
func TestRemapRefusals(t *testing.T) {
	const mib = 1 << 20
	src := osmem.NewSource(0)
	src.SetRetainBytes(64 * mib)
	r := NewRegistry(src)
	defer r.Close()
	p, size, _, err := r.Alloc(mib)
	require.NoError(t, err)
	*(*byte)(p) = 7
	q, _, _, err := r.Alloc(2 * mib)
	require.NoError(t, err)
	require.NoError(t, r.Free(uintptr(q))) // kept
	before := r.Stats()
	var local int
	for _, tc := range []struct {
		addr uintptr
		want error
	}{
		{uintptr(p) + osmem.PageBytes, errs.ErrInvalidPointer},
		{uintptr(q), errs.ErrDoubleFree},
		{uintptr(q) + osmem.PageBytes, errs.ErrDoubleFree}, // inside a kept mapping
		{uintptr(unsafe.Pointer(&local)), errs.ErrForeignPointer},
	} {
		_, _, err := r.Remap(tc.addr, 4*mib)
		assert.ErrorIs(t, err, tc.want, "%#x", tc.addr)
		assert.ErrorIs(t, r.Free(tc.addr), tc.want, "%#x", tc.addr)
	}
	src.FailSyscallsFrom(1)
	_, _, err = r.Remap(uintptr(p), 4*mib)
	src.FailAfter(0)
	require.ErrorIs(t, err, errs.ErrOutOfMemory)
	n, ok := r.Owns(uintptr(p))
	require.True(t, ok, "still live")
	assert.Equal(t, size, n)
	assert.Equal(t, byte(7), *(*byte)(p))
	assert.Equal(t, before, r.Stats())
	require.NoError(t, r.Validate())
}

// TestAllocGrowsSmallerKept: with no kept mapping that fits a request, the
// largest kept mapping smaller than it is grown with mremap rather than a
// fresh one mapped: its pages, resident and written, stay where the new
// allocation starts (so a buffer written in order faults only past them).
// A refused mremap puts the kept mapping back and changes nothing.
func TestAllocGrowsSmallerKept(t *testing.T) {
	page := osmem.PageBytes
	src := osmem.NewSource(0)
	src.SetRetainBytes(int64(64 * page))
	r := NewRegistry(src)
	small, _, _, err := r.Alloc(2 * page)
	require.NoError(t, err)
	bigger, _, _, err := r.Alloc(3 * page)
	require.NoError(t, err)
	mem := unsafe.Slice((*byte)(bigger), 3*page)
	for i := range mem {
		mem[i] = byte(i % 251)
	}
	require.NoError(t, r.Free(uintptr(small)))
	require.NoError(t, r.Free(uintptr(bigger)))
	mmaps, remaps := src.Mmaps(), src.Remaps()

	src.FailAfter(1) // the mremap is refused
	_, _, _, err = r.Alloc(8 * page)
	require.ErrorIs(t, err, errs.ErrOutOfMemory)
	src.FailAfter(0)
	n, bytes := r.Kept()
	assert.Equal(t, 2, n, "the refusal put the kept mapping back")
	assert.Equal(t, int64(5*page), bytes)
	assert.Equal(t, int64(5*page), src.Retained())
	require.NoError(t, r.Validate())

	p, size, dirty, err := r.Alloc(8 * page)
	require.NoError(t, err)
	assert.Equal(t, 8*page, size)
	assert.Equal(t, 3*page, dirty, "the grown mapping holds old bytes in its first 3 pages")
	assert.Equal(t, mmaps, src.Mmaps(), "no fresh mapping")
	assert.Equal(t, remaps+1, src.Remaps(), "one mremap")
	grown := unsafe.Slice((*byte)(p), 8*page)
	for i := range 3 * page {
		require.Equal(t, byte(i%251), grown[i], "byte %d kept", i)
	}
	n, bytes = r.Kept()
	assert.Equal(t, 1, n, "the smaller kept mapping stays")
	assert.Equal(t, int64(2*page), bytes)
	assert.Equal(t, int64(2*page), src.Retained())
	assert.Equal(t, Stats{Live: 1, InUse: int64(8 * page), Allocs: 3, Frees: 2}, r.Stats())
	require.NoError(t, r.Validate())
	require.NoError(t, r.Free(uintptr(p)))
	r.Close()
	assert.Zero(t, src.Mapped())
}
