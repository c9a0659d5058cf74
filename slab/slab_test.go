package slab

import (
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

// TestIndex checks the multiply-rotate index against real division for
// every offset of every slab, and for offsets below the base and past the
// end: an offset is accepted exactly when it is an object's first byte.
func TestIndex(t *testing.T) {
	for c := 1; c < NumClasses; c++ {
		size := uint64(classBytes[c])
		objects := uint64(classSlabBytes[c]) / size
		s := &Slab{base: 1 << 40, inv: classInv[c], rot: -int(classShift[c]), objects: int(objects)}
		check := func(off uint64) {
			i, ok := s.index(s.base + uintptr(off))
			want := off%size == 0 && off/size < objects
			if ok != want || ok && uint64(i) != off/size {
				t.Fatalf("class %d: offset %d gives (%d, %v), want (%d, %v)", c, off, i, ok, off/size, want)
			}
		}
		for off := uint64(0); off < 2*uint64(classSlabBytes[c]); off++ {
			check(off)
		}
		for k := uint64(1); k <= 1<<16; k++ { // below the base
			check(-k * 8)
			check(-k * size)
		}
		for _, off := range []uint64{1 << 32, 1<<32 + size, 1 << 47, 1<<63 - size + 1, 1 << 63, ^uint64(0)} {
			check(off)
		}
	}
}

func newCentrals(t *testing.T, retain int64) ([]Central, *arena.Heap) {
	src := osmem.NewSource(0)
	src.SetRetainLimit(retain)
	h, err := arena.NewHeap(src, arena.HeapOptions{ChunkBytes: 4 << 20})
	require.NoError(t, err)
	t.Cleanup(h.Close)
	cs := make([]Central, NumClasses)
	for c := 1; c < NumClasses; c++ {
		cs[c].Init(c, h)
	}
	return cs, h
}

// hold takes one object of class c out of its Central and hands it to the
// caller, as a cache does.
func hold(t *testing.T, c *Central) (uintptr, Entry) {
	var e [1]Entry
	n, err := c.AllocBatch(e[:])
	require.NoError(t, err)
	require.Equal(t, 1, n)
	b := e[0].Bytes(e[0].Class(), false)
	return uintptr(unsafe.Pointer(unsafe.SliceData(b))), e[0]
}

// giveBack releases a held object and returns it to its Central.
func giveBack(t *testing.T, cs []Central, p uintptr) error {
	e, err := Release(arena.Lookup(p), p)
	if err != nil {
		return err
	}
	cs[e.Class()].FreeBatch([]Entry{e})
	return nil
}

func TestCentralFillDrain(t *testing.T) {
	cs, h := newCentrals(t, 0)
	c := &cs[ClassOf(48)]
	objects := ClassSlabBytes(ClassOf(48)) / 48
	seen := map[uintptr]bool{}
	var addrs []uintptr
	batch := make([]Entry, 100)
	for len(addrs) < 3*objects { // three slabs' worth
		n, err := c.AllocBatch(batch[:min(100, 3*objects-len(addrs))])
		require.NoError(t, err)
		for _, e := range batch[:n] {
			require.True(t, e.Zero(), "fresh slab objects read as zero")
			b := e.Bytes(e.Class(), false)
			p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			require.False(t, seen[p], "handed out twice")
			seen[p] = true
			addrs = append(addrs, p)
		}
	}
	require.NoError(t, c.Validate())
	st := c.Stats()
	assert.Equal(t, int64(3), st.Slabs)
	assert.Equal(t, int64(3*objects), st.Out)

	for _, p := range addrs {
		ch := arena.Lookup(p)
		require.NotNil(t, ch)
		_, err := Release(ch, p+8)
		require.ErrorIs(t, err, errs.ErrInvalidPointer, "interior")
		require.NoError(t, giveBack(t, cs, p))
	}
	require.NoError(t, c.Validate())
	st = c.Stats()
	assert.Zero(t, st.Slabs, "with no retention budget no empty slab is kept")
	assert.Zero(t, st.Out)
	inuse, empty := h.Counts()
	assert.Zero(t, inuse+empty, "the chunk went back to the OS at once")
	assert.Zero(t, h.Source().Mapped())
	assert.Nil(t, arena.Lookup(addrs[0]), "the chunk is no longer registered")
}

func TestEmptySlabsChargeTheBudget(t *testing.T) {
	sb := ClassSlabBytes(ClassOf(4096))
	cs, h := newCentrals(t, int64(2*sb))
	c := &cs[ClassOf(4096)]
	var ps []uintptr
	for range 5 * sb / 4096 { // five slabs
		p, _ := hold(t, c)
		ps = append(ps, p)
	}
	for _, p := range ps {
		require.NoError(t, giveBack(t, cs, p))
	}
	st := c.Stats()
	assert.Equal(t, int64(2), st.Slabs, "two empty slabs fit the budget")
	assert.Equal(t, int64(2*sb), h.Source().Retained())
	require.NoError(t, c.Validate())
	c.Trim()
	assert.Zero(t, c.Stats().Slabs)
	assert.Equal(t, h.Charged(), h.Source().Retained(), "the pages stay charged, as free dirty pages of the chunk")
	h.Trim()
	assert.Zero(t, h.Source().Retained())
}

func TestCentralReusesFreedFirst(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	c := &cs[ClassOf(1000)]
	var ps []uintptr
	for range 10 {
		p, _ := hold(t, c)
		ps = append(ps, p)
	}
	require.NoError(t, giveBack(t, cs, ps[3]))
	var e [1]Entry
	_, err := c.AllocBatch(e[:])
	require.NoError(t, err)
	assert.False(t, e[0].Zero(), "a reused slot must be cleared by the caller")
	b := e[0].Bytes(e[0].Class(), false)
	assert.Equal(t, ps[3], uintptr(unsafe.Pointer(unsafe.SliceData(b))), "the freed slot comes back first")
	require.ErrorIs(t, giveBack(t, cs, ps[4]+1), errs.ErrInvalidPointer)
	require.NoError(t, giveBack(t, cs, ps[4]))
	require.ErrorIs(t, giveBack(t, cs, ps[4]), errs.ErrDoubleFree)
	require.NoError(t, c.Validate())
}

func TestLocalStacks(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	cls := ClassOf(32 << 10)
	require.Equal(t, 2, StackLen(cls), "64 KiB of 32 KiB objects")
	require.Equal(t, 64, StackLen(ClassOf(16)))
	var l Local
	_, ok := l.Pop(cls)
	require.False(t, ok)
	var batch [MaxBatch]Entry
	n, err := cs[cls].AllocBatch(batch[:3])
	require.NoError(t, err)
	require.Equal(t, 3, n)
	assert.Equal(t, 2, l.Fill(cls, batch[:3]), "only two fit")
	assert.False(t, l.Push(batch[2]), "full")
	e, ok := l.Pop(cls)
	require.True(t, ok)
	assert.Equal(t, batch[1], e, "last in, first out")
	assert.True(t, l.Push(batch[2]))
	assert.Equal(t, 1, l.Spill(cls, batch[:]), "the older half")
	assert.Equal(t, 1, l.Len(cls))
	assert.Equal(t, 1, l.Drain(cls, batch[:]))
	assert.Zero(t, l.Len(cls))
	allocs, frees := l.Counts(cls)
	assert.Equal(t, uint64(1), allocs)
	assert.Equal(t, uint64(1), frees)
}

func TestCentralClosed(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	c := &cs[1]
	c.Close()
	var e [1]Entry
	_, err := c.AllocBatch(e[:])
	require.ErrorIs(t, err, errs.ErrClosed)
}

// TestOwnedLayout checks the owner bits of every class: each object has
// its own bit within owned, a refill is a power of two, and the objects of
// neighbouring refills (what two caches filled one after the other use)
// sit on different cache lines.
func TestOwnedLayout(t *testing.T) {
	for c := 1; c < NumClasses; c++ {
		objects := ClassSlabBytes(c) / ClassBytes(c)
		b := RefillBatch(c)
		require.Equal(t, 0, b&(b-1), "class %d: refill %d is a power of two", c, b)
		s := &Slab{objects: objects}
		s.setOwnedLayout(ownedLayout(objects, b))
		size := len(s.owned) * 32
		assert.LessOrEqual(t, size, max(4*ownedLineBits, 2*objects), "class %d: owned stays near a bit per object", c)
		seen := make([]bool, size)
		for i := range objects {
			p := s.ownedPos(i)
			require.True(t, p >= 0 && p < size, "class %d object %d: position %d outside %d bits", c, i, p, size)
			require.False(t, seen[p], "class %d object %d: position %d taken", c, i, p)
			seen[p] = true
			w, bit := s.OwnerBit(i)
			require.Equal(t, &s.owned[p/32], w)
			require.Equal(t, uint(p%32), bit)
		}
		line := func(i int) int { return s.ownedPos(i) / ownedLineBits }
		for k := 0; (k+2)*b <= objects; k++ {
			for i := k * b; i < (k+1)*b; i++ {
				for j := (k + 1) * b; j < (k+2)*b; j++ {
					require.NotEqual(t, line(i), line(j), "class %d: refills %d and %d share a line", c, k, k+1)
				}
			}
		}
	}
}
