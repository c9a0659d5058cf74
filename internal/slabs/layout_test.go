package slabs

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlabLayout pins the Slab record's layout (see Slab): the fields a
// Free or a hand-out only reads share the record's first cache line, and
// nothing a Free writes lies there; the state word and
// owner words 0 to 6 share the second; records start on a line; and owner
// bits kept outside the record fill whole lines of their own, so that no
// two slabs' bits share one.
func TestSlabLayout(t *testing.T) {
	var s Slab
	require.Equal(t, uintptr(slabRecordBytes), unsafe.Sizeof(s))
	line := func(off uintptr) uintptr { return off / cacheLineBytes }
	for name, off := range map[string]uintptr{
		"base": unsafe.Offsetof(s.base), "inv": unsafe.Offsetof(s.inv),
		"ownedBase": unsafe.Offsetof(s.ownedBase), "size": unsafe.Offsetof(s.size), "objects": unsafe.Offsetof(s.objects),
		"reuseAt": unsafe.Offsetof(s.reuseAt), "fresh": unsafe.Offsetof(s.fresh), "rot": unsafe.Offsetof(s.rot),
		"class": unsafe.Offsetof(s.class), "zeroed": unsafe.Offsetof(s.zeroed), "lastMask": unsafe.Offsetof(s.lastMask),
	} {
		assert.Zero(t, line(off), "%s lies outside the first line", name)
	}
	assert.Equal(t, uintptr(1), line(unsafe.Offsetof(s.inlState)), "state")
	assert.Equal(t, unsafe.Offsetof(s.inlState)+8, unsafe.Offsetof(s.inl), "the state word is not just before owner word 0")
	for w := range inlineOwnerWords {
		want := uintptr(1)
		if w == inlineOwnerWords-1 {
			want = 2
		}
		assert.Equal(t, want, line(unsafe.Offsetof(s.inl)+uintptr(w)*8), "owner word %d", w)
	}

	cs, _ := newCentrals(t, 0)
	for c := 1; c <= NumClasses; c++ {
		sl, err := cs[c].Acquire()
		require.NoError(t, err)
		addr := uintptr(unsafe.Pointer(sl))
		assert.Zero(t, addr%cacheLineBytes, "class %d: the record starts inside a line", c)
		words := (int(sl.objects) + 63) / 64
		require.Len(t, sl.owned, words)
		bitsAt := uintptr(unsafe.Pointer(unsafe.SliceData(sl.owned)))
		assert.Equal(t, unsafe.Pointer(unsafe.SliceData(sl.owned)), sl.ownedBase)
		assert.Equal(t, bitsAt-8, uintptr(unsafe.Pointer(sl.state())), "class %d: the state word is not just before owner word 0", c)
		if words <= inlineOwnerWords {
			assert.Equal(t, addr+unsafe.Offsetof(sl.inl), bitsAt, "class %d: %d owner words outside the record", c, words)
		} else {
			// The state word heads the block, on owner word 0's line.
			blk := bitsAt - 8
			assert.Zero(t, blk%cacheLineBytes, "class %d: the block of owner bits starts inside a line", c)
			assert.Zero(t, (1+cap(sl.owned))%(cacheLineBytes/8), "class %d: owner bits end inside a line", c)
		}
		// Whole units of the chunk's unit table (chunk.Memo), so that a
		// Free finds the slab there rather than in the page table.
		assert.Zero(t, (sl.base-sl.chunk.Base())%(64<<10), "class %d: the slab starts inside a 64 KiB unit", c)
		if ClassBytes(c) >= 1024 {
			assert.LessOrEqual(t, words, 1, "class %d: its owner bits are not all on the state's line", c)
		}
		cs[c].Abandon(sl, 0)
	}
}

// TestClassCacheLayout pins what the fast paths read of a cache: one
// class in one cache line (Local.Alloc, FreeCached and Freed read
// nothing else but the owner word), and counts that fit their fields.
func TestClassCacheLayout(t *testing.T) {
	var l Local
	assert.Equal(t, uintptr(cacheLineBytes), unsafe.Sizeof(l.cls[0]), "one class per line")
	var cc classCache
	for c := 1; c <= NumClasses; c++ {
		objects := ClassSlabBytes(c) / ClassBytes(c)
		// freed counts a slab's objects at most.
		assert.Less(t, objects, 1<<(8*unsafe.Sizeof(cc.freed)), "class %d: %d objects overflow freed", c, objects)
		assert.Less(t, ClassBytes(c), 1<<(8*unsafe.Sizeof(cc.size)))
	}
}
