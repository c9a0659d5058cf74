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
	p, size, err := r.Alloc(200_000)
	require.NoError(t, err)
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

	require.ErrorIs(t, r.Free(uintptr(p)+1), errs.InvalidPointer)
	require.ErrorIs(t, r.Free(uintptr(p)+size-1), errs.InvalidPointer)
	require.ErrorIs(t, r.Free(uintptr(p)+size), errs.ForeignPointer)
	require.ErrorIs(t, r.Free(uintptr(unsafe.Pointer(&n))), errs.ForeignPointer)
	require.NoError(t, r.Validate())
	require.NoError(t, r.Free(uintptr(p)))
	require.ErrorIs(t, r.Free(uintptr(p)), errs.DoubleFree)
	assert.Equal(t, Stats{Allocs: 1, Frees: 1}, r.Stats())
	assert.Equal(t, uint64(1), src.Mmaps())
	assert.Equal(t, uint64(1), src.Munmaps())
	assert.Zero(t, src.Mapped())
}

func TestLimitAndClose(t *testing.T) {
	src := osmem.NewSource(1 << 20)
	r := NewRegistry(src)
	_, _, err := r.Alloc(1<<20 + 1)
	require.ErrorIs(t, err, errs.OutOfMemory)
	require.ErrorIs(t, err, osmem.ErrLimit)
	_, _, err = r.Alloc(1 << 20)
	require.NoError(t, err)
	r.Close()
	assert.Zero(t, src.Mapped())
	_, _, err = r.Alloc(4096)
	require.ErrorIs(t, err, errs.Closed)
	assert.Zero(t, src.Mapped(), "a mapping made while closing is undone")
}
