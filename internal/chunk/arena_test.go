package chunk

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc/internal/osmem"
)

func newHeap(t *testing.T, chunk int, retain int64) (*Heap, *osmem.Source) {
	src := osmem.NewSource(0)
	src.SetRetainBytes(max(retain, 0))
	h, err := NewHeap(src, HeapOptions{ChunkBytes: chunk})
	require.NoError(t, err)
	t.Cleanup(h.Close)
	return h, src
}

var tag = unsafe.Pointer(new(int))

func TestNewHeapRejectsBadChunks(t *testing.T) {
	for _, n := range []int{0, -1, 1 << 19, 3 << 20, 1<<20 + 4096} {
		_, err := NewHeap(osmem.NewSource(0), HeapOptions{ChunkBytes: n})
		assert.ErrorContains(t, err, "chunk: chunk size", "chunk %d: the message names this layer", n)
	}
	h, _ := newHeap(t, 1<<20, -1)
	for _, n := range []int{0, 257} {
		_, _, _, err := h.AllocPages(n, tag)
		assert.ErrorContains(t, err, "chunk: ", "a run of %d pages", n)
	}
}

func TestRegistryFindsEveryByte(t *testing.T) {
	h, _ := newHeap(t, 2<<20, -1)
	c, page, zeroed, err := h.AllocPages(1, tag)
	require.NoError(t, err)
	assert.Zero(t, page)
	assert.True(t, zeroed)
	assert.Zero(t, c.Base()%(2<<20), "chunks are aligned to their size")
	for _, off := range []uintptr{0, 1, 4095, 1 << 20, 2<<20 - 1} {
		assert.Same(t, c, Lookup(c.Base()+off), "offset %d", off)
	}
	assert.Nil(t, Lookup(c.Base()+2<<20+1<<20), "beyond the chunk")
	assert.Nil(t, Lookup(uintptr(unsafe.Pointer(&page))), "a Go address")
	assert.Nil(t, Lookup(1<<60), "beyond the indexed space")
	assert.Nil(t, Lookup(0))
	assert.Equal(t, tag, c.Owner(0))
	assert.Nil(t, c.Owner(1))
}

func TestPagesRunsReuseAndRetention(t *testing.T) {
	const chunk = 1 << 20
	pages := int(chunk / PageBytes)
	h, src := newHeap(t, chunk, chunk) // keep one empty chunk
	c1, p1, _, err := h.AllocPages(pages/2, tag)
	require.NoError(t, err)
	c2, p2, _, err := h.AllocPages(pages/2, tag)
	require.NoError(t, err)
	require.Same(t, c1, c2)
	assert.Equal(t, p1+pages/2, p2)
	c3, _, _, err := h.AllocPages(1, tag)
	require.NoError(t, err)
	require.NotSame(t, c1, c3, "a full chunk makes a new one")
	require.NoError(t, h.Validate())

	// Free and reuse: a dirty run is not reported as zeroed.
	h.FreePages(c1, p1, pages/2)
	c4, p4, zeroed, err := h.AllocPages(pages/4, tag)
	require.NoError(t, err)
	assert.Same(t, c1, c4)
	assert.Equal(t, p1, p4)
	assert.False(t, zeroed)

	// Emptying both chunks keeps one (the retention budget) and unmaps one.
	h.FreePages(c4, p4, pages/4)
	h.FreePages(c2, p2, pages/2)
	h.FreePages(c3, 0, 1)
	inuse, empty := h.Counts()
	assert.Equal(t, 0, inuse)
	assert.Equal(t, 1, empty)
	assert.Equal(t, int64(chunk), src.Mapped())
	assert.Equal(t, int64(chunk), src.Retained(), "the kept chunk is charged to the budget")
	require.NoError(t, h.Validate())

	// The kept chunk is reused without a new mapping.
	mm := src.Mmaps()
	_, _, _, err = h.AllocPages(pages, tag)
	require.NoError(t, err)
	assert.Equal(t, mm, src.Mmaps())
	assert.Zero(t, src.Retained(), "and leaves the budget")
}

func TestTrimReleasesFreePages(t *testing.T) {
	h, src := newHeap(t, 1<<20, 4<<20)
	c, p, _, err := h.AllocPages(8, tag)
	require.NoError(t, err)
	_, _, _, err = h.AllocPages(1, tag) // keeps the chunk in use
	require.NoError(t, err)
	b := unsafe.Slice((*byte)(osmem.AddrPointer(c.Base()+uintptr(p)*PageBytes)), 8*PageBytes)
	for i := range b {
		b[i] = 0xFF
	}
	h.FreePages(c, p, 8)
	h.Trim()
	// Released pages read as zero and are reported clean again.
	for i := range b {
		require.Zero(t, b[i])
	}
	_, p2, zeroed, err := h.AllocPages(8, tag)
	require.NoError(t, err)
	assert.Equal(t, p, p2)
	assert.True(t, zeroed)
	assert.Equal(t, int64(1<<20), src.Mapped())
}

