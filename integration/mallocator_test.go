package integration

// The cases of arrow-go's mallocator tests (arrow/memory/mallocator),
// written again for arrowmem: the same sizes, resizes and counts, checked
// the same way, against the allocator that replaces it without cgo.

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arrowmem"
)

// arrowmem satisfies Arrow's own interface, checked against Arrow's type.
var _ memory.Allocator = (*arrowmem.Allocator)(nil)

func newArrowmem(t *testing.T) (*mmalloc.Allocator, *arrowmem.Allocator) {
	t.Helper()
	a, err := mmalloc.New(mmalloc.Options{})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Zero(t, a.Stats().Live, "every buffer went back to mmalloc")
		_ = a.Close()
	})
	return a, arrowmem.New(a, arrowmem.OnBadFree(func(err error) { t.Errorf("bad Free: %v", err) }))
}

func bufAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func requireZeroed(t *testing.T, b []byte) {
	t.Helper()
	for i, c := range b {
		require.Zero(t, c, "byte %d of %d is not zero", i, len(b))
	}
}

// The sizes the mallocator's Allocate tests use.
var mallocatorSizes = []int{0, 1, 4, 33, 65, 4095, 4096, 8193}

func TestMallocatorCasesAllocate(t *testing.T) {
	for _, align := range []int{64, 16} { // the default, and NewMallocatorWithAlignment(16)'s case
		for _, size := range mallocatorSizes {
			t.Run(fmt.Sprintf("align%d/%d", align, size), func(t *testing.T) {
				_, m := newArrowmem(t)
				buf := m.Allocate(size)
				defer m.Free(buf)
				assert.Len(t, buf, size)
				assert.LessOrEqual(t, size, cap(buf))
				requireZeroed(t, buf)
				if size > 0 {
					assert.Zero(t, bufAddr(buf)%uintptr(align))
				}
			})
		}
	}
}

func TestMallocatorCasesReallocate(t *testing.T) {
	for _, tc := range []struct{ before, after int }{{0, 1}, {1, 0}, {1, 2}, {1, 33}, {4, 4}, {32, 16}, {32, 1}} {
		t.Run(fmt.Sprintf("%dTo%d", tc.before, tc.after), func(t *testing.T) {
			_, m := newArrowmem(t)
			buf := m.Allocate(tc.before)
			assert.Len(t, buf, tc.before)
			assert.LessOrEqual(t, tc.before, cap(buf))
			requireZeroed(t, buf)
			assert.Equal(t, int64(tc.before), m.AllocatedBytes())

			buf = m.Reallocate(tc.after, buf)
			defer m.Free(buf)
			assert.Len(t, buf, tc.after)
			assert.LessOrEqual(t, tc.after, cap(buf))
			requireZeroed(t, buf)
			assert.Equal(t, int64(tc.after), m.AllocatedBytes())
		})
	}
}

func TestMallocatorCasesReallocateInPlace(t *testing.T) {
	_, m := newArrowmem(t)
	buf := m.Allocate(80)
	assert.Len(t, buf, 80)
	assert.LessOrEqual(t, 80, cap(buf))
	assert.Equal(t, int64(80), m.AllocatedBytes())
	at := bufAddr(buf)
	buf = m.Reallocate(81, buf)
	assert.Len(t, buf, 81)
	assert.LessOrEqual(t, 81, cap(buf))
	assert.Equal(t, int64(81), m.AllocatedBytes())
	assert.Equal(t, at, bufAddr(buf), "grown in place")
	m.Free(buf)
}

func TestMallocatorCasesAssertSize(t *testing.T) {
	_, m := newArrowmem(t)
	assert.Zero(t, m.AllocatedBytes())
	buf1 := m.Allocate(64)
	assert.Equal(t, int64(64), m.AllocatedBytes())
	buf2 := m.Allocate(128)
	assert.Equal(t, int64(192), m.AllocatedBytes())
	m.Free(buf1)
	assert.Equal(t, int64(128), m.AllocatedBytes())
	buf2 = m.Reallocate(256, buf2)
	assert.Equal(t, int64(256), m.AllocatedBytes())
	buf2 = m.Reallocate(64, buf2)
	assert.Equal(t, int64(64), m.AllocatedBytes())
	m.Free(buf2)
	assert.Zero(t, m.AllocatedBytes())
}

func TestMallocatorCasesNegative(t *testing.T) {
	_, m := newArrowmem(t)
	isInvalidSize := func(f func()) {
		t.Helper()
		defer func() {
			t.Helper()
			err, ok := recover().(error)
			require.True(t, ok, "a negative size panics with an error")
			assert.ErrorIs(t, err, mmalloc.ErrInvalidSize)
		}()
		f()
	}
	isInvalidSize(func() { m.Allocate(-1) })
	buf := m.Allocate(1)
	defer m.Free(buf)
	isInvalidSize(func() { m.Reallocate(-1, buf) })
}
