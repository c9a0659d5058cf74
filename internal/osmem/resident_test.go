package osmem

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestResidentCount maps a range larger than one mincore vector covers,
// writes chosen pages on both sides of the vector's boundary, and checks
// that exactly those count; then Release and Unmap.
func TestResidentCount(t *testing.T) {
	s := NewSource(0)
	pages := uintptr(residentVecPages + 100)
	n := pages * PageBytes
	p, err := s.Map(n)
	require.NoError(t, err)
	var r Resident
	got, err := r.Count(uintptr(p), n)
	require.NoError(t, err)
	assert.Zero(t, got, "a fresh mapping has no page in RAM")

	b := unsafe.Slice((*byte)(p), n)
	written := []uintptr{0, 1, 7, residentVecPages - 1, residentVecPages, pages - 1}
	for _, pg := range written {
		b[pg*PageBytes+3] = 1
	}
	got, err = r.Count(uintptr(p), n)
	require.NoError(t, err)
	assert.Equal(t, uintptr(len(written))*PageBytes, got)
	got, err = r.Count(uintptr(p)+PageBytes, 7*PageBytes)
	require.NoError(t, err)
	assert.Equal(t, 2*PageBytes, got, "a sub-range counts its own pages: 1 and 7")

	Release(p, n)
	got, err = r.Count(uintptr(p), n)
	require.NoError(t, err)
	assert.Zero(t, got, "released pages leave RAM")

	s.Unmap(p, n)
	_, err = r.Count(uintptr(p), n)
	assert.ErrorIs(t, err, unix.ENOMEM, "an unmapped range is refused")
}
