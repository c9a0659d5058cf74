package osmem

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestMapUnmapCounts(t *testing.T) {
	s := NewSource(0)
	p, err := s.Map(3 * PageBytes)
	require.NoError(t, err)
	b := unsafe.Slice((*byte)(p), 3*PageBytes)
	b[0], b[len(b)-1] = 1, 2
	assert.Equal(t, int64(3*PageBytes), s.Mapped())
	s.Unmap(p, 3*PageBytes)
	assert.Zero(t, s.Mapped())
	assert.Equal(t, int64(3*PageBytes), s.Peak())
	assert.Equal(t, uint64(1), s.Mmaps())
	assert.Equal(t, uint64(1), s.Munmaps())
}

func TestMapAligned(t *testing.T) {
	s := NewSource(0)
	const align = 4 << 20
	p, err := s.MapAligned(align, align, 0)
	require.NoError(t, err)
	assert.Zero(t, uintptr(p)%align)
	assert.Equal(t, int64(align), s.Mapped())
	// The hint just below is usually free and aligned: one mmap, no trim.
	mm, mu := s.Mmaps(), s.Munmaps()
	q, err := s.MapAligned(align, align, uintptr(p)-align)
	require.NoError(t, err)
	assert.Zero(t, uintptr(q)%align)
	if uintptr(q) == uintptr(p)-align {
		assert.Equal(t, mm+1, s.Mmaps())
		assert.Equal(t, mu, s.Munmaps())
	}
	s.Unmap(p, align)
	s.Unmap(q, align)
	assert.Zero(t, s.Mapped())
}

func TestLimitIsExact(t *testing.T) {
	s := NewSource(int64(4 * PageBytes))
	p, err := s.Map(4 * PageBytes)
	require.NoError(t, err)
	_, err = s.Map(PageBytes)
	require.ErrorIs(t, err, ErrNoMemory)
	require.ErrorIs(t, err, ErrLimit)
	assert.Equal(t, int64(4*PageBytes), s.Mapped())
	s.Unmap(p, 4*PageBytes)
	p, err = s.Map(PageBytes)
	require.NoError(t, err)
	s.Unmap(p, PageBytes)
}

func TestFailAfter(t *testing.T) {
	s := NewSource(0)
	s.FailAfter(2)
	p, err := s.Map(PageBytes)
	require.NoError(t, err)
	_, err = s.Map(PageBytes)
	require.ErrorIs(t, err, ErrNoMemory)
	require.True(t, errors.Is(err, unix.ENOMEM))
	assert.Equal(t, int64(PageBytes), s.Mapped(), "a failed map changes nothing")
	q, err := s.Map(PageBytes)
	require.NoError(t, err, "only the chosen call fails")
	s.Unmap(p, PageBytes)
	s.Unmap(q, PageBytes)
}

func TestKernelRefusal(t *testing.T) {
	s := NewSource(0)
	_, err := s.Map(1 << 62) // more than any address space
	require.ErrorIs(t, err, ErrNoMemory)
	require.True(t, errors.Is(err, unix.ENOMEM))
	assert.Zero(t, s.Mapped())
	assert.Zero(t, s.Peak())
}

func TestRemapGrowsWithoutCopy(t *testing.T) {
	s := NewSource(0)
	p, err := s.Map(PageBytes)
	require.NoError(t, err)
	*(*byte)(p) = 42
	q, err := s.Remap(p, PageBytes, 64*PageBytes)
	require.NoError(t, err)
	assert.Equal(t, byte(42), *(*byte)(q))
	assert.Equal(t, int64(64*PageBytes), s.Mapped())
	s.Unmap(q, 64*PageBytes)
	assert.Zero(t, s.Mapped())
}
