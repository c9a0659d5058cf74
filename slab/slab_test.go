package slab

import (
	"math/bits"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc/arena"
	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
)

// TestClassWasteBound checks the generated table by brute force: every
// request from 128 B up wastes less than 12.5% of its object, every request
// gets the smallest class that holds it, and slabs waste at most 1/16.
func TestClassWasteBound(t *testing.T) {
	for n := 1; n <= MaxSmallBytes; n++ {
		c := ClassOf(n)
		require.NotZero(t, c, "n=%d", n)
		size := ClassBytes(c)
		require.GreaterOrEqual(t, size, n)
		if c > 1 {
			require.Less(t, ClassBytes(c-1), n, "n=%d is not in the smallest class that holds it", n)
		}
		if n >= 128 {
			require.Less(t, (size-n)*8, size, "n=%d in class %d wastes 12.5%% or more", n, size)
		}
	}
	assert.Zero(t, ClassOf(0))
	assert.Zero(t, ClassOf(-1))
	assert.Zero(t, ClassOf(MaxSmallBytes+1))
	for c := 1; c < NumClasses; c++ {
		size, sb := ClassBytes(c), ClassSlabBytes(c)
		if size >= 16 {
			assert.Zero(t, size%16, "class %d keeps 16-byte alignment", c)
		}
		assert.Zero(t, sb%int(osmem.PageBytes), "slab of class %d is whole pages", c)
		assert.GreaterOrEqual(t, sb/size, 4)
		assert.LessOrEqual(t, (sb%size)*16, sb, "slab tail of class %d wastes more than 1/16", c)
		assert.LessOrEqual(t, sb, arena.GranuleBytes, "a slab fits the smallest chunk")
	}
}

// TestDivMagic checks the multiply-shift division against real division for
// every offset of every slab.
func TestDivMagic(t *testing.T) {
	for c := 1; c < NumClasses; c++ {
		size, m := uint64(classBytes[c]), classDivMagic[c]
		for off := uint64(0); off < uint64(classSlabBytes[c]); off++ {
			if got, _ := bits.Mul64(off, m); got != off/size {
				t.Fatalf("class %d: offset %d gives %d, want %d", c, off, got, off/size)
			}
		}
	}
}

func newCentrals(t *testing.T, retain int64) ([]Central, *arena.Heap) {
	h, err := arena.NewHeap(osmem.NewSource(0), arena.HeapOptions{ChunkBytes: 4 << 20, RetainBytes: retain})
	require.NoError(t, err)
	t.Cleanup(h.Close)
	cs := make([]Central, NumClasses)
	for c := 1; c < NumClasses; c++ {
		cs[c].Init(c, h)
	}
	return cs, h
}

func TestCentralFillDrain(t *testing.T) {
	cs, h := newCentrals(t, -1)
	c := &cs[ClassOf(48)]
	objects := ClassSlabBytes(ClassOf(48)) / 48
	seen := map[uintptr]bool{}
	var addrs []uintptr
	for i := range 3 * objects { // three slabs' worth
		p, zero, err := c.Alloc()
		require.NoError(t, err)
		require.True(t, zero, "fresh slab objects read as zero (i=%d)", i)
		require.False(t, seen[p], "handed out twice")
		seen[p] = true
		addrs = append(addrs, p)
	}
	require.NoError(t, c.Validate())
	st := c.Stats()
	assert.Equal(t, int64(3), st.Slabs)
	assert.Equal(t, int64(3*objects), st.Live)

	for _, p := range addrs {
		ch := arena.Lookup(p)
		require.NotNil(t, ch)
		require.ErrorIs(t, Free(cs, ch, p+8), errs.InvalidPointer, "interior")
		require.NoError(t, Free(cs, ch, p))
	}
	require.NoError(t, c.Validate())
	st = c.Stats()
	assert.Equal(t, int64(1), st.Slabs, "one empty slab is kept")
	assert.Zero(t, st.Live)
	inuse, _ := h.Counts()
	assert.Equal(t, 1, inuse)
	c.Trim()
	inuse, empty := h.Counts()
	assert.Zero(t, inuse+empty, "the chunk went back to the OS")
	ch := arena.Lookup(addrs[0])
	assert.Nil(t, ch, "the chunk is no longer registered")
}

func TestCentralReusesFreedFirst(t *testing.T) {
	cs, _ := newCentrals(t, -1)
	c := &cs[ClassOf(1000)]
	var ps []uintptr
	for range 10 {
		p, _, err := c.Alloc()
		require.NoError(t, err)
		ps = append(ps, p)
	}
	*(*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&ps[3]))) = 7 // dirty the slot
	require.NoError(t, Free(cs, arena.Lookup(ps[3]), ps[3]))
	p, zero, err := c.Alloc()
	require.NoError(t, err)
	assert.Equal(t, ps[3], p, "the freed slot comes back first")
	assert.False(t, zero, "a reused slot must be cleared by the caller")
	require.ErrorIs(t, Free(cs, arena.Lookup(ps[4]), ps[4]+1), errs.InvalidPointer)
	require.NoError(t, Free(cs, arena.Lookup(ps[4]), ps[4]))
	require.ErrorIs(t, Free(cs, arena.Lookup(ps[4]), ps[4]), errs.DoubleFree)
	require.NoError(t, c.Validate())
}

func TestCentralClosed(t *testing.T) {
	cs, _ := newCentrals(t, -1)
	c := &cs[1]
	c.Close()
	_, _, err := c.Alloc()
	require.ErrorIs(t, err, errs.Closed)
}
