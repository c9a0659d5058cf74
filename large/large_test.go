package large

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
	assert.False(t, dirty, "a fresh mapping reads as zero")
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
	assert.Zero(t, src.Mapped(), "a mapping made while closing is undone")
}

func TestRetention(t *testing.T) {
	const mib = 1 << 20
	src := osmem.NewSource(0)
	src.SetRetainLimit(3 * mib)
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
	assert.True(t, dirty, "a reused mapping may hold old bytes")
	assert.Equal(t, mm, src.Mmaps(), "no new mapping")
	_, size, dirty, err = r.Alloc(mib / 2)
	require.NoError(t, err)
	assert.Equal(t, uintptr(mib/2), size, "a kept 1 MiB mapping would waste half")
	assert.False(t, dirty)
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
	src.SetRetainLimit(64 * mib)
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
	assert.True(t, dirty)
	assert.Equal(t, mm, src.Mmaps())
	_, size, _, err = r.AllocAtLeast(5 * mib)
	require.NoError(t, err)
	assert.Equal(t, uintptr(16*mib), size)
	_, size, dirty, err = r.AllocAtLeast(5 * mib)
	require.NoError(t, err)
	assert.Equal(t, RoundUp(5*mib), size, "none kept: a fresh mapping")
	assert.False(t, dirty)
	assert.Equal(t, mm+1, src.Mmaps())
	require.NoError(t, r.Validate())
}