// TestSharedHeapNeverZeroed: a Shared Heap's chunks are pages of a memory
// file that another process may write while they are free, so no run is
// reported as reading zero: not a new chunk's, not a released one's. The
// same runs of a private Heap are.
func TestSharedHeapNeverZeroed(t *testing.T) {
	for _, shared := range []bool{false, true} {
		src := osmem.NewSource(0)
		src.SetRetainBytes(4 << 20)
		h, err := NewHeap(src, HeapOptions{ChunkBytes: 1 << 20, Shared: shared})
		require.NoError(t, err)
		var seen []bool
		place := func(_ *Chunk, _ int, zeroed bool) { seen = append(seen, zeroed) }
		c, p, fresh, err := h.AllocPagesFor(8, tag, place)
		require.NoError(t, err)
		_, _, _, err = h.AllocPages(1, tag) // keeps the chunk in use
		require.NoError(t, err)
		h.FreePages(c, p, 8)
		h.Trim()
		_, _, released, err := h.AllocPagesFor(8, tag, place)
		require.NoError(t, err)
		assert.Equal(t, !shared, fresh, "shared %v: a new chunk's run", shared)
		assert.Equal(t, !shared, released, "shared %v: a released run", shared)
		assert.Equal(t, []bool{!shared, !shared}, seen, "shared %v: what place is told", shared)
		h.Close()
	}
}

// TestMemo checks a Memo's lookups: the owner of a page in the remembered
// chunk, nil outside it, and nil everywhere once the chunk is unmapped, so
// that a cache remembering it falls back to the registry.
func TestMemo(t *testing.T) {
	h, _ := newHeap(t, 1<<20, 0)
	c, p, _, err := h.AllocPages(2, tag)
	require.NoError(t, err)
	var m Memo
	addr := c.Base() + uintptr(p)*PageBytes
	assert.Nil(t, m.Owner(addr), "the zero Memo remembers nothing")
	m.Set(c)
	assert.Equal(t, tag, m.Owner(addr))
	assert.Equal(t, tag, m.Owner(addr+2*PageBytes-1), "the run's last byte")
	assert.Nil(t, m.Owner(addr+2*PageBytes), "a free page")
	assert.Nil(t, m.Owner(c.Base()-1), "below the chunk")
	assert.Nil(t, m.Owner(c.Base()+(1<<20)), "past the chunk")
	h.FreePages(c, p, 2) // no retention: the empty chunk is unmapped at once
	assert.Nil(t, Lookup(c.Base()))
	for a := c.Base(); a < c.Base()+(1<<20); a += PageBytes {
		require.Nil(t, m.Owner(a), "an unmapped chunk reads as free")
	}
}

func TestClosedHeap(t *testing.T) {
	h, src := newHeap(t, 1<<20, 0)
	c, _, _, err := h.AllocPages(4, tag)
	require.NoError(t, err)
	h.Close()
	assert.Zero(t, src.Mapped())
	assert.Nil(t, Lookup(c.Base()))
	_, _, _, err = h.AllocPages(1, tag)
	assert.ErrorIs(t, err, ErrClosed)
	_, _, _, err = h.AllocPages(0, tag)
	assert.Error(t, err)
}

func TestLimitStopsChunks(t *testing.T) {
	src := osmem.NewSource(1 << 20)
	h, err := NewHeap(src, HeapOptions{ChunkBytes: 1 << 20})
	require.NoError(t, err)
	defer h.Close()
	_, _, _, err = h.AllocPages(int((1<<20)/PageBytes), tag)
	require.NoError(t, err)
	_, _, _, err = h.AllocPages(1, tag)
	require.ErrorIs(t, err, osmem.ErrNoMemory)
	require.NoError(t, h.Validate())
}

// TestMemoRemembersChunks: a Memo finds the owners in each of the chunks
// it remembers, one per place, and a chunk set in a place forgets the
// one there before.
func TestMemoRemembersChunks(t *testing.T) {
	h, _ := newHeap(t, 1<<20, 0)
	pages := int((1 << 20) / PageBytes)
	var cs []*Chunk
	for range 2 * memoChunks {
		c, p, _, err := h.AllocPages(pages, tag) // one whole chunk each
		require.NoError(t, err)
		require.Zero(t, p)
		cs = append(cs, c)
	}
	var m Memo
	place := func(c *Chunk) uintptr { return c.Base() >> 20 % memoChunks }
	for _, c := range cs {
		m.Set(c)
		assert.Equal(t, tag, m.Owner(c.Base()+12345), "the chunk just set")
	}
	for _, c := range cs {
		last := c
		for _, d := range cs { // the last chunk set in c's place
			if place(d) == place(c) {
				last = d
			}
		}
		if last == c {
			assert.Equal(t, tag, m.Owner(c.Base()), "remembered")
		} else {
			assert.Nil(t, m.Owner(c.Base()), "forgotten: another chunk took its place")
		}
	}
	places := map[uintptr]bool{}
	for _, c := range cs {
		places[place(c)] = true
	}
	assert.Len(t, places, memoChunks, "neighbouring chunks take every place")
}
